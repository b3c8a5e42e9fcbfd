package ociimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Check is one verified property of the image: Err is nil when it holds.
type Check struct {
	Name string
	Err  error
}

// Verify checks the image index tagged version in the layout at dir as a
// release must be: one image per platform in platforms, each with the
// static binary for its architecture at BinaryPath, the entrypoint, user
// and labels of meta; the binary for this machine's architecture is
// extracted and run as the entrypoint would run it (`backlogctl version`),
// and must report version.
func Verify(dir string, meta Meta, platforms []v1.Platform) []Check {
	var checks []Check
	add := func(name string, err error) { checks = append(checks, Check{name, err}) }
	idx, err := Index(dir, meta.Version)
	add(fmt.Sprintf("the layout has an image index tagged %s", meta.Version), err)
	if err != nil {
		return checks
	}
	im, err := idx.IndexManifest()
	if err != nil {
		add("reading the index", err)
		return checks
	}
	var got []string
	for _, d := range im.Manifests {
		if d.Platform != nil {
			got = append(got, d.Platform.String())
		}
	}
	var want []string
	for _, p := range platforms {
		want = append(want, p.String())
	}
	slices.Sort(got)
	slices.Sort(want)
	add(fmt.Sprintf("the index holds exactly %s", strings.Join(want, ", ")), errUnless(slices.Equal(got, want), "it holds %v", got))
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		p := *d.Platform
		img, err := idx.Image(d.Digest)
		if err != nil {
			add(p.String()+": image readable", err)
			continue
		}
		checks = append(checks, verifyImage(img, p, meta)...)
	}
	return checks
}

func verifyImage(img v1.Image, p v1.Platform, meta Meta) []Check {
	var checks []Check
	add := func(name string, err error) { checks = append(checks, Check{p.String() + ": " + name, err}) }
	cf, err := img.ConfigFile()
	if err != nil {
		add("config readable", err)
		return checks
	}
	c := cf.Config
	add("config names the platform", errUnless(cf.OS == p.OS && cf.Architecture == p.Architecture, "config says %s/%s", cf.OS, cf.Architecture))
	add("entrypoint is "+BinaryPath, errUnless(slices.Equal(c.Entrypoint, []string{BinaryPath}), "entrypoint %q", c.Entrypoint))
	add("user is "+User+" (nobody)", errUnless(c.User == User, "user %q", c.User))
	labels := meta.Labels()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		add(fmt.Sprintf("label %s=%s", k, labels[k]), errUnless(c.Labels[k] == labels[k], "label is %q", c.Labels[k]))
	}
	add("exposes "+MetricsPort+"/tcp", errUnless(c.ExposedPorts[MetricsPort+"/tcp"] == struct{}{} && len(c.ExposedPorts) == 1, "exposes %v", c.ExposedPorts))
	bin, mode, err := extract(img, BinaryPath)
	add("a layer holds "+BinaryPath+", executable", errors.Join(err, errUnless(err != nil || mode&0o111 != 0, "mode %o", mode)))
	if err != nil {
		return checks
	}
	add("the binary is static, for "+p.Architecture, checkELF(bin, p.Architecture))
	if p.Architecture != runtime.GOARCH {
		return checks
	}
	out, err := runVersion(bin)
	add(fmt.Sprintf("the entrypoint runs: backlogctl version says %s", meta.Version), errors.Join(err, errUnless(err != nil || out == meta.Version, "it says %q", out)))
	return checks
}

func errUnless(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// extract reads path out of the image's flattened filesystem.
func extract(img v1.Image, path string) ([]byte, int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, 0, err
	}
	name := strings.TrimPrefix(path, "/")
	var data []byte
	var mode int64
	found := false
	for _, l := range layers { // a later layer wins
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, 0, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, 0, err
			}
			if strings.TrimPrefix(h.Name, "./") == name && h.Typeflag == tar.TypeReg {
				if data, err = io.ReadAll(tr); err != nil {
					rc.Close()
					return nil, 0, err
				}
				mode, found = h.Mode, true
			}
		}
		rc.Close()
	}
	if !found {
		return nil, 0, fmt.Errorf("no %s in any layer", path)
	}
	return data, mode, nil
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkELF: the binary is for arch and has no program interpreter (static).
func checkELF(bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	if f.Machine != elfMachine[arch] {
		return fmt.Errorf("built for %s", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (has an interpreter)")
		}
	}
	return nil
}

// runVersion runs the extracted binary as the entrypoint with `version -o
// json` and returns the version it reports.
func runVersion(bin []byte) (string, error) {
	dir, err := os.MkdirTemp("", "backlogctl-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "backlogctl")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command(path, "version", "-o", "json")
	cmd.Env = []string{"PATH=/usr/bin"} // the image's environment
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("running it: %w", err)
	}
	var info struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("its output %q: %w", out, err)
	}
	return info.Version, nil
}
