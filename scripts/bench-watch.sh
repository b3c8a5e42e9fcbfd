#!/usr/bin/env bash
# Measures watch's CPU cost with 1,000 listeners (also with --trace) and the
# exporter's scrape time with 9,000 listeners, and with 1,000 with and without
# --trace, each in a private network namespace (nothing on the host changes).
# Results go in docs/BENCHMARKS-watch.md.
#
# Usage (as root): scripts/bench-watch.sh [watch-seconds] [rounds]
#   BASELINE=/path/to/old/backlogctl  also measure another build (before/after)
#   WATCH_ONLY=1                      skip the exporter
#   EXPORTER_ONLY=1                   skip watch
#   PROFILE=1                         also perf-record one default JSON run
#
# Every round runs every watch case once, in an order rotated per round, so
# the cases share the machine's background load; medians are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
rounds=${2:-5}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/backlogctl" ./cmd/backlogctl
go build -o "$bin/benchlisteners" ./scripts/benchlisteners
if [ -n "${BASELINE:-}" ]; then cp "$BASELINE" "$bin/baseline"; fi

# Runs "$@" in a fresh network namespace holding $1 listeners.
in_netns_with() {
	local n=$1
	shift
	unshare -n bash -euo pipefail -c '
		ip link set lo up
		coproc L { exec "$0" -n "$1" ${BENCH_TRAFFIC:+-traffic}; }
		read -r ready <&"${L[0]}"
		shift 1
		"$@"
		kill "$L_PID"
	' "$bin/benchlisteners" "$n" "$@"
}

# cpu_run NAME TTY BINARY ARGS...: runs one watch, appends "NAME user sys" to
# $bin/results. TTY=1 runs it in a detached 200x50 tmux session (the redrawn
# view); otherwise its output goes to /dev/null. CPU is the process's own
# user and system time (getrusage, via GNU time).
cpu_run() {
	local name=$1 tty=$2 exe=$3
	shift 3
	local out="$bin/time.$name"
	rm -f "$out"
	if [ "$tty" = 1 ]; then
		# The view needs a terminal: stdout is the tmux pane's pty.
		tmux -L "bench-watch-$$" new-session -d -x 200 -y 50 \
			"/usr/bin/time -f '%U %S' -o '$out.tmp' $exe $* 2>/dev/null </dev/null; mv '$out.tmp' '$out'"
		while [ ! -e "$out" ]; do sleep 0.5; done
	else
		/usr/bin/time -f '%U %S' -o "$out" "$exe" "$@" >/dev/null
	fi
	echo "$name $(tail -1 "$out")" >>"$bin/results"
}

watch_cases() {
	local d="--duration ${secs}s"
	local -a cases=(
		"json-default 0 $bin/backlogctl watch -o json $d"
		"tty-default 1 $bin/backlogctl watch $d"
		"json-interval-10ms 0 $bin/backlogctl watch --interval 10ms -o json $d"
		"json-default-trace 0 $bin/backlogctl watch --trace -o json $d"
		"tty-default-trace 1 $bin/backlogctl watch --trace $d"
	)
	if [ -e "$bin/baseline" ]; then
		cases+=(
			"baseline-json-interval-100ms 0 $bin/baseline watch --interval 100ms -o json $d"
			"baseline-tty-interval-100ms 1 $bin/baseline watch --interval 100ms $d"
			"baseline-json-interval-10ms 0 $bin/baseline watch --interval 10ms -o json $d"
		)
	fi
	local n=${#cases[@]} r i
	: >"$bin/results"
	for ((r = 0; r < rounds; r++)); do
		for ((i = 0; i < n; i++)); do
			# shellcheck disable=SC2086 # the case is words
			cpu_run ${cases[(i + r) % n]}
		done
	done
	# Median CPU (user+sys), user and sys per case.
	local k
	for k in $(cut -d' ' -f1 "$bin/results" | sort -u); do
		awk -v k="$k" -v s="$secs" '$1 == k { u[++n] = $2; y[n] = $3; c[n] = $2 + $3; runs = runs " " ($2 + $3) }
			function med(a, n,   i, j, t) {
				for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			}
			END { printf "%-30s median cpu %.2fs (user %.2fs, sys %.2fs) = %.1f%% of one core; runs:%s\n",
				k, med(c, n), med(u, n), med(y, n), 100 * med(c, n) / s, runs }' "$bin/results"
	done
	if [ -n "${PROFILE:-}" ]; then
		perf record -g -o "$bin/perf.data" -- "$bin/backlogctl" watch -o json --duration "${secs}s" >/dev/null 2>&1
		perf report -i "$bin/perf.data" --stdio --no-children --percent-limit 1.5 2>/dev/null | grep -v '^$' | grep '%' | head -40
	fi
}

scrape_time() {
	local max=$1
	shift
	"$bin/backlogctl" exporter --web.listen-address 127.0.0.1:19597 --max-listeners "$max" "$@" 2>/dev/null &
	local pid=$!
	for _ in $(seq 50); do curl -fso /dev/null 127.0.0.1:19597/healthz && break; sleep 0.1; done
	local times="" t
	for _ in $(seq 10); do
		t=$(curl -fso /dev/null -w '%{time_total}' 127.0.0.1:19597/metrics)
		times="$times $t"
	done
	local series
	series=$(curl -fs 127.0.0.1:19597/metrics | grep -c '^backlogctl_' || true)
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	echo "$times" | awk -v m="$max" -v s="$series" '{
		for (i = 1; i <= NF; i++) { t += $i; if ($i > mx) mx = $i }
		printf "exporter --max-listeners %s'"${*:+ $*}"': first scrape %.1f ms, mean %.1f ms, max %.1f ms over %d scrapes, %d series\n", m, 1000*$1, 1000*t/NF, 1000*mx, NF, s }'
}

export -f cpu_run watch_cases scrape_time
export bin secs rounds PROFILE
[ -n "${EXPORTER_ONLY:-}" ] || in_netns_with 1000 bash -c watch_cases
[ -n "${WATCH_ONLY:-}" ] || in_netns_with 9000 bash -c 'scrape_time 1000; scrape_time 10000'
# 1,000 listeners each accepting a connection a second, so that --trace has
# evidence (an accept-wait histogram) for every one; the same without it.
[ -n "${WATCH_ONLY:-}" ] || BENCH_TRAFFIC=1 in_netns_with 1000 bash -c 'scrape_time 1000; scrape_time 1000 --trace'
