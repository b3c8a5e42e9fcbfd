package trace

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestGeneratedObjectsCurrent checks that the committed objects were
// generated from the committed sources: sources.sha256 (written by go
// generate after bpf2go) must match the C source, vmlinux.h and both
// generated files. Editing bpf/trace.c without running go generate fails here.
func TestGeneratedObjectsCurrent(t *testing.T) {
	f, err := os.Open("sources.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("sources.sha256: malformed line %q", sc.Text())
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s changed since the objects were generated: run go generate ./trace (clang 14, libbpf-dev)", name)
		}
		seen[name] = true
	}
	for _, name := range []string{"bpf/trace.c", "bpf/vmlinux.h", "bpf_x86_bpfel.go", "bpf_x86_bpfel.o", "bpf_arm64_bpfel.go", "bpf_arm64_bpfel.o"} {
		if !seen[name] {
			t.Errorf("sources.sha256 does not record %s", name)
		}
	}
}

// TestMapSizes checks the Go constants agree with the object's maps.
func TestMapSizes(t *testing.T) {
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{
		bpfMapListeners: DefaultListenerSlots, bpfMapDrops: MaxDropKeys, bpfMapUntraced: DefaultListenerSlots,
		bpfMapAcceptErrors: MaxAcceptErrorKeys, bpfMapRing: RingSlots,
	} {
		if got := spec.Maps[name].MaxEntries; got != want {
			t.Errorf("map %s: %d entries in the object, %d in maps.go", name, got, want)
		}
	}
	if got, want := spec.Maps[bpfMapRing].ValueSize, uint32(RingSlotBytes); got != want {
		t.Errorf("map ring: %d-byte slots in the object, %d expected", got, want)
	}
	var st bpfListenerStats
	if got := unsafe.Sizeof(st); got != ListenerSlotBytes {
		t.Errorf("struct listener_stats is %d bytes, ListenerSlotBytes %d", got, ListenerSlotBytes)
	}
	if len(st.WaitBuckets) != WaitBuckets {
		t.Errorf("WAIT_BUCKETS is %d in the object, %d in maps.go", len(st.WaitBuckets), WaitBuckets)
	}
}
