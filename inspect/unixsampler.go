package inspect

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// unixSampler is a Sampler's Unix half. A sample asks the kernel for the
// queues only: a listener's name is learnt once, by a dump with names
// whenever a sample meets an inode it has not seen, so a steady sample
// allocates nothing (decoding a name makes a string).
type unixSampler struct {
	paths []string
	// socks are the last sample's kept listeners, in dump order.
	socks []unixQueue
	// names holds every listener seen by inode: its name and type, and
	// whether paths keeps it. Inodes of closed listeners are dropped when
	// a named dump runs.
	names map[uint32]unixIdentity
	// unavailable: the kernel has no unix_diag; samples have no Unix part.
	unavailable bool
	scratch     []unixQueue
}

type unixQueue struct {
	inode          uint32
	cookie         uint64
	queue, backlog uint32
	uid            uint32
}

type unixIdentity struct {
	name string
	typ  uint8
	keep bool
	// vfsInode and vfsDev are the socket file's, when hasVFS.
	vfsInode, vfsDev uint32
	hasVFS           bool
}

func newUnixSampler(paths []string) *unixSampler {
	return &unixSampler{paths: paths, names: map[uint32]unixIdentity{}}
}

// sample dumps the Unix listeners' queues into u.socks.
func (u *unixSampler) sample(d *Dumper) error {
	if u.unavailable {
		return nil
	}
	unknown := false
	u.scratch = u.scratch[:0]
	err := d.DumpUnix(1<<stateListen, udiagShowRQLen|udiagShowUID, func(s *UnixDiagSocket) {
		if s.State != stateListen {
			return
		}
		if _, ok := u.names[s.Inode]; !ok {
			unknown = true
		}
		u.scratch = append(u.scratch, unixQueue{s.Inode, s.Cookie, s.RQueue, s.WQueue, s.UID})
	}, func() { u.scratch = u.scratch[:0]; unknown = false })
	if errors.Is(err, unix.ENOENT) {
		u.unavailable = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("dumping unix listeners: %w", err)
	}
	if unknown {
		if err := u.learnNames(d); err != nil {
			return err
		}
	}
	u.socks = u.socks[:0]
	for _, q := range u.scratch {
		if n, ok := u.names[q.inode]; ok && n.keep {
			u.socks = append(u.socks, q)
		}
	}
	return nil
}

// learnNames replaces names with a dump's.
func (u *unixSampler) learnNames(d *Dumper) error {
	names := map[uint32]unixIdentity{}
	err := d.DumpUnix(1<<stateListen, udiagShowName|udiagShowVFS, func(s *UnixDiagSocket) {
		if s.State == stateListen {
			names[s.Inode] = unixIdentity{s.Name, s.Type, model.MatchUnixPath(u.paths, s.Name), s.VFSInode, s.VFSDev, s.HasVFS}
		}
	}, func() { clear(names) })
	if err != nil {
		return fmt.Errorf("dumping unix listeners: %w", err)
	}
	u.names = names
	return nil
}

// appendQueues appends the last sample's queues.
func (u *unixSampler) appendQueues(qs []model.QueueSample) []model.QueueSample {
	for _, q := range u.socks {
		qs = append(qs, model.QueueSample{Inode: q.inode, AcceptQueue: q.queue, AcceptQueueMax: q.backlog})
	}
	return qs
}

// listeners are the last sample's Unix listeners, sorted as UnixListeners
// sorts them. A listener that appeared after the last named dump has no
// name yet only if it closed again in between: it is left out.
func (u *unixSampler) listeners() []model.Listener {
	ls := make([]model.Listener, 0, len(u.socks))
	for _, q := range u.socks {
		n := u.names[q.inode]
		d := UnixDiagSocket{Type: n.typ, State: stateListen, Inode: q.inode, Cookie: q.cookie, Name: n.name,
			RQueue: q.queue, WQueue: q.backlog, HasRQLen: true, UID: q.uid, HasUID: true,
			VFSInode: n.vfsInode, VFSDev: n.vfsDev, HasVFS: n.hasVFS}
		ls = append(ls, unixListenerFrom(&d))
	}
	sortUnix(ls)
	return ls
}
