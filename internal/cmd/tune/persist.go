package tune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/sysctl"
)

// persistPlan is the sysctl.d file an apply will write, worked out before
// anything is changed.
type persistPlan struct {
	file     string
	content  []byte
	record   sysctl.PersistRecord
	warnings []string
}

// preparePersist reads the target file (refusing one backlogctl did not
// write), merges the plan into it and checks the boot-time search order for
// files that would override its keys.
func preparePersist(o *Options, plan advise.Plan) (*persistPlan, error) {
	// A file nothing reads at boot persists nothing, and a rollback acts
	// only on a persisted file inside a sysctl.d directory.
	if !slices.ContainsFunc(o.Search.Dirs, func(d string) bool { return filepath.Clean(d) == filepath.Dir(o.PersistFile) }) {
		return nil, cmdutil.UsageErrorf("invalid --persist %s: not in a sysctl.d directory (%s), so nothing would read it at boot", o.PersistFile, strings.Join(o.Search.Dirs, ", "))
	}
	if !strings.HasSuffix(o.PersistFile, ".conf") || strings.HasPrefix(filepath.Base(o.PersistFile), ".") {
		return nil, cmdutil.UsageErrorf("invalid --persist %s: systemd-sysctl and sysctl --system read only *.conf files", o.PersistFile)
	}
	if err := writableDir(filepath.Dir(o.PersistFile)); err != nil {
		return nil, cmdutil.EnvError(fmt.Errorf("cannot persist to %s: %w; nothing was changed", o.PersistFile, err))
	}
	old, raw, err := sysctl.ReadPersist(o.PersistFile)
	if errors.Is(err, sysctl.ErrNotOurs) {
		return nil, cmdutil.UsageErrorf("invalid --persist: %v", err)
	}
	if err != nil {
		return nil, cmdutil.EnvError(err)
	}
	add := make([]sysctl.PersistEntry, 0, len(plan.Changes))
	for _, c := range plan.Changes {
		add = append(add, sysctl.PersistEntry{Key: c.Key, Value: strconv.FormatInt(c.Target, 10), Reason: c.Reason})
	}
	entries := sysctl.MergePersist(old, add)
	keys := make([]string, 0, len(entries))
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	check, err := o.Search.Check(o.PersistFile, keys)
	if err != nil {
		return nil, cmdutil.EnvError(fmt.Errorf("checking boot-time overrides: %w", err))
	}
	content := sysctl.RenderPersist(entries)
	p := &persistPlan{
		file:     o.PersistFile,
		content:  content,
		record:   sysctl.PersistRecord{File: o.PersistFile, Written: sysctl.Digest(content)},
		warnings: append(check.Warnings(o.PersistFile), bootNetnsWarning(o, plan)...),
	}
	if raw != nil {
		prev := string(raw)
		p.record.Previous = &prev
	}
	return p, nil
}

// bootNetnsWarning: sysctl.d files are applied at boot in init's network
// namespace, so per-netns values changed from inside a container's namespace
// persist for the host instead.
// When either namespace cannot be read it says it cannot tell.
func bootNetnsWarning(o *Options, plan advise.Plan) []string {
	if !slices.ContainsFunc(plan.Changes, func(c advise.Change) bool { return c.Scope == sysctl.ScopeNetns }) {
		return nil
	}
	self, err := sysctl.NetnsInode(o.Roots.Proc)
	if err == nil {
		var boot uint64
		if boot, err = sysctl.NetnsInodeOf(o.Roots.Proc, "1"); err == nil {
			if self == boot {
				return nil
			}
			return []string{fmt.Sprintf("this run changes netns:[%d], but %s is applied at boot in init's netns:[%d]: its per-netns keys will change that namespace, not this one", self, o.PersistFile, boot)}
		}
	}
	// Init's link unreadable (hidepid, another pid namespace): the tunables
	// still tell, where net.core is visible at all.
	sys := sysctl.NewFS(o.Roots.Sys)
	if _, serr := sys.ReadString("net.core.somaxconn"); serr == nil {
		if sys.InitNetns() {
			return nil
		}
		return []string{fmt.Sprintf("this run changes a network namespace other than the host's initial one (net.core.netdev_max_backlog, which only that one has, is not visible here), but %s is applied at boot in the initial one: its per-netns keys will change that namespace, not this one", o.PersistFile)}
	}
	return []string{fmt.Sprintf("cannot tell whether this is the host's network namespace (%v): %s is applied at boot in init's namespace, so its per-netns keys change that one, whichever it is", err, o.PersistFile)}
}

// writableDir checks, before anything is changed, that the persisted file can
// be created in dir: it exists, is a directory, and access(2) allows writing
// (which also reports a read-only mount as EROFS).
func writableDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}
