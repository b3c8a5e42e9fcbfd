#!/usr/bin/env bash
# Runs backlogctl's whole test suite on Debian, as root: installs what the
# tests need, checks formatting and vet, then runs every test with the race
# detector. Integration tests create their own network namespaces; nothing on
# the host is changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/test.sh: run as root (integration tests create network namespaces)" >&2
	exit 2
fi

# command -> Debian package
declare -A need=(
	[nft]=nftables
	[ip]=iproute2
	[ss]=iproute2
	[unshare]=util-linux
	[mount]=mount
	[prlimit]=util-linux
	[nsenter]=util-linux
	[prometheus]=prometheus
	[promtool]=prometheus
	[sysctl]=procps
	[mandoc]=mandoc
	[man]=man-db
	[gcc]=gcc
	[git]=git
	[dpkg-deb]=dpkg
	[nginx]=nginx
	[python3]=python3
	[pgrep]=procps
	[wrk]=wrk
	[gunicorn]=gunicorn
	[clang]=clang
	[systemd-analyze]=systemd
	[setpriv]=util-linux
	[gpg]=gpg
	[containerd]=containerd
	[ctr]=containerd
	[runc]=runc
	[haproxy]=haproxy
	[redis-server]=redis-server
	[memcached]=memcached
	[node]=nodejs
)
missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# Not a command: the completion test runs bash with and without it.
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
# Another apt run (unattended-upgrades, a second engineer) may hold apt's
# locks: wait for them, up to APT_LOCK_WAIT seconds, instead of failing.
apt_lock_wait=${APT_LOCK_WAIT:-600}
apt_get() {
	local deadline=$((SECONDS + apt_lock_wait)) out
	while :; do
		# DPkg::Lock::Timeout waits for the dpkg frontend lock (install);
		# `update` takes /var/lib/apt/lists/lock without waiting, so retry.
		if out=$(apt-get -o DPkg::Lock::Timeout="$apt_lock_wait" "$@" 2>&1); then
			return 0
		fi
		if ! grep -q 'Could not get lock' <<<"$out" || [ "$SECONDS" -ge "$deadline" ]; then
			echo "$out" >&2
			return 1
		fi
		echo "scripts/test.sh: apt is busy (another apt holds its lock); waiting" >&2
		sleep 5
	done
}
# Debian's php-fpm installs its binary under its PHP version (php-fpm8.2)
compgen -G '/usr/sbin/php-fpm*' >/dev/null || missing+=(php-fpm)
# Debian's PostgreSQL is not on PATH (pg_ctlcluster runs it from here)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
# trace's eBPF programs include libbpf's headers (scripts/check-bpf.sh)
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
# trace's io_uring test builds a liburing accept loop (trace/testdata)
[ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "installing: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
	apt_get update -qq
	DEBIAN_FRONTEND=noninteractive apt_get install -y -qq $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

# Every stage runs, whatever an earlier one did: a failing test must not hide
# whether fuzzing or the release build would pass. Each stage's result is
# listed at the end, and the script exits 1 if any failed.
set +e
results=()
failed=0
stage() {
	local name=$1 start=$SECONDS
	shift
	echo "== $name"
	if "$@"; then
		results+=("ok    $name ($((SECONDS - start))s)")
	else
		results+=("FAIL  $name ($((SECONDS - start))s)")
		failed=1
	fi
}
gofmt_clean() {
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:" >&2
		echo "$unformatted" >&2
		return 1
	fi
}
stage "gofmt" gofmt_clean
stage "go vet" go vet ./...
# trace's committed eBPF objects are what its sources compile to.
stage "eBPF objects match their sources" ./scripts/check-bpf.sh
stage "go test -race" go test -race -count=1 ./...
# Every fuzz target, briefly (docs/RELIABILITY.md records a long run). A count,
# not a duration: Go 1.26's fuzz coordinator can report a bare "context deadline
# exceeded" when a -fuzztime duration ends while a starved worker is mid-call
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
stage "fuzz (${FUZZTIME:-20000x} per target)" env FUZZTIME="${FUZZTIME:-20000x}" ./scripts/fuzz.sh
# The release build: goreleaser check and a snapshot build (nothing published).
stage "release check" ./scripts/release-check.sh

echo
echo "scripts/test.sh: stages"
printf '  %s\n' "${results[@]}"
exit "$failed"
