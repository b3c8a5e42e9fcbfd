// Package ociimage builds backlogctl's container image: the static binary
// and a passwd file on an empty base, one image per platform, gathered
// under one multi-platform index tagged with the version, in an OCI image
// layout. It needs no container daemon and no registry, so the release
// builds it offline; a release pushes the layout with any OCI tool.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and who runs it.
const (
	BinaryPath = "/usr/bin/backlogctl"
	// User is nobody: the image runs unprivileged unless the pod says
	// otherwise (the full DaemonSet runs it as root with a few
	// capabilities; see examples/kubernetes).
	User = "65534:65534"
	// MetricsPort is the exporter's port, exposed and listened on.
	MetricsPort = "9597"
	// Source is where the image's source lives (its label).
	Source = "https://github.com/backlogctl/backlogctl"
	// Name is the image's repository; examples/ refer to NAME:VERSION.
	Name = "ghcr.io/backlogctl/backlogctl"
)

// Meta describes the build: it becomes the image's labels and times.
type Meta struct {
	Version  string
	Revision string
	// Created is the commit time: the image of a commit is the same bytes
	// whenever it is built.
	Created time.Time
}

// Labels are the image's OCI annotations-as-labels.
func (m Meta) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "backlogctl",
		"org.opencontainers.image.description": "Inspect, advise, tune and export TCP listeners' SYN and accept queues",
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.created":     m.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.url":         Source,
	}
}

// Platform is "linux/amd64" or "linux/arm64".
func Platform(s string) (v1.Platform, error) {
	switch s {
	case "linux/amd64":
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	case "linux/arm64":
		return v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, nil
	}
	return v1.Platform{}, fmt.Errorf("platform %q: want linux/amd64 or linux/arm64", s)
}

// passwd and group name root and nobody, so that tools and error messages
// in the container can name the user; nothing else is in the base.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	group  = "root:x:0:\nnobody:x:65534:\n"
)

// Image builds the image for one platform from the static binary at path.
func Image(binary string, p v1.Platform, m Meta) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	layerTar, err := rootfs(bin, m.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: m.Created}, CreatedBy: "backlogctl build-image: " + BinaryPath + ", /etc/passwd, /etc/group", Comment: "static binary on an empty base"},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: m.Created}
	cf.Author = "backlogctl"
	cf.Config = v1.Config{
		Entrypoint:   []string{BinaryPath},
		Cmd:          []string{"exporter", "--web.listen-address=:" + MetricsPort},
		User:         User,
		WorkingDir:   "/",
		Env:          []string{"PATH=/usr/bin"},
		Labels:       m.Labels(),
		ExposedPorts: map[string]struct{}{MetricsPort + "/tcp": {}},
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the one layer: the binary and the user database, owned by
// root, with the commit's time.
func rootfs(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []string{"etc/", "usr/", "usr/bin/"}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/group", 0o644, []byte(group)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{strings.TrimPrefix(BinaryPath, "/"), 0o755, bin},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
