package ociimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// RefName is the OCI annotation that tags an index entry in a layout.
const RefName = "org.opencontainers.image.ref.name"

// Add puts img, for platform p, into the multi-platform index tagged
// version in the OCI layout at dir, replacing that platform's image if
// present; the other platforms' images are kept. Builds of several
// platforms may call it at once (goreleaser runs its per-binary hooks in
// parallel): a lock file beside dir serialises them, and the layout is
// rebuilt beside dir and renamed into place, so it is never seen half
// written. With tarOut, the layout is also written there as one tar file
// (WriteTar), under the same lock.
func Add(dir, version string, p v1.Platform, img v1.Image, tarOut string) error {
	unlock, err := lock(dir + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	adds := []mutate.IndexAddendum{{Add: img, Descriptor: v1.Descriptor{Platform: &p}}}
	if old, err := Index(dir, version); err == nil {
		m, err := old.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			if d.Platform == nil || d.Platform.Equals(p) {
				continue
			}
			other, err := old.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("reading the %s image already in %s: %w", d.Platform, dir, err)
			}
			adds = append(adds, mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: d.Platform}})
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Platforms in a fixed order, so the index is the same bytes however
	// the builds were scheduled.
	slices.SortFunc(adds, func(a, b mutate.IndexAddendum) int {
		return cmpPlatform(*a.Descriptor.Platform, *b.Descriptor.Platform)
	})
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx, adds...)
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	lp, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefName: version})); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	if tarOut == "" {
		return nil
	}
	return WriteTar(dir, tarOut)
}

func cmpPlatform(a, b v1.Platform) int {
	if a.Architecture != b.Architecture {
		if a.Architecture < b.Architecture {
			return -1
		}
		return 1
	}
	return 0
}

// Index returns the image index tagged version in the layout at dir. A
// layout that does not exist is fs.ErrNotExist.
func Index(dir, version string) (v1.ImageIndex, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, err
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[RefName] == version && d.MediaType.IsIndex() {
			return top.ImageIndex(d.Digest)
		}
	}
	return nil, fmt.Errorf("%s has no image index tagged %q", dir, version)
}

// lock takes an exclusive flock on path, creating it.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// WriteTar writes the layout at dir as one tar file (the form `skopeo copy
// oci-archive:` and `podman load` read), with its entries sorted and
// timeless, so its checksum names the image.
func WriteTar(dir, out string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			f.Close()
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Format: tar.FormatPAX}
		if info.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		if !info.IsDir() {
			if err := copyInto(tw, p); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func copyInto(w io.Writer, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(w, src)
	return err
}
