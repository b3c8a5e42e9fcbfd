package collect

import (
	"cmp"
	"fmt"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// kept is the fan-out over namespaces entered once and read every interval
// (watch): keep makes one value inside each namespace, such as a sock_diag
// socket, which keeps the namespace it was made in, and round visits the
// kept values every interval on the calling thread, without entering any
// namespace itself. A namespace whose value fails is dropped with a note.
type kept[T any] struct {
	ns   []*model.Namespace // nil: the namespace we run in
	vals []T
}

// keep calls open once inside each namespace in nss, in turn (each), and
// keeps what it returns; with nss nil, open is called once with nil, here. A
// namespace open fails for is left out with a note; first is the first
// such failure.
func keep[T any](nss []model.Namespace, open func(*model.Namespace) (T, error)) (k *kept[T], notes []string, first error) {
	k = &kept[T]{}
	if nss == nil {
		v, err := open(nil)
		if err != nil {
			return k, nil, err
		}
		k.ns, k.vals = []*model.Namespace{nil}, []T{v}
		return k, nil, nil
	}
	vals := make([]T, len(nss))
	errs := each(nss, 1, func(i int, _ model.Namespace) error {
		var err error
		vals[i], err = open(&nss[i])
		return err
	})
	for i, err := range errs {
		if err != nil {
			first = cmp.Or(first, err)
			notes = append(notes, netns.SkipNote(nss[i], err))
			continue
		}
		k.ns, k.vals = append(k.ns, &nss[i]), append(k.vals, vals[i])
	}
	return k, notes, first
}

// values are the kept values, in the order of their namespaces.
func (k *kept[T]) values() []T { return k.vals }

// round visits every kept value in turn, on the calling thread. When visit
// fails, fail decides: an error it returns ends the round with that error
// (the rest are kept, unvisited); nil drops the value with a note saying why
// (SkipNote). Dropped values are returned for the caller to close.
func (k *kept[T]) round(visit func(T) error, fail func(T, error) error) (dropped []T, notes []string, err error) {
	n := 0 // compacted in place: no allocation per round
	for i, v := range k.vals {
		if err == nil {
			if verr := visit(v); verr != nil {
				if err = fail(v, verr); err == nil {
					dropped, notes = append(dropped, v), append(notes, k.note(i, verr))
					continue
				}
			}
		}
		k.ns[n], k.vals[n] = k.ns[i], v
		n++
	}
	clear(k.ns[n:])
	clear(k.vals[n:])
	k.ns, k.vals = k.ns[:n], k.vals[:n]
	return dropped, notes, err
}

// note says why the i-th namespace was dropped.
func (k *kept[T]) note(i int, err error) string {
	if k.ns[i] == nil {
		return fmt.Sprintf("skipped this network namespace: %v", err)
	}
	return netns.SkipNote(*k.ns[i], err)
}
