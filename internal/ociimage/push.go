package ociimage

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push copies the index tagged version in the layout at dir to
// repository:version, with the credentials of the Docker config
// (docker login, or a CI's registry token), and returns its digest.
func Push(dir, version, repository string, opts ...name.Option) (string, error) {
	idx, err := Index(dir, version)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(repository+":"+version, opts...)
	if err != nil {
		return "", fmt.Errorf("image name %s:%s: %w", repository, version, err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return ref.Context().Digest(d.String()).String(), nil
}
