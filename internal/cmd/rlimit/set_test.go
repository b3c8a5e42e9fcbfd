package rlimit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
)

// setCall records what a fake Set was asked to do.
type setCall struct {
	pid  int
	want model.Nofile
}

// setOpts returns options on the fixture tree whose Set only records calls
// and returns err (the fixture's previous limits 1024:4096 on success).
func setOpts(t *testing.T, err error) (*SetOptions, *[]setCall, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	io, _, out, errOut := iostreams.Test()
	calls := &[]setCall{}
	o := &SetOptions{IO: io, Roots: hostfs.Roots{Proc: "testdata/proc", Sys: "testdata/sys"}, Output: "table",
		SystemdDir: t.TempDir(),
		Set: func(_ hostfs.Roots, pid int, want model.Nofile) (model.Nofile, error) {
			*calls = append(*calls, setCall{pid, want})
			return model.Nofile{Soft: 1024, Hard: 4096}, err
		}}
	return o, calls, out, errOut
}

func run(o *SetOptions) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return setRun(o)
}

func TestSetPIDKeepsHardLimit(t *testing.T) {
	o, calls, out, errOut := setOpts(t, nil)
	o.PID, o.PIDGiven, o.Nofile = nginxPID, true, "2048"
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	if want := []setCall{{nginxPID, model.Nofile{Soft: 2048, Hard: 4096}}}; !slices.Equal(*calls, want) {
		t.Errorf("Set calls = %+v, want %+v", *calls, want)
	}
	if got, want := out.String(), "pid 4194305: RLIMIT_NOFILE 1024:4096 -> 2048:4096 (verified in /proc/4194305/limits)\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	// The fixture runs in nginx.service: say how to keep the change.
	if !strings.Contains(errOut.String(), "backlogctl rlimit set --systemd-unit nginx.service --nofile 2048:4096 --write") {
		t.Errorf("stderr = %q, want the drop-in hint", errOut)
	}
}

func TestSetSystemdUnitPrintsDropIn(t *testing.T) {
	o, calls, out, errOut := setOpts(t, nil)
	o.Unit, o.Nofile = "nginx", "65536"
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	if len(*calls) != 0 {
		t.Errorf("printing a drop-in called prlimit: %+v", *calls)
	}
	if got, want := out.String(), "[Service]\nLimitNOFILE=65536:65536\n"; got != want {
		t.Errorf("stdout = %q, want only the drop-in %q", got, want)
	}
	wantPath := filepath.Join(o.SystemdDir, "nginx.service.d", rlimit.DropInName)
	if !strings.Contains(errOut.String(), wantPath) || !strings.Contains(errOut.String(), "systemctl daemon-reload && systemctl restart nginx.service") {
		t.Errorf("stderr = %q, want the path, daemon-reload and restart", errOut)
	}
	if entries, _ := os.ReadDir(o.SystemdDir); len(entries) != 0 {
		t.Errorf("without --write nothing may be written, found %v", entries)
	}
}

func TestSetSystemdUnitWrite(t *testing.T) {
	o, _, out, errOut := setOpts(t, nil)
	o.Unit, o.Nofile, o.Write = "web.service", "4096:8192", true
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(o.SystemdDir, "web.service.d", rlimit.DropInName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "[Service]\nLimitNOFILE=4096:8192\n"; got != want {
		t.Errorf("drop-in = %q, want %q", got, want)
	}
	if out.String() != "wrote "+p+"\n" {
		t.Errorf("stdout = %q", out)
	}
	if !strings.Contains(errOut.String(), "systemctl daemon-reload && systemctl restart web.service") {
		t.Errorf("stderr = %q, want daemon-reload and restart", errOut)
	}
}

func TestSetPermissionDenied(t *testing.T) {
	perm := &rlimit.PermissionError{PID: nginxPID, Err: unix.EPERM}
	o, _, out, _ := setOpts(t, perm)
	o.PID, o.PIDGiven, o.Nofile, o.Unit, o.Write = nginxPID, true, "2048:8192", "nginx", true
	err := run(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") {
		t.Errorf("err = %v (exit %d), want exit 3 naming CAP_SYS_RESOURCE", err, cmdutil.ExitCode(err))
	}
	if entries, _ := os.ReadDir(o.SystemdDir); len(entries) != 0 {
		t.Errorf("refused prlimit must not leave a drop-in: found %v", entries)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out)
	}
}

// A drop-in that cannot be written puts the process's previous limits back.
func TestSetWriteFailureRestoresProcess(t *testing.T) {
	o, calls, _, _ := setOpts(t, nil)
	o.PID, o.PIDGiven, o.Nofile, o.Unit, o.Write = nginxPID, true, "2048", "nginx", true
	blocker := filepath.Join(o.SystemdDir, "nginx.service.d")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil { // a file where the directory goes
		t.Fatal(err)
	}
	err := run(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "previous limits were restored") {
		t.Errorf("err = %v (exit %d), want exit 3 saying the limits were restored", err, cmdutil.ExitCode(err))
	}
	want := []setCall{{nginxPID, model.Nofile{Soft: 2048, Hard: 4096}}, {nginxPID, model.Nofile{Soft: 1024, Hard: 4096}}}
	if !slices.Equal(*calls, want) {
		t.Errorf("Set calls = %+v, want set then restore %+v", *calls, want)
	}
}

// The real thing: prlimit on a child `sleep`, read back from /proc.
func TestSetRealChildProcess(t *testing.T) {
	child := startSleep(t, 1024, 4096)
	pid := child.Process.Pid
	io, _, out, _ := iostreams.Test()
	o := &SetOptions{IO: io, Roots: hostfs.Host(), Output: "json", Set: rlimit.Set,
		PID: pid, PIDGiven: true, Nofile: "3000:3500", SystemdDir: t.TempDir()}
	// The hard limit goes down from 4096: refused without --allow-lower.
	if err := run(o); cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "hard limit from 4096 to 3500 without --allow-lower") {
		t.Errorf("lowering the hard limit: err = %v (exit %d), want exit 2 naming it", err, cmdutil.ExitCode(err))
	}
	if got, _ := rlimit.ReadNofile("/proc", pid); got != (model.Nofile{Soft: 1024, Hard: 4096}) {
		t.Fatalf("after a refused lowering: %+v, want 1024:4096", got)
	}
	o.AllowLower = true
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	got, err := rlimit.ReadNofile("/proc", pid)
	if err != nil || got != (model.Nofile{Soft: 3000, Hard: 3500}) {
		t.Errorf("/proc/%d/limits = %+v, %v; want 3000:3500", pid, got, err)
	}
	if !strings.Contains(out.String(), `"previous": {`) || !strings.Contains(out.String(), `"soft": 3000`) {
		t.Errorf("JSON result = %s", out)
	}
	// Above the hard limit: refused before prlimit, exit 2, nothing changed.
	o.Nofile = "5000"
	if err := run(o); cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "soft limit 5000 is above the hard limit 3500") {
		t.Errorf("soft above current hard: err = %v (exit %d)", err, cmdutil.ExitCode(err))
	}
	if got, _ := rlimit.ReadNofile("/proc", pid); got != (model.Nofile{Soft: 3000, Hard: 3500}) {
		t.Errorf("after a refused set: %+v, want unchanged", got)
	}
	// Once the process is gone: exit 3, "no process with pid N".
	child.Process.Kill()
	child.Wait()
	o.Nofile = "100"
	err = run(o)
	var np *rlimit.NoProcessError
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !errors.As(err, &np) {
		t.Errorf("exited process: err = %v (exit %d), want exit 3 no process", err, cmdutil.ExitCode(err))
	}
}

// Lowering a limit needs --allow-lower; lowering the soft limit below the
// descriptors the process has open is refused even with it.
func TestSetLoweringPolicy(t *testing.T) {
	tests := []struct {
		name       string
		nofile     string
		allowLower bool
		code       int
		msg        string
	}{
		{"raise", "2048", false, 0, ""},
		{"lower soft", "512", false, 2, "refusing to lower pid 4194305's soft limit from 1024 to 512 without --allow-lower"},
		{"lower hard", "1024:2048", false, 2, "pid 4194305's hard limit from 4096 to 2048"},
		{"lower with --allow-lower", "512:2048", true, 0, ""},
		// The fixture has 4 descriptors open.
		{"below open descriptors", "3", true, 2, "it has 4 descriptors open, more than the soft limit 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, calls, _, _ := setOpts(t, nil)
			o.PID, o.PIDGiven, o.Nofile, o.AllowLower = nginxPID, true, tt.nofile, tt.allowLower
			err := run(o)
			if cmdutil.ExitCode(err) != tt.code || (tt.msg != "" && !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("err = %v (exit %d), want exit %d saying %q", err, cmdutil.ExitCode(err), tt.code, tt.msg)
			}
			if tt.code != 0 && len(*calls) != 0 {
				t.Errorf("a refused set called prlimit: %+v", *calls)
			}
		})
	}
}

// --pid and --systemd-unit together: the process is changed now and the
// drop-in keeps the same limits.
func TestSetPIDAndUnitDoBoth(t *testing.T) {
	o, calls, out, _ := setOpts(t, nil)
	o.PID, o.PIDGiven, o.Nofile, o.Unit, o.Write = nginxPID, true, "2048", "nginx", true
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	if want := []setCall{{nginxPID, model.Nofile{Soft: 2048, Hard: 4096}}}; !slices.Equal(*calls, want) {
		t.Errorf("Set calls = %+v, want %+v", *calls, want)
	}
	b, err := os.ReadFile(filepath.Join(o.SystemdDir, "nginx.service.d", rlimit.DropInName))
	if err != nil || string(b) != "[Service]\nLimitNOFILE=2048:4096\n" {
		t.Errorf("drop-in = %q, %v; want the process's new limits 2048:4096", b, err)
	}
	if !strings.Contains(out.String(), "1024:4096 -> 2048:4096") || !strings.Contains(out.String(), "wrote ") {
		t.Errorf("stdout = %q, want both the process change and the drop-in", out)
	}
}
