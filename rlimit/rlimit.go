// Package rlimit reads and sets the descriptor limits that decide whether
// accept() can return a new connection: a process's RLIMIT_NOFILE, and the
// system-wide fs.file-max, fs.file-nr and fs.nr_open.
package rlimit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Unlimited is how an "unlimited" limit is represented (RLIM_INFINITY).
const Unlimited = model.Unlimited

// Nofile is a process's RLIMIT_NOFILE.
type Nofile struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// ErrNoNofileLine means a limits file had no "Max open files" line.
var ErrNoNofileLine = errors.New(`no "Max open files" line`)

// ReadNofile reads RLIMIT_NOFILE of pid from procRoot/PID/limits (world-readable).
func ReadNofile(procRoot string, pid int) (Nofile, error) {
	p := filepath.Join(procRoot, strconv.Itoa(pid), "limits")
	f, err := os.Open(p)
	if err != nil {
		return Nofile{}, err
	}
	defer f.Close()
	n, err := ParseNofile(f)
	if err != nil {
		return Nofile{}, fmt.Errorf("parsing %s: %w", p, err)
	}
	return n, nil
}

// ParseNofile finds the "Max open files  SOFT  HARD  files" line of a
// /proc/PID/limits file. (prometheus/procfs reads only soft limits.)
func ParseNofile(r io.Reader) (Nofile, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max open files")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			return Nofile{}, fmt.Errorf("malformed line %q", sc.Text())
		}
		soft, err := parseLimit(fields[0])
		if err != nil {
			return Nofile{}, err
		}
		hard, err := parseLimit(fields[1])
		if err != nil {
			return Nofile{}, err
		}
		return Nofile{Soft: soft, Hard: hard}, nil
	}
	if err := sc.Err(); err != nil {
		return Nofile{}, err
	}
	return Nofile{}, ErrNoNofileLine
}

func parseLimit(s string) (uint64, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("limit %q is not a number", s)
	}
	return v, nil
}

// Files is the host's descriptor accounting.
type Files = model.Files

// ReadFiles reads fs.file-nr, fs.file-max and fs.nr_open.
func ReadFiles(sys sysctl.FS) (Files, error) {
	nr, err := sys.ReadInts("fs.file-nr")
	if err != nil {
		return Files{}, err
	}
	if len(nr) != 3 {
		return Files{}, fmt.Errorf("reading fs.file-nr: want 3 numbers, got %d", len(nr))
	}
	files := Files{Allocated: nr[0], Max: nr[2]}
	if files.NrOpen, err = sys.ReadInt("fs.nr_open"); err != nil {
		return Files{}, err
	}
	return files, nil
}
