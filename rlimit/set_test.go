package rlimit

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// startSleep starts `sleep 30` with RLIMIT_NOFILE 1024:4096 and kills it when the test ends.
func startSleep(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sleep: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1024, Max: 4096}, nil); err != nil {
		t.Fatalf("setting the child's starting limits: %v", err)
	}
	return pid
}

func TestSetOnChildProcess(t *testing.T) {
	pid := startSleep(t)
	// Raising the soft limit within the hard one and lowering the hard one
	// need no capability (the test host may lack CAP_SYS_RESOURCE).
	prev, err := Set(hostfs.Roots{}, pid, model.Nofile{Soft: 2048, Hard: 3000})
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	if prev != (model.Nofile{Soft: 1024, Hard: 4096}) {
		t.Errorf("previous limits = %+v, want 1024:4096", prev)
	}
	got, err := ReadNofile("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	if got != (model.Nofile{Soft: 2048, Hard: 3000}) {
		t.Errorf("/proc/%d/limits after Set = %+v, want 2048:3000", pid, got)
	}
	if _, err := Set(hostfs.Roots{}, pid, model.Nofile{Soft: 512, Hard: 512}); err != nil {
		t.Fatalf("lowering: %v", err)
	}
	if got, _ := Get(pid); got != (model.Nofile{Soft: 512, Hard: 512}) {
		t.Errorf("prlimit read after lowering = %+v, want 512:512", got)
	}
}

// The kernel refuses a hard limit above fs.nr_open with EPERM even for root;
// nothing changes.
func TestSetAboveNrOpenKernelRefuses(t *testing.T) {
	pid := startSleep(t)
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	_, err = Set(hostfs.Roots{}, pid, model.Nofile{Soft: 1024, Hard: nrOpen + 1})
	var pe *PermissionError
	if !errors.As(err, &pe) || !errors.Is(err, unix.EPERM) {
		t.Errorf("hard above nr_open: err = %v, want PermissionError wrapping EPERM", err)
	}
	if got, _ := ReadNofile("/proc", pid); got != (model.Nofile{Soft: 1024, Hard: 4096}) {
		t.Errorf("limits after the refused call = %+v, want unchanged 1024:4096", got)
	}
}

func TestSetSoftAboveHardKernelRefuses(t *testing.T) {
	pid := startSleep(t)
	_, err := Set(hostfs.Roots{}, pid, model.Nofile{Soft: 4000, Hard: 2000})
	var sah *SoftAboveHardError
	if !errors.As(err, &sah) {
		t.Errorf("soft above hard: err = %v, want SoftAboveHardError", err)
	}
	if got, _ := ReadNofile("/proc", pid); got != (model.Nofile{Soft: 1024, Hard: 4096}) {
		t.Errorf("limits after the refused call = %+v, want unchanged", got)
	}
}

func TestSetNoProcess(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// No pid above pid_max can exist.
	_, err = Set(hostfs.Roots{}, pidMax+1, model.Nofile{Soft: 1024, Hard: 1024})
	var np *NoProcessError
	if !errors.As(err, &np) || np.PID != pidMax+1 {
		t.Errorf("err = %v, want NoProcessError for pid %d", err, pidMax+1)
	}
}

// Without CAP_SYS_RESOURCE, raising a hard limit is refused with EPERM. The
// capability is dropped on one locked OS thread only (capabilities are
// per-thread); the thread is discarded when the test goroutine ends.
func TestSetWithoutCapSysResource(t *testing.T) {
	pid := startSleep(t)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_RESOURCE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		_, err := Set(hostfs.Roots{}, pid, model.Nofile{Soft: 1024, Hard: 8192})
		errc <- err
	}()
	err := <-errc
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("raising the hard limit without CAP_SYS_RESOURCE: err = %v, want PermissionError", err)
	}
	if !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") || !strings.Contains(err.Error(), strconv.Itoa(pid)) {
		t.Errorf("message %q should name the pid and CAP_SYS_RESOURCE", err)
	}
	if got, _ := ReadNofile("/proc", pid); got != (model.Nofile{Soft: 1024, Hard: 4096}) {
		t.Errorf("limits after the refused call = %+v, want unchanged", got)
	}
}
