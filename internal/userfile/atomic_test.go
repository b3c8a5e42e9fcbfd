package userfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// WriteAtomic keeps its temporary file beside the target, never in $TMPDIR,
// and removes what an interrupted write of the same target left there, and
// nothing else.
func TestWriteAtomicCleansItsLeftovers(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp) // same filesystem: renameio would have used it
	target := filepath.Join(dir, "last-apply.json")
	names := map[string]bool{ // name -> a leftover of target
		".last-apply.json5577006791947779410": true,
		".last-apply.json1":                   true,
		".last-apply.jsonx1":                  false,
		".other.json123":                      false,
		"last-apply.json123":                  false,
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteAtomic(target, []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	for n, leftover := range names {
		_, err := os.Stat(filepath.Join(dir, n))
		if leftover != os.IsNotExist(err) {
			t.Errorf("%s: removed %v, want %v", n, os.IsNotExist(err), leftover)
		}
	}
	if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("target: %v, %v; want mode 0640", st, err)
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 0 {
		t.Errorf("$TMPDIR holds %v", entries)
	}
	got, err := CleanTemps(filepath.Join(t.TempDir(), "missing", "x"))
	if err != nil || !slices.Equal(got, nil) {
		t.Errorf("CleanTemps in a missing directory: %v, %v", got, err)
	}
}
