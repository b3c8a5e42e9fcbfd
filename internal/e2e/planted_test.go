package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// nobody is the unprivileged user the planted records come from.
const nobody = 65534

// plantAs writes data to path as uid (a real unprivileged writer: a child
// process with that uid), as an attacker who owns the directory would.
func plantAs(t *testing.T, uid uint32, path string, data []byte) {
	t.Helper()
	c := exec.Command("tee", path)
	c.Stdin = strings.NewReader(string(data))
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("writing %s as uid %d: %v\n%s", path, uid, err, out)
	}
}

// record is a last-apply.json as an attacker would write it.
func record(t *testing.T, steps []sysctl.Step, persist *sysctl.PersistRecord) []byte {
	t.Helper()
	b, err := json.Marshal(sysctl.State{Version: 1, Time: time.Now().UTC(), Status: sysctl.StatusApplied,
		SysRoot: "/proc/sys", Command: "tune --apply", Steps: steps, Persist: persist})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A record planted by an unprivileged user, then `tune --rollback` run by
// root, is refused in one line (exit 3) before anything is acted on, and
// nothing changes: not the root-owned file the record names for attacker
// text, not the file "previous": null would delete, not a key outside the
// registry. The state directory is refused when another user owns it, when
// group or others may write it or the record in it, and when it is a
// symlink; in a directory only root may write, each field of the record is
// still checked before anything is done.
func TestRollbackRefusesPlantedState(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	root := t.TempDir()
	h := newTuneHost(t, root)
	victim := filepath.Join(root, "victim.conf")
	if err := os.WriteFile(victim, []byte("root's own\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inEtc := filepath.Join(h.etcD, "50-root.conf")
	if err := os.WriteFile(inEtc, []byte("net.core.somaxconn = 5000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A per-netns key outside the registry: a rollback that wrote it would
	// change only this test's namespace.
	const outside = "net.ipv4.tcp_fin_timeout"
	finBefore := readKey(t, outside)
	somaxBefore := readKey(t, "net.core.somaxconn")
	attackerText := "attacker text\n"
	attacks := map[string][]byte{
		"attacker text into a root-owned file": record(t, nil, &sysctl.PersistRecord{File: victim, Previous: &attackerText}),
		"previous null deletes a file":         record(t, nil, &sysctl.PersistRecord{File: victim}),
		"a key outside the registry":           record(t, []sysctl.Step{{Key: outside, Previous: "7", Value: "60"}}, nil),
	}
	unchanged := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(victim); err != nil || string(b) != "root's own\n" {
			t.Errorf("%s: %s is now %q (%v), want it untouched", what, victim, b, err)
		}
		if b, err := os.ReadFile(inEtc); err != nil || string(b) != "net.core.somaxconn = 5000\n" {
			t.Errorf("%s: %s is now %q (%v), want it untouched", what, inEtc, b, err)
		}
		if got := readKey(t, outside); got != finBefore {
			t.Errorf("%s: %s = %d, want %d", what, outside, got, finBefore)
		}
		if got := readKey(t, "net.core.somaxconn"); got != somaxBefore {
			t.Errorf("%s: somaxconn = %d, want %d", what, got, somaxBefore)
		}
	}
	refused := func(what string, r result, code int, want string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line saying %q", what, r.code, r.stderr, code, want)
		}
		unchanged(what)
	}
	rollback := func(dir string) result { t.Helper(); return h.runIn(t, dir, "--rollback", "--yes") }

	// The attacker's own directory (they may write anywhere they own), in a
	// directory they can reach.
	reachable := t.TempDir()
	for _, d := range []string{filepath.Dir(reachable), reachable} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for what, rec := range attacks {
		evil, err := os.MkdirTemp(reachable, "evil")
		if err != nil {
			t.Fatal(err)
		}
		evil = filepath.Join(evil, "state")
		if err := os.Mkdir(evil, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{filepath.Dir(evil), evil} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(evil, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		plantAs(t, nobody, filepath.Join(evil, sysctl.StateFile), rec)
		refused("attacker's dir, "+what, rollback(evil), 3, fmt.Sprintf("owned by uid %d", nobody))
	}

	// Root's directory, but group or others may write it, or the record.
	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o775); err != nil {
		t.Fatal(err)
	}
	plantAs(t, 0, filepath.Join(loose, sysctl.StateFile), attacks["previous null deletes a file"])
	refused("group-writable dir", rollback(loose), 3, "group or others may write it")
	if err := os.Chmod(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(loose, sysctl.StateFile), 0o666); err != nil {
		t.Fatal(err)
	}
	refused("world-writable record", rollback(loose), 3, "group or others may write it")
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(loose, link); err != nil {
		t.Fatal(err)
	}
	refused("symlinked state dir", rollback(link), 3, "is a symlink")

	// Root's own directory: every field is still checked before acting.
	fields := []struct {
		what string
		rec  []byte
		code int
		want string
	}{
		{"persisted file outside sysctl.d", attacks["previous null deletes a file"], 3, "outside the sysctl.d directories"},
		{"earlier content not backlogctl's", record(t, nil, &sysctl.PersistRecord{File: inEtc, Previous: &attackerText}), 3, "not a file backlogctl wrote"},
		{"key outside the registry without --force", attacks["a key outside the registry"], 2, "needs --force"},
		{"value out of range", record(t, []sysctl.Step{{Key: "net.core.somaxconn", Previous: "99999999999", Value: "8192"}}, nil), 3, "out of range"},
		{"a key that is a path", record(t, []sysctl.Step{{Key: "../../etc/shadow", Previous: "x", Value: "y"}}, nil), 3, "invalid sysctl key"},
	}
	for _, f := range fields {
		dir := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		plantAs(t, 0, filepath.Join(dir, sysctl.StateFile), f.rec)
		refused("root's dir, "+f.what, rollback(dir), f.code, f.want)
	}
}
