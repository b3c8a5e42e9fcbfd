package rlimit

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// startSleep starts `sleep 30` with RLIMIT_NOFILE soft:hard, passing extra
// as its descriptors 3, 4, ...; the child is killed when the test ends.
func startSleep(t *testing.T, soft, hard uint64, extra ...*os.File) *exec.Cmd {
	t.Helper()
	child := exec.Command("sleep", "30")
	child.ExtraFiles = extra
	if err := child.Start(); err != nil {
		t.Fatalf("starting sleep: %v", err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	if err := unix.Prlimit(child.Process.Pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: soft, Max: hard}, nil); err != nil {
		t.Fatalf("setting the child's starting limits: %v", err)
	}
	return child
}
