#!/usr/bin/env bash
# Measures watch's CPU cost at 100 Hz with 1,000 listeners and the
# exporter's scrape time with 9,000 listeners, each in a private network
# namespace (nothing on the host changes). Results go in docs/BENCHMARKS-watch.md.
# Usage (as root): scripts/bench-watch.sh [watch-seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/backlogctl" ./cmd/backlogctl
go build -o "$bin/benchlisteners" ./scripts/benchlisteners

# Runs "$@" in a fresh network namespace holding $1 listeners.
in_netns_with() {
	local n=$1
	shift
	unshare -n bash -euo pipefail -c '
		ip link set lo up
		coproc L { exec "$0" -n "$1"; }
		read -r ready <&"${L[0]}"
		shift 1
		"$@"
		kill "$L_PID"
	' "$bin/benchlisteners" "$n" "$@"
}

watch_cpu() {
	# CPU from /proc/PID/stat (utime+stime, in clock ticks) just before exit.
	GOGC=${GOGC:-100} "$bin/backlogctl" watch --interval 10ms -o json --duration "${secs}s" >/dev/null &
	local pid=$! hz ticks="0 0"
	hz=$(getconf CLK_TCK)
	while kill -0 "$pid" 2>/dev/null; do
		ticks=$(awk '{print $14, $15}' "/proc/$pid/stat" 2>/dev/null || echo "$ticks")
		sleep 0.5
	done
	wait "$pid"
	echo "$ticks" | awk -v hz="$hz" -v s="$secs" '{
		printf "watch --interval 10ms, %ss: cpu %.2fs (user %.2fs, sys %.2fs) = %.1f%% of one core\n",
			s, ($1+$2)/hz, $1/hz, $2/hz, 100*($1+$2)/hz/s }'
}

scrape_time() {
	local max=$1
	"$bin/backlogctl" exporter --listen 127.0.0.1:19597 --max-listeners "$max" 2>/dev/null &
	local pid=$!
	for _ in $(seq 50); do curl -fso /dev/null 127.0.0.1:19597/healthz && break; sleep 0.1; done
	local total=0 t
	for _ in $(seq 10); do
		t=$(curl -fso /dev/null -w '%{time_total}' 127.0.0.1:19597/metrics)
		total=$(awk -v a="$total" -v b="$t" 'BEGIN{print a+b}')
	done
	local series
	series=$(curl -fs 127.0.0.1:19597/metrics | grep -c '^backlogctl_' || true)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	awk -v t="$total" -v m="$max" -v s="$series" 'BEGIN {
		printf "exporter --max-listeners %s: mean scrape %.1f ms, %d series\n", m, 1000*t/10, s }'
}

export -f watch_cpu scrape_time
export bin secs
in_netns_with 1000 bash -c watch_cpu
[ -n "${WATCH_ONLY:-}" ] || in_netns_with 9000 bash -c 'scrape_time 1000; scrape_time 10000'
