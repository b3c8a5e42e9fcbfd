package rlimit_test

import (
	"os"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmd/root"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Every bad input a new user might type: one line naming what was wrong, exit
// 2 or 3, nothing written. The fixture pids are above PID_MAX_LIMIT, so even a
// mistake in this table could not reach a real process.
func TestBadInput(t *testing.T) {
	tests := []struct {
		args     string
		wantCode int
		wantMsg  string
	}{
		{"rlimit --pid abc", 2, `invalid --pid "abc": want a whole number`},
		{"rlimit --pid -5", 2, "invalid --pid -5: want a positive process id"},
		{"rlimit --pid 0", 2, "invalid --pid 0: want a positive process id"},
		{"rlimit extra", 2, `takes no arguments, got "extra"`},
		{"rlimit -o xml", 2, `invalid --output "xml"`},
		{"rlimit --pid 4194399", 3, "no process with pid 4194399"},
		{"rlimit set --nofile 1024", 2, "give --pid PID to change a running process, or --systemd-unit UNIT"},
		{"rlimit set --pid 4194305", 2, "--nofile SOFT[:HARD] is required"},
		{"rlimit set --pid 4194305 --nofile abc", 2, `invalid --nofile "abc": SOFT "abc" is not a non-negative integer`},
		{"rlimit set --pid 4194305 --nofile -5", 2, `invalid --nofile "-5": SOFT "-5" is not a non-negative integer`},
		{"rlimit set --pid 4194305 --nofile 10:-1", 2, `invalid --nofile "10:-1": HARD "-1" is not a non-negative integer`},
		{"rlimit set --pid 4194305 --nofile 0", 2, "SOFT is 0"},
		{"rlimit set --pid 4194305 --nofile 2000:1000", 2, "soft limit 2000 is above the hard limit 1000"},
		{"rlimit set --pid 4194305 --nofile 8192", 2, "soft limit 8192 is above the hard limit 4096"},
		{"rlimit set --pid 4194305 --nofile 1024:2000000", 2, "hard limit 2000000 is above fs.nr_open 1048576"},
		{"rlimit set --systemd-unit web --nofile 1024:2000000", 2, "hard limit 2000000 is above fs.nr_open 1048576"},
		{"rlimit set --pid abc --nofile 10", 2, `invalid --pid "abc": want a whole number`},
		{"rlimit set --pid -1 --nofile 10", 2, "invalid --pid -1: want a positive process id"},
		{"rlimit set --pid 4194399 --nofile 10", 3, "no process with pid 4194399"},
		{"rlimit set --systemd-unit ../../etc/x --nofile 10 --write", 2, `contains '/'`},
		{"rlimit set --systemd-unit a/b.service --nofile 10 --write", 2, `contains '/'`},
		{"rlimit set --systemd-unit x..y --nofile 10 --write", 2, `contains '..'`},
		{"rlimit set --systemd-unit .. --nofile 10 --write", 2, `contains '..'`},
		{"rlimit set --systemd-unit nginx.socket --nofile 10 --write", 2, "is not a service"},
		{"rlimit set --write --nofile 10 --pid 4194305", 2, "--write needs --systemd-unit UNIT"},
		{"rlimit set --pid 4194305 --nofile 10 stray", 2, `takes no arguments, got "stray"`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			dir := t.TempDir()
			io, _, out, _ := iostreams.Test()
			f := &cmdutil.Factory{IOStreams: io, Roots: hostfs.Roots{Proc: "testdata/proc", Sys: "testdata/sys"}}
			cmd := root.NewCmdRoot(f)
			args := strings.Fields(tt.args)
			if args[1] == "set" { // never the real /etc/systemd/system
				args = append(args, "--systemd-dir="+dir)
			}
			cmd.SetArgs(args)
			err := cmd.Execute()
			if code := cmdutil.ExitCode(err); code != tt.wantCode {
				t.Errorf("exit %d, want %d (err: %v)", code, tt.wantCode, err)
			}
			if err == nil {
				return
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.wantMsg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing on failure", out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("bad input wrote %v", entries)
			}
		})
	}
}
