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

// ErrNoNofileLine means a limits file had no "Max open files" line.
var ErrNoNofileLine = errors.New(`no "Max open files" line`)

// ReadNofile reads RLIMIT_NOFILE of pid from procRoot/PID/limits (world-readable).
func ReadNofile(procRoot string, pid int) (model.Nofile, error) {
	p := filepath.Join(procRoot, strconv.Itoa(pid), "limits")
	f, err := os.Open(p)
	if err != nil {
		return model.Nofile{}, err
	}
	defer f.Close()
	n, err := ParseNofile(f)
	if err != nil {
		return model.Nofile{}, fmt.Errorf("parsing %s: %w", p, err)
	}
	return n, nil
}

// ParseNofile finds the "Max open files  SOFT  HARD  files" line of a
// /proc/PID/limits file. (prometheus/procfs reads only soft limits.)
func ParseNofile(r io.Reader) (model.Nofile, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max open files")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			return model.Nofile{}, fmt.Errorf("malformed line %q", sc.Text())
		}
		soft, err := parseLimit(fields[0])
		if err != nil {
			return model.Nofile{}, err
		}
		hard, err := parseLimit(fields[1])
		if err != nil {
			return model.Nofile{}, err
		}
		return model.Nofile{Soft: soft, Hard: hard}, nil
	}
	if err := sc.Err(); err != nil {
		return model.Nofile{}, err
	}
	return model.Nofile{}, ErrNoNofileLine
}

func parseLimit(s string) (uint64, error) {
	if s == "unlimited" {
		return model.Unlimited, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("limit %q is not a number", s)
	}
	return v, nil
}

// ReadFiles reads fs.file-nr, fs.file-max and fs.nr_open.
func ReadFiles(sys sysctl.FS) (model.Files, error) {
	nr, err := sys.ReadInts("fs.file-nr")
	if err != nil {
		return model.Files{}, err
	}
	if len(nr) != 3 {
		return model.Files{}, fmt.Errorf("reading fs.file-nr: want 3 numbers, got %d", len(nr))
	}
	files := model.Files{Allocated: nr[0], Max: nr[2]}
	if files.NrOpen, err = sys.ReadInt("fs.nr_open"); err != nil {
		return model.Files{}, err
	}
	return files, nil
}
