package ociimage

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fakeBinary builds testdata/fakebin, statically, for arch.
func fakeBinary(t *testing.T, arch, version string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "backlogctl")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+version, "-o", out, "./testdata/fakebin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a %s stand-in: %v\n%s", arch, err, b)
	}
	return out
}

var meta = Meta{Version: "1.2.3", Revision: "0123abcd", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func platforms(t *testing.T) []v1.Platform {
	var ps []v1.Platform
	for _, s := range []string{"linux/amd64", "linux/arm64"} {
		p, err := Platform(s)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// build adds an image per platform to a new layout at once, as
// goreleaser's parallel hooks do, and returns the layout and its tar.
func build(t *testing.T, bins map[string]string) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	tarOut := dir + ".tar"
	var wg sync.WaitGroup
	for _, p := range platforms(t) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, err := Image(bins[p.Architecture], p, meta)
			if err == nil {
				err = Add(dir, meta.Version, p, img, tarOut)
			}
			if err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}()
	}
	wg.Wait()
	return dir, tarOut
}

func failures(checks []Check) []string {
	var bad []string
	for _, c := range checks {
		if c.Err != nil {
			bad = append(bad, c.Name+": "+c.Err.Error())
		}
	}
	return bad
}

// Two platforms built at once make one index tagged with the version, and
// every check holds: binary in the layer, static and for its platform,
// entrypoint, user, labels, and this machine's binary runs `version`.
func TestBuildAndVerify(t *testing.T) {
	bins := map[string]string{"amd64": fakeBinary(t, "amd64", "1.2.3"), "arm64": fakeBinary(t, "arm64", "1.2.3")}
	dir, tarOut := build(t, bins)
	checks := Verify(dir, meta, platforms(t))
	if bad := failures(checks); len(bad) > 0 {
		t.Fatalf("checks failed:\n%s", strings.Join(bad, "\n"))
	}
	ran := false
	for _, c := range checks {
		ran = ran || strings.Contains(c.Name, "linux/"+runtime.GOARCH) && strings.Contains(c.Name, "backlogctl version says 1.2.3")
	}
	if !ran {
		t.Errorf("no check ran this machine's (%s) binary", runtime.GOARCH)
	}
	// Rebuilt from the same binaries, the image is the same bytes.
	_, again := build(t, bins)
	if a, b := digest(t, tarOut), digest(t, again); a != b {
		t.Errorf("two builds of the same binaries differ: %s, %s", a, b)
	}
}

// Verify catches what a broken release would ship.
func TestVerifyCatches(t *testing.T) {
	amd := fakeBinary(t, "amd64", "1.2.3")
	arm := fakeBinary(t, "arm64", "1.2.3")
	tests := []struct {
		name string
		bins map[string]string
		meta Meta
		want string
	}{
		{"amd64 binary in the arm64 image", map[string]string{"amd64": amd, "arm64": amd}, meta, "linux/arm64/v8: the binary is static, for arm64: built for EM_X86_64"},
		{"binary of another version", map[string]string{"amd64": fakeBinary(t, "amd64", "0.9.0"), "arm64": arm}, meta, `backlogctl version says 1.2.3: it says "0.9.0"`},
		{"another revision asked for", map[string]string{"amd64": amd, "arm64": arm}, Meta{Version: meta.Version, Revision: "ffff", Created: meta.Created}, `label org.opencontainers.image.revision=ffff: label is "0123abcd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := build(t, tt.bins)
			bad := failures(Verify(dir, tt.meta, platforms(t)))
			if !strings.Contains(strings.Join(bad, "\n"), tt.want) {
				t.Errorf("failures %q, want one with %q", bad, tt.want)
			}
		})
	}
	// A layout without the version's tag.
	dir, _ := build(t, map[string]string{"amd64": amd, "arm64": arm})
	if bad := failures(Verify(dir, Meta{Version: "2.0.0", Created: meta.Created}, platforms(t))); len(bad) != 1 || !strings.Contains(bad[0], `no image index tagged "2.0.0"`) {
		t.Errorf("verifying an untagged version: %q", bad)
	}
}

func digest(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// Push copies the version's index to a registry (an in-memory one on
// loopback here), and pulling it back gives the same digest and platforms.
func TestPush(t *testing.T) {
	dir, _ := build(t, map[string]string{"amd64": fakeBinary(t, "amd64", "1.2.3"), "arm64": fakeBinary(t, "arm64", "1.2.3")})
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/backlogctl/backlogctl"
	got, err := Push(dir, "1.2.3", repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	local, _ := Index(dir, "1.2.3")
	want, _ := local.Digest()
	if !strings.HasSuffix(got, "@"+want.String()) {
		t.Errorf("pushed %s, want digest %s", got, want)
	}
	ref, _ := name.NewTag(repo+":1.2.3", name.Insecure)
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pulling back: %v", err)
	}
	if d, _ := pulled.Digest(); d != want {
		t.Errorf("pulled digest %s, want %s", d, want)
	}
	m, _ := pulled.IndexManifest()
	if len(m.Manifests) != 2 {
		t.Errorf("pulled index has %d manifests, want 2", len(m.Manifests))
	}
}
