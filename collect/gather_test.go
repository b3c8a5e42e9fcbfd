package collect

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// A snapshot of fixture trees: absent keys are left out silently, unreadable
// ones become one warning each, in registry order, naming the key once; a
// /proc without net/ files is a warning, not a failure.
func TestGatherFixtures(t *testing.T) {
	root := filepath.Join("testdata", "gather")
	for i := 0; i < 5; i++ { // warnings come from a map: their order must not vary
		snap, err := gatherHere(Options{
			Roots:  hostfs.Roots{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys")},
			Ports:  []uint16{1}, // the real dump runs; keep its result out of the way
			Owners: OwnersOn,
		})
		if err != nil {
			t.Fatal(err)
		}
		wantSysctls := map[string]int64{
			"net.core.somaxconn":           4096,
			"net.ipv4.tcp_max_syn_backlog": 512,
			"net.ipv4.tcp_synack_retries":  5,
			"fs.file-max":                  2466165,
			"fs.nr_open":                   1048576,
		}
		if diff := cmp.Diff(wantSysctls, snap.Sysctls); diff != "" {
			t.Errorf("sysctls (-want +got):\n%s", diff)
		}
		wantWarnings := []string{
			`could not read net.ipv4.tcp_syncookies: value "abc" is not an integer`,
			`could not read net.ipv4.tcp_abort_on_overflow: value "2x" is not an integer`,
			"reading counters: open " + filepath.Join(root, "proc", "net", "netstat") + ": no such file or directory",
		}
		if diff := cmp.Diff(wantWarnings, snap.Warnings); diff != "" {
			t.Fatalf("warnings (-want +got):\n%s", diff)
		}
		if snap.Counters == nil || len(snap.Counters) != 0 {
			t.Errorf("counters = %#v, want an empty map", snap.Counters)
		}
		if snap.Files == nil || *snap.Files != (model.Files{Allocated: 1184, Max: 2466165, NrOpen: 1048576}) {
			t.Errorf("files = %+v", snap.Files)
		}
		if snap.Listeners == nil || len(snap.Listeners) != 0 || snap.Kernel == "" || snap.Time.IsZero() {
			t.Errorf("listeners %#v kernel %q time %v", snap.Listeners, snap.Kernel, snap.Time)
		}
	}
}

// The JSON contract's arrays are never null.
func TestGatherEmptyArrays(t *testing.T) {
	snap, err := gatherHere(Options{Ports: []uint16{1}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"listeners":[]`, `"warnings":[]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}
