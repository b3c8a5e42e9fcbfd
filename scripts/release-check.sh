#!/usr/bin/env bash
# Checks the release build without publishing anything: validates
# .goreleaser.yaml, builds a snapshot (static linux/amd64 and arm64 binaries,
# tarballs, deb and rpm packages, the multi-arch OCI image, checksums signed
# with a throwaway GPG key) into dist/, and verifies that the packages hold
# the binary, every man page, the completions and the systemd unit, that the
# packaged binary carries the release's version, that the signature and the
# checksums hold, and the image (cmd/build-image -verify: the layers hold the
# static binary of each platform, this machine's one runs `backlogctl
# version`, the config's entrypoint, user and labels are right).
#
# goreleaser is installed once with `go install` (a few minutes on two cores)
# into a cache directory keyed by its version, and reused after that.
set -euo pipefail
cd "$(dirname "$0")/.."

GORELEASER_VERSION=v2.12.0
bin_dir="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/backlogctl-ci/goreleaser-${GORELEASER_VERSION}/bin"
goreleaser="$bin_dir/goreleaser"

if ! "$goreleaser" --version 2>/dev/null | grep -qE "^GitVersion: *v?${GORELEASER_VERSION#v}\$"; then
	echo "release-check: installing goreleaser ${GORELEASER_VERSION} into $bin_dir"
	start=$SECONDS
	mkdir -p "$bin_dir"
	GOBIN="$bin_dir" go install "github.com/goreleaser/goreleaser/v2@${GORELEASER_VERSION}"
	echo "release-check: goreleaser installed in $((SECONDS - start))s"
fi

"$goreleaser" check
# The checksums are signed (.goreleaser.yaml signs:) by GPG_FINGERPRINT's key:
# a throwaway one here, in a GnuPG home of its own, removed at the end.
tmp=$(mktemp -d)
trap 'gpgconf --homedir "$tmp/gnupg" --kill all >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
export GNUPGHOME="$tmp/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'backlogctl release check <release-check@backlogctl.invalid>' ed25519 sign 1d 2>/dev/null
GPG_FINGERPRINT=$(gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')
export GPG_FINGERPRINT
start=$SECONDS
"$goreleaser" release --snapshot --clean >dist.log 2>&1 || {
	cat dist.log >&2
	rm -f dist.log
	echo "release-check: snapshot build failed" >&2
	exit 1
}
mv dist.log dist/goreleaser.log
echo "release-check: snapshot built in $((SECONDS - start))s"

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...
	if "${@:2}" >/dev/null 2>&1; then
		echo "ok   $1"
		passed=$((passed + 1))
	else
		echo "FAIL $1" >&2
		failed=$((failed + 1))
	fi
}

shopt -s nullglob
for arch in amd64 arm64; do
	debs=(dist/backlogctl_*_"$arch".deb)
	check "one $arch .deb" test "${#debs[@]}" -eq 1
	[ "${#debs[@]}" -eq 1 ] || continue
	listing=$(dpkg-deb -c "${debs[0]}" | awk '{print $NF}')
	want=(./usr/bin/backlogctl
		./usr/share/bash-completion/completions/backlogctl
		./usr/share/zsh/vendor-completions/_backlogctl
		./usr/share/fish/vendor_completions.d/backlogctl.fish
		./usr/lib/systemd/system/backlogctl-exporter.service
		./etc/default/backlogctl-exporter)
	# every committed man page, so a new command's page cannot be left out
	for page in man/*.[17]; do
		name=$(basename "$page")
		want+=("./usr/share/man/man${name##*.}/${name}.gz")
	done
	for path in "${want[@]}"; do
		check "$arch .deb contains $path" grep -qxF "$path" <<<"$listing"
	done
done
rpms=(dist/backlogctl-*.x86_64.rpm dist/backlogctl-*.aarch64.rpm)
check "x86_64 and aarch64 .rpm" test "${#rpms[@]}" -eq 2
tars=(dist/backlogctl_*_linux_amd64.tar.gz dist/backlogctl_*_linux_arm64.tar.gz)
check "amd64 and arm64 tarballs" test "${#tars[@]}" -eq 2
check "checksums.txt covers every package" test "$(grep -cE '\.(deb|rpm|tar\.gz)$' dist/checksums.txt)" -eq 6

# The amd64 package's binary: static, and stamped with the snapshot version.
deb=(dist/backlogctl_*_amd64.deb)
if [ "${#deb[@]}" -eq 1 ]; then
	dpkg-deb -x "${deb[0]}" "$tmp"
	bin="$tmp/usr/bin/backlogctl"
	check "packaged binary built with CGO_ENABLED=0" grep -q 'CGO_ENABLED=0' <(go version -m "$bin")
	version=$("$bin" version -o json | sed -n 's/.*"version": "\(.*\)".*/\1/p')
	check "packaged binary reports a release version (got '$version')" test -n "$version" -a "$version" != dev
	check "man page in the package names the version" grep -q "backlogctl $version" <(zcat "$tmp/usr/share/man/man1/backlogctl.1.gz")
fi

# Signed checksums, covering the image.
check "checksums.txt.sig is a good signature of checksums.txt" gpg --batch --verify dist/checksums.txt.sig dist/checksums.txt
check "checksums.txt covers the OCI image tarball" grep -qE ' backlogctl_.*_oci\.tar$' dist/checksums.txt
check "every file checksums.txt names matches it" sh -c 'cd dist && sha256sum --quiet --strict -c checksums.txt'

# The image: built offline from the packaged binaries into an OCI layout.
if [ -n "${version:-}" ]; then
	# The image's labels carry what goreleaser stamped into the binary.
	commit=$("$bin" version -o json | sed -n 's/.*"commit": "\(.*\)".*/\1/p')
	created=$("$bin" version -o json | sed -n 's/.*"date": "\(.*\)".*/\1/p')
	if go run ./cmd/build-image -verify -layout dist/backlogctl_oci -version "$version" -revision "$commit" -created "$created" >"$tmp/image.log" 2>&1; then
		while read -r line; do echo "$line"; passed=$((passed + 1)); done <"$tmp/image.log"
	else
		cat "$tmp/image.log" >&2
		failed=$((failed + 1))
	fi
	check "the image tarball is the layout of dist/backlogctl_oci" test -s "dist/backlogctl_${version}_oci.tar"
fi

echo "release-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
