package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// adviseFinding is what these tests read of advise -o json.
type adviseFinding struct {
	ID, Subject, Reason, Fix string
}

// findingIDs runs advise (argv) and returns its findings' "ID SUBJECT".
func adviseFindings(t *testing.T, argv ...string) []adviseFinding {
	t.Helper()
	r := run(t, argv...)
	var rep struct{ Findings []adviseFinding }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("%v: exit %d, %v\n%s%s", argv, r.code, err, r.stdout, r.stderr)
	}
	return rep.Findings
}

// tune --netns NS --apply raises somaxconn there, and says how to undo it
// with the --netns and --state-dir it was given; then advise --netns NS
// gives the restart finding for a listener there older than the change, as
// advise run inside the namespace (nsenter, like ip netns exec) does: both
// read the record tune made inside that namespace.
func TestAdviseNetnsAfterTuneNetns(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	other := netnstest.Hold(t)
	// Clamped to 1000 now, before the change: it keeps that backlog.
	port := nstest.PrepareNetns(t, other, 1000, 2000)
	state := filepath.Join(t.TempDir(), "state dir")
	r := run(t, bin, "tune", "--netns", other, "--set", "somaxconn=4096", "--apply", "--yes", "--state-dir", state)
	if r.code != 0 {
		t.Fatalf("tune --netns --apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	undo := fmt.Sprintf("undo: backlogctl tune --rollback --netns %s --state-dir '%s'", other, state)
	if !strings.Contains(r.stderr, undo) {
		t.Errorf("tune's undo hint %q does not name the namespace and the state directory: want %q", r.stderr, undo)
	}
	subject := fmt.Sprintf("127.0.0.1:%d", port)
	predates := func(fs []adviseFinding) bool {
		for _, f := range fs {
			if f.ID == "listener-predates-somaxconn-change" && f.Subject == subject && strings.Contains(f.Reason, "this listener predates the change") {
				return true
			}
		}
		return false
	}
	inside := adviseFindings(t, "nsenter", "--net="+other, "--", bin, "advise", "--state-dir", state, "-o", "json")
	if !predates(inside) {
		t.Fatalf("advise inside the namespace: no restart finding for %s in %+v", subject, inside)
	}
	if fs := adviseFindings(t, bin, "advise", "--netns", other, "--state-dir", state, "-o", "json"); !predates(fs) {
		t.Errorf("advise --netns: no restart finding for %s, which advise inside the namespace gives: %+v", subject, fs)
	}
	if r := run(t, bin, "tune", "--rollback", "--netns", other, "--yes", "--state-dir", state); r.code != 0 {
		t.Errorf("the undo hint's command: exit %d\n%s", r.code, r.stderr)
	}
}
