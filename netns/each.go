package netns

import (
	"errors"
	"fmt"
)

// Each is the one namespace fan-out: it calls read for every namespace in
// turn (read enters it, typically through Do) and returns a note for each
// one it had to skip, so that one bad namespace does not hide the rest.
// What read found is kept by read itself.
func Each(nss []Namespace, read func(Namespace) error) (notes []string) {
	for _, ns := range nss {
		if err := read(ns); err != nil {
			notes = append(notes, SkipNote(ns, err))
		}
	}
	return notes
}

// SkipNote says why ns was skipped: it vanished (its last process exited or
// its /run/netns mount went away since it was listed), or the error.
func SkipNote(ns Namespace, err error) string {
	if errors.Is(err, ErrVanished) {
		return fmt.Sprintf("skipped %s: it vanished during the scan", ns.Label())
	}
	return fmt.Sprintf("skipped %s: %v", ns.Label(), err)
}
