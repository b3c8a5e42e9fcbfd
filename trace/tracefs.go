package trace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Classic tracepoints ("tracepoint/GROUP/NAME") are attached through a perf
// event opened with the tracepoint's ID, which only tracefs tells
// (events/GROUP/NAME/id). Where tracefs is not mounted, trace mounts it in a
// mount namespace private to one OS thread, reads the IDs there and lets
// that thread exit: the host's mounts never change and nothing is left
// behind.

// tracefsRoots are where tracefs is mounted when it is.
var tracefsRoots = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// classicTracepoint splits "tracepoint/GROUP/NAME"; ok is false for other hooks.
func classicTracepoint(tp string) (group, name string, ok bool) {
	rest, ok := strings.CutPrefix(tp, "tracepoint/")
	if !ok {
		return "", "", false
	}
	group, name, ok = strings.Cut(rest, "/")
	return group, name, ok
}

// tracepointIDs returns the IDs of the classic tracepoints among hooks, by
// "GROUP/NAME".
func tracepointIDs(hooks []Hook) (map[string]uint64, error) {
	var names []string
	for _, h := range hooks {
		if g, n, ok := classicTracepoint(h.Tracepoint); ok {
			names = append(names, g+"/"+n)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	for _, root := range tracefsRoots {
		if ids, err := readTracepointIDs(root, names); err == nil {
			return ids, nil
		}
	}
	type result struct {
		ids map[string]uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, whose mount namespace is private,
		// exits with this goroutine, and the namespace and its tracefs mount
		// go with it.
		runtime.LockOSThread()
		ids, err := privateTracefsIDs(names)
		done <- result{ids, err}
	}()
	r := <-done
	return r.ids, r.err
}

// privateTracefsIDs reads the IDs from a tracefs mounted in a new mount
// namespace of the calling thread, which must be locked and never reused.
func privateTracefsIDs(names []string) (map[string]uint64, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("private mount namespace for tracefs: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("making mounts private: %w", err)
	}
	root := tracefsRoots[0]
	if err := unix.Mount("tracefs", root, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("mounting tracefs on %s in a private mount namespace: %w", root, err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	return readTracepointIDs(root, names)
}

func readTracepointIDs(root string, names []string) (map[string]uint64, error) {
	ids := map[string]uint64{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, "events", n, "id"))
		if err != nil {
			return nil, err
		}
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tracepoint %s: id %q: %w", n, b, err)
		}
		ids[n] = id
	}
	return ids, nil
}

// perfLink is a program attached to a tracepoint's perf event; closing it
// closes both, which detaches the program.
type perfLink struct {
	link *link.RawLink
	fd   int
}

func (l *perfLink) Close() error {
	err := l.link.Close()
	return errors.Join(err, unix.Close(l.fd))
}

// attachTracepointID attaches prog to the classic tracepoint with this ID,
// on every CPU and task.
func attachTracepointID(prog *ebpf.Program, id uint64) (*perfLink, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_TRACEPOINT,
		Config:      id,
		Sample_type: unix.PERF_SAMPLE_RAW,
		Sample:      1,
		Wakeup:      1,
	}
	fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("opening tracepoint perf event: %w", err)
	}
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent})
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &perfLink{link: l, fd: fd}, nil
}
