package inspect

import (
	"errors"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

func TestReadCountersFixtures(t *testing.T) {
	tests := []struct {
		dir     string
		want    map[string]uint64 // a subset that must match
		absent  []string
		count   int    // number of counters, when non-zero
		wantErr string // substring; "ENOENT" means errors.Is(err, fs.ErrNotExist)
	}{
		{
			dir: "ok",
			want: map[string]uint64{
				"TcpExtListenOverflows": 42,
				"TcpExtListenDrops":     84,
				"TcpExtSyncookiesSent":  math.MaxUint64,
				"TcpActiveOpens":        7,
				"TcpRtoMin":             200,
				"IpDefaultTTL":          64,
				"IcmpMsgInType3":        5,
				"IcmpMsgOutType3":       6,
				"TcpExtTCPReqQFullDrop": 0,
			},
			absent: []string{"TcpMaxConn"}, // -1: a constant, not a counter
		},
		{
			dir:   "huge",
			want:  map[string]uint64{"TcpExtListenOverflows": math.MaxUint64, "TcpActiveOpens": 1 << 63, "TcpRtoAlgorithm": 1},
			count: 4, absent: []string{"TcpMaxConn"},
		},
		{dir: "missing-snmp", wantErr: "ENOENT"},
		{dir: "no-values", wantErr: `line 3: header "IpExt: InNoRoutes" has no value line`},
		{dir: "mismatched", wantErr: "TcpExt has 3 names but 2 values"},
		{dir: "bad-value", wantErr: `TcpExtListenOverflows: bad value "18446744073709551616"`},
		{dir: "prefix-mismatch", wantErr: `value line does not match header "TcpExt"`},
		{dir: "does-not-exist", wantErr: "ENOENT"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := ReadCounters(filepath.Join("testdata", "counters", tt.dir))
			switch {
			case tt.wantErr == "ENOENT":
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("err = %v, want one satisfying errors.Is(err, fs.ErrNotExist)", err)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			sub := map[string]uint64{}
			for k := range tt.want {
				if v, ok := got[k]; ok {
					sub[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, sub); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			for _, k := range tt.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %d, want it left out", k, v)
				}
			}
			if tt.count != 0 && len(got) != tt.count {
				t.Errorf("%d counters, want %d: %v", len(got), tt.count, got)
			}
			for _, name := range model.CounterNames {
				if _, ok := got[name]; tt.dir == "ok" && !ok {
					t.Errorf("key counter %s missing from a real kernel's files", name)
				}
			}
		})
	}
}

func TestParseCountersInline(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]uint64
		wantErr  string
	}{
		{name: "empty", in: "", want: map[string]uint64{}},
		{name: "blank lines between pairs", in: "\nA: x y\nA: 1 2\n\nB: z\nB: 3\n", want: map[string]uint64{"Ax": 1, "Ay": 2, "Bz": 3}},
		{name: "negative kept out", in: "Tcp: MaxConn Other\nTcp: -1 5\n", want: map[string]uint64{"TcpOther": 5}},
		{name: "lone minus", in: "Tcp: MaxConn\nTcp: -\n", wantErr: `TcpMaxConn: bad value "-"`},
		{name: "not a number", in: "Tcp: A\nTcp: 1x\n", wantErr: `TcpA: bad value "1x"`},
		{name: "no colon", in: "Tcp A\nTcp 1\n", wantErr: "value line does not match header"},
		{name: "header only", in: "Tcp: A\n", wantErr: `header "Tcp: A" has no value line`},
		{name: "more values than names", in: "Tcp: A\nTcp: 1 2\n", wantErr: "Tcp has 1 names but 2 values"},
		{name: "long value truncated in message", in: "Tcp: A\nTcp: " + strings.Repeat("9", 60) + "\n", wantErr: `"9999999999999999999999999999999999999999..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]uint64{}
			err := parseCounters(strings.NewReader(tt.in), got)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
