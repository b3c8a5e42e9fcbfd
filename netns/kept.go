package netns

import (
	"cmp"
	"fmt"
)

// Kept is the fan-out over namespaces entered once and read every interval
// (watch): Keep makes one value inside each namespace, such as a sock_diag
// socket, which keeps the namespace it was made in, and Round visits the
// kept values every interval on the calling thread, without entering any
// namespace itself. A namespace whose value fails is dropped with a note,
// as Each skips one.
type Kept[T any] struct {
	ns   []*Namespace // nil: the namespace we run in
	vals []T
}

// Keep calls open once for each namespace in nss, in turn (open enters it,
// typically through Do), and keeps what it returns; with nss nil, open is
// called once with nil, for the namespace we run in. A namespace open fails
// for is left out with a note, as in Each; first is the first such failure.
func Keep[T any](nss []Namespace, open func(*Namespace) (T, error)) (k *Kept[T], notes []string, first error) {
	k = &Kept[T]{}
	if nss == nil {
		v, err := open(nil)
		if err != nil {
			return k, nil, err
		}
		k.ns, k.vals = []*Namespace{nil}, []T{v}
		return k, nil, nil
	}
	notes = Each(nss, func(ns Namespace) error {
		v, err := open(&ns)
		if err != nil {
			first = cmp.Or(first, err)
			return err
		}
		k.ns, k.vals = append(k.ns, &ns), append(k.vals, v)
		return nil
	})
	return k, notes, first
}

// Values are the kept values, in the order of their namespaces.
func (k *Kept[T]) Values() []T { return k.vals }

// Round visits every kept value in turn, on the calling thread. When visit
// fails, fail decides: an error it returns ends the round with that error
// (the rest are kept, unvisited); nil drops the value with a note saying why
// (SkipNote). Dropped values are returned for the caller to close.
func (k *Kept[T]) Round(visit func(T) error, fail func(T, error) error) (dropped []T, notes []string, err error) {
	kept := 0 // compacted in place: no allocation per round
	for i, v := range k.vals {
		if err == nil {
			if verr := visit(v); verr != nil {
				if err = fail(v, verr); err == nil {
					dropped, notes = append(dropped, v), append(notes, k.note(i, verr))
					continue
				}
			}
		}
		k.ns[kept], k.vals[kept] = k.ns[i], v
		kept++
	}
	clear(k.ns[kept:])
	clear(k.vals[kept:])
	k.ns, k.vals = k.ns[:kept], k.vals[:kept]
	return dropped, notes, err
}

// note says why the i-th namespace was dropped.
func (k *Kept[T]) note(i int, err error) string {
	if k.ns[i] == nil {
		return fmt.Sprintf("skipped this network namespace: %v", err)
	}
	return SkipNote(*k.ns[i], err)
}
