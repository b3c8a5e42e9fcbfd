package inspect

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Not prometheus/procfs's Proc.Netstat/Snmp: they fill fixed structs of
// *float64 with the counters procfs knows, where the JSON contract is every
// counter the kernel prints, exactly, under nstat's name; and they need a
// pid, where a namespace is read through /proc/thread-self.
// ReadCounters reads /proc/net/netstat and /proc/net/snmp below procRoot and
// returns every counter under its nstat name (TcpExtListenOverflows,
// TcpActiveOpens, ...). Negative values (Tcp MaxConn is -1, a constant) are
// left out. A missing file is an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadCounters(procRoot string) (map[string]uint64, error) {
	out := make(map[string]uint64, 256)
	for _, name := range []string{"netstat", "snmp"} {
		p := filepath.Join(procRoot, "net", name)
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading counters: %w", err)
		}
		err = parseCounters(f, out)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
	}
	return out, nil
}

// ReadTCPInSegs reads Tcp InSegs, every TCP segment the namespace has
// received (tcp_v4_rcv and tcp_v6_rcv count each one, bad ones too, before
// looking up its socket), from /proc/net/snmp below procRoot.
func ReadTCPInSegs(procRoot string) (uint64, error) {
	f, err := os.Open(filepath.Join(procRoot, "net", "snmp"))
	if err != nil {
		return 0, fmt.Errorf("reading counters: %w", err)
	}
	defer f.Close()
	return TCPInSegs(f)
}

// TCPInSegs reads Tcp InSegs from f, a /proc/net/snmp opened earlier (it
// keeps the namespace it was opened in), from its start.
func TCPInSegs(f *os.File) (uint64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	out := make(map[string]uint64, 128)
	if err := parseCounters(f, out); err != nil {
		return 0, fmt.Errorf("parsing %s: %w", f.Name(), err)
	}
	n, ok := out["TcpInSegs"]
	if !ok {
		return 0, fmt.Errorf("%s has no Tcp InSegs", f.Name())
	}
	return n, nil
}

// parseCounters reads the /proc/net/{netstat,snmp} format: pairs of lines,
// "Prefix: Name1 Name2 ..." then "Prefix: v1 v2 ...".
func parseCounters(r io.Reader, out map[string]uint64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		header := sc.Text()
		if strings.TrimSpace(header) == "" {
			continue
		}
		if !sc.Scan() {
			return fmt.Errorf("line %d: header %q has no value line", line, truncate(header))
		}
		line++
		values := sc.Text()
		hp, hnames, ok1 := strings.Cut(header, ":")
		vp, vvals, ok2 := strings.Cut(values, ":")
		if !ok1 || !ok2 || hp != vp {
			return fmt.Errorf("line %d: value line does not match header %q", line, truncate(hp))
		}
		names := strings.Fields(hnames)
		vals := strings.Fields(vvals)
		if len(names) != len(vals) {
			return fmt.Errorf("line %d: %s has %d names but %d values", line, hp, len(names), len(vals))
		}
		for i, n := range names {
			if strings.HasPrefix(vals[i], "-") {
				if _, err := strconv.ParseInt(vals[i], 10, 64); err != nil {
					return fmt.Errorf("line %d: %s%s: bad value %q", line, hp, n, truncate(vals[i]))
				}
				continue
			}
			v, err := strconv.ParseUint(vals[i], 10, 64)
			if err != nil {
				return fmt.Errorf("line %d: %s%s: bad value %q", line, hp, n, truncate(vals[i]))
			}
			out[hp+n] = v
		}
	}
	return sc.Err()
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
