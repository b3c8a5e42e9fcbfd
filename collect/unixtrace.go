package collect

import (
	"path"
	"sync"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
)

// joinUnix gives m's Unix listeners what full mode saw of connect() to
// them: the blocking connects that slept, by listener as the programs
// counted them, and the EAGAIN refusals, counted by connecting process and
// address, given to the listener that address leads to (unixTarget).
// Refusals of addresses that lead to no listener in m are left out, as the
// evidence of listeners not in m is.
func (t *tracer) joinUnix(ev *trace.Evidence, m *model.MultiSnapshot, states map[int]procState) {
	for _, ns := range m.Namespaces {
		for i := range ns.Listeners {
			l := &ns.Listeners[i]
			if !l.IsUnix() || l.Traced == nil {
				continue
			}
			l.Traced.ConnectRefusals = []model.ConnectRefusal{}
			if le := ev.Listeners[trace.Key{Netns: ns.Netns.Inode, Cookie: l.Cookie}]; le != nil {
				b := le.ConnectBlocked
				l.Traced.ConnectBlocked = model.ConnectWait{Count: b.Count, SumNs: b.SumNs, MaxNs: b.MaxNs}
			}
		}
	}
	for _, r := range ev.ConnectRefusals {
		if l := t.unixTarget(r, m); l != nil {
			l.Traced.AddRefusal(r.PID, states[r.PID].comm, r.Count)
		}
	}
	for _, ns := range m.Namespaces {
		for i := range ns.Listeners {
			if l := &ns.Listeners[i]; l.IsUnix() && l.Traced != nil {
				model.SortConnectRefusals(l.Traced.ConnectRefusals)
			}
		}
	}
}

// unixTarget is the listener of m that refused r's connects, or nil. The
// kernel finds an abstract name in the connecting socket's namespace
// (unix_find_abstract), and a path by the inode of the file it leads to,
// in any namespace (unix_find_bsd): the path is resolved as the connecting
// process sees it (its root and working directory) and matched to the
// socket file each listener was bound to. Where it cannot be resolved (the
// process has exited), an absolute path is matched to the listener bound
// to it by name, when exactly one is. The listener's type is r's: the
// kernel matches it too.
func (t *tracer) unixTarget(r trace.ConnectRefusal, m *model.MultiSnapshot) *model.Listener {
	if len(r.SunPath) == 0 {
		return nil
	}
	typ := inspect.UnixTypeName(uint8(r.Type))
	if r.SunPath[0] == 0 {
		name := inspect.UnixName(r.SunPath)
		for _, ns := range m.Namespaces {
			if ns.Netns.Inode != r.Netns {
				continue
			}
			for i := range ns.Listeners {
				if l := &ns.Listeners[i]; l.IsUnix() && l.Traced != nil && l.Path == name && l.SocketType == typ {
					return l
				}
			}
		}
		return nil
	}
	name := string(r.SunPath)
	file, resolved := t.files.resolve(t.roots, r.PID, name)
	var byName *model.Listener
	named := 0
	for _, ns := range m.Namespaces {
		for i := range ns.Listeners {
			l := &ns.Listeners[i]
			if !l.IsUnix() || l.Traced == nil || l.SocketType != typ {
				continue
			}
			if f, ok := l.SocketFile(); resolved && ok && f == file {
				return l
			}
			if l.Path == name && path.IsAbs(name) {
				byName = l
				named++
			}
		}
	}
	if !resolved && named == 1 {
		return byName
	}
	return nil
}

// refusalFiles caches the socket file a path led to for a process when
// first resolved: shortly after the refusal, while the process and the
// listener it was refused by most likely still exist. A listener bound to
// the same path later (a restart) has another inode, and is not given the
// refusals of its predecessor.
type refusalFiles struct {
	mu    sync.Mutex
	files map[refusalAddress]model.UnixSocketFile
}

type refusalAddress struct {
	pid  int
	name string
}

// maxRefusalFiles bounds the cache: the programs' refusal table holds
// trace.MaxConnectRefusalKeys (process, address) pairs; past twice that,
// the cache starts afresh.
const maxRefusalFiles = 2 * trace.MaxConnectRefusalKeys

func (c *refusalFiles) resolve(roots hostfs.Roots, pid int, name string) (model.UnixSocketFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := refusalAddress{pid, name}
	if f, ok := c.files[k]; ok {
		return f, true
	}
	dev, ino, err := roots.ProcessFileID(pid, name)
	if err != nil {
		return model.UnixSocketFile{}, false
	}
	if c.files == nil || len(c.files) >= maxRefusalFiles {
		c.files = map[refusalAddress]model.UnixSocketFile{}
	}
	f := model.UnixSocketFile{Dev: dev, Inode: ino}
	c.files[k] = f
	return f, true
}
