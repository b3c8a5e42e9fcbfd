package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/backlogctl/backlogctl/model"

	"golang.org/x/sys/unix"
)

// EachParallel is the one namespace fan-out (collect's each builds on it):
// it calls read for every namespace, up to parallel at a time (1: in turn;
// 0: all at once, as check's --observe windows must be, to overlap in
// time), and returns each namespace's error by index, so that one bad
// namespace does not hide the rest. With more than one at a time, every namespace
// file is opened first and read gets its Path as /proc/self/fd/N: a
// /proc/PID/ns/net path naming this process follows its leader thread
// (proc_ns_get_link), which may be inside another namespace while the reads
// run side by side; the open file keeps its namespace.
func EachParallel(nss []model.Namespace, parallel int, read func(i int, ns model.Namespace) error) []error {
	errs := make([]error, len(nss))
	if parallel == 1 {
		for i, ns := range nss {
			errs[i] = read(i, ns)
		}
		return errs
	}
	held := make([]model.Namespace, len(nss))
	for i, ns := range nss {
		f, err := openNamespace(ns.Path)
		if err != nil {
			errs[i] = err
			continue
		}
		defer f.Close()
		held[i] = ns
		held[i].Path = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	}
	if parallel <= 0 {
		parallel = len(nss)
	}
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range nss {
		if errs[i] != nil {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = read(i, held[i])
		})
	}
	wg.Wait()
	return errs
}

// openNamespace opens a namespace file; one that is gone is ErrVanished.
func openNamespace(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("%s: %w", path, ErrVanished)
	}
	return f, err
}

// SkipNote says why ns was skipped: it vanished (its last process exited or
// its /run/netns mount went away since it was listed), or the error.
func SkipNote(ns model.Namespace, err error) string {
	if errors.Is(err, ErrVanished) {
		return fmt.Sprintf("skipped %s: it vanished during the scan", ns.Label())
	}
	return fmt.Sprintf("skipped %s: %v", ns.Label(), err)
}
