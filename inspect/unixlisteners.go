package inspect

import (
	"cmp"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// unixListenerShow is what a Unix listener dump asks the kernel for: the
// name, the socket file's inode and device, the queue and its backlog, the
// owner's uid, and who is waiting in the queue (a u32 per waiting
// connection).
const unixListenerShow = udiagShowName | udiagShowVFS | udiagShowRQLen | udiagShowUID | udiagShowIcons

// unixListenerSet accumulates a dump's Unix listeners.
type unixListenerSet struct {
	listeners []model.Listener
	// paths, when not empty, keeps only listeners whose name matches one
	// (a path.Match pattern).
	paths []string
}

func (s *unixListenerSet) reset() { s.listeners = s.listeners[:0] }

func (s *unixListenerSet) add(d *UnixDiagSocket) {
	if d.State != stateListen || !model.MatchUnixPath(s.paths, d.Name) {
		return
	}
	s.listeners = append(s.listeners, unixListenerFrom(d))
}

// unixListenerFrom is a listening Unix socket from the dump as a model.Listener.
// It has no SYN queue and the kernel keeps no drop count for it.
func unixListenerFrom(d *UnixDiagSocket) model.Listener {
	l := model.Listener{
		Family:         model.FamilyUnix,
		Path:           d.Name,
		SocketType:     UnixTypeName(d.Type),
		AcceptQueue:    d.RQueue,
		AcceptQueueMax: d.WQueue,
		Fill:           model.Fill(d.RQueue, d.WQueue),
		Inode:          d.Inode,
		Cookie:         d.Cookie,
		Processes:      []model.Process{},
	}
	if d.HasUID {
		l.UID = d.UID
	}
	if len(d.Pending) > 0 {
		l.QueueHead = d.Pending[0]
	}
	if d.HasVFS {
		// udiag_vfs_dev is the kernel's dev_t (MAJOR << 20 | MINOR);
		// stat(2)'s st_dev encodes it as unix.Mkdev does (new_encode_dev),
		// in 32 bits.
		l.SocketFileInode, l.SocketFileDev = d.VFSInode, uint32(unix.Mkdev(d.VFSDev>>20, d.VFSDev&(1<<20-1)))
	}
	return l
}

// finish sorts the listeners by path, type and inode.
func (s *unixListenerSet) finish() []model.Listener {
	ls := s.listeners
	if ls == nil {
		ls = []model.Listener{}
	}
	sortUnix(ls)
	return ls
}

// sortUnix sorts Unix listeners by path, type and inode.
func sortUnix(ls []model.Listener) {
	slices.SortFunc(ls, func(a, b model.Listener) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.SocketType, b.SocketType), cmp.Compare(a.Inode, b.Inode))
	})
}

// UnixListeners dumps the Unix stream and seqpacket listeners with d (nil:
// a dumper opened for the call, in the calling thread's network
// namespace), keeping only those whose path (or "@abstract" name) matches
// one of paths (every one when paths is empty). Abstract names are per
// network namespace; a path belongs to the namespace of the process that
// bound it, not to the filesystem.
func UnixListeners(d *Dumper, paths []string) ([]model.Listener, error) {
	if d == nil {
		var err error
		if d, err = NewDumper(); err != nil {
			return nil, err
		}
		defer d.Close()
	}
	set := &unixListenerSet{paths: paths}
	if err := d.DumpUnix(1<<stateListen, unixListenerShow, set.add, set.reset); err != nil {
		return nil, fmt.Errorf("dumping unix listeners: %w", err)
	}
	return set.finish(), nil
}
