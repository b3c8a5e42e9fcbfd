// Command build-image builds and verifies backlogctl's OCI image without a
// container daemon (internal/ociimage). The release runs it from
// goreleaser, once per binary, each run adding its platform to the
// version's multi-platform index:
//
//	go run ./cmd/build-image -platform linux/amd64 -binary dist/.../backlogctl \
//	    -version 1.2.3 -revision $COMMIT -created 2026-01-02T03:04:05Z \
//	    -layout dist/backlogctl_oci -tar dist/backlogctl_1.2.3_oci.tar
//
// scripts/release-check.sh verifies the result:
//
//	go run ./cmd/build-image -verify -layout dist/backlogctl_oci -version 1.2.3 ...
//
// and a release pushes it (credentials from `docker login`'s config):
//
//	go run ./cmd/build-image -push ghcr.io/backlogctl/backlogctl -layout dist/backlogctl_oci -version 1.2.3
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/backlogctl/backlogctl/internal/ociimage"
)

func main() {
	layoutDir := flag.String("layout", "", "OCI image layout `DIR` to add the image to (or verify)")
	tarOut := flag.String("tar", "", "also write the layout as one tar `FILE`")
	platform := flag.String("platform", "", "the binary's platform: linux/amd64 or linux/arm64")
	binary := flag.String("binary", "", "the static backlogctl binary `PATH`")
	version := flag.String("version", "", "the release `VERSION`: the index's tag and the version label")
	revision := flag.String("revision", "", "the commit the binary was built from")
	created := flag.String("created", "", "the commit's time, RFC 3339")
	verify := flag.Bool("verify", false, "verify the layout's image for -version instead of building")
	push := flag.String("push", "", "push the layout's index for -version to `REPOSITORY`:VERSION instead of building")
	flag.Parse()
	if *push != "" {
		ref, err := ociimage.Push(*layoutDir, *version, *push)
		if err != nil {
			fmt.Fprintf(os.Stderr, "build-image: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(ref)
		return
	}
	if err := run(*layoutDir, *tarOut, *platform, *binary, *version, *revision, *created, *verify); err != nil {
		fmt.Fprintf(os.Stderr, "build-image: %v\n", err)
		os.Exit(1)
	}
}

func run(layoutDir, tarOut, platform, binary, version, revision, created string, verify bool) error {
	if layoutDir == "" || version == "" || created == "" {
		return fmt.Errorf("-layout, -version and -created are required")
	}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return fmt.Errorf("-created %q: %w", created, err)
	}
	meta := ociimage.Meta{Version: version, Revision: revision, Created: t}
	if verify {
		var all []v1.Platform
		for _, s := range []string{"linux/amd64", "linux/arm64"} {
			p, _ := ociimage.Platform(s)
			all = append(all, p)
		}
		failed := 0
		for _, c := range ociimage.Verify(layoutDir, meta, all) {
			if c.Err != nil {
				failed++
				fmt.Printf("FAIL image: %s: %v\n", c.Name, c.Err)
			} else {
				fmt.Printf("ok   image: %s\n", c.Name)
			}
		}
		if failed > 0 {
			return fmt.Errorf("%d image checks failed", failed)
		}
		return nil
	}
	p, err := ociimage.Platform(platform)
	if err != nil {
		return err
	}
	if binary == "" {
		return fmt.Errorf("-binary is required")
	}
	img, err := ociimage.Image(binary, p, meta)
	if err != nil {
		return err
	}
	return ociimage.Add(layoutDir, version, p, img, tarOut)
}
