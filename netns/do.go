package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrVanished reports a namespace that no longer exists: its last process
// exited or its /run/netns mount was removed between listing and entering.
var ErrVanished = errors.New("network namespace vanished")

// Do runs fn on a locked OS thread inside the network namespace at path (a
// /proc/PID/ns/net or /run/netns/NAME file). While fn runs, sock_diag
// sockets it opens, /proc/sys/net and /proc/thread-self/net all belong to
// that namespace. fn must not start goroutines that expect to share it.
//
// The thread is switched back before it is unlocked; if switching back fails,
// the thread stays locked and its goroutine exits, so the Go runtime
// terminates the thread instead of reusing it in a foreign namespace.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// setns(2) changes only the calling thread: pin this goroutine to it.
		runtime.LockOSThread()
		restored, err := do(path, fn)
		if restored {
			runtime.UnlockOSThread()
		}
		// When not restored, returning with the thread locked makes the
		// runtime destroy the thread (runtime.LockOSThread docs).
		errc <- err
	}()
	return <-errc
}

// do is Do's body on the locked thread. restored says whether the thread is
// back in its original namespace and safe to hand back to the scheduler.
func do(path string, fn func() error) (bool, error) {
	orig, err := vnetns.Get() // opens /proc/thread-self/ns/net
	if err != nil {
		return true, fmt.Errorf("opening the current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := vnetns.GetFromPath(path)
	if err != nil {
		return true, openError(path, err)
	}
	defer target.Close()
	if err := vnetns.Set(target); err != nil {
		// setns failed: the thread is still where it started.
		if errors.Is(err, unix.EPERM) {
			return true, fmt.Errorf("entering network namespace %s: %w: it needs root (CAP_SYS_ADMIN); run backlogctl as root", path, err)
		}
		return true, fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	fnErr := fn()
	if err := vnetns.Set(orig); err != nil {
		return false, fmt.Errorf("returning from network namespace %s: %w (thread discarded)", path, err)
	}
	return true, fnErr
}

// openError maps a failure to open a namespace file: a path that is gone is
// ErrVanished, anything else keeps its cause.
func openError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%s: %w", path, ErrVanished)
	}
	return fmt.Errorf("opening network namespace %s: %w", path, err)
}
