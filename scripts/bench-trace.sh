#!/usr/bin/env bash
# Measures what `backlogctl trace` costs a busy loopback server: connections
# per second and CPU per connection of scripts/benchconn with and without
# trace attached, and trace's own CPU and peak RSS. Each run is in a private
# network namespace (nothing on the host changes); runs alternate off/on so
# both see the same background load. Results go in docs/BENCHMARKS-trace.md.
#
# With BASE=<git revision> a round also runs that revision's trace ("base"),
# so an older build and this one are compared in the same run. With STATS=1
# a last run (not in the comparison) reports each program's run count and
# run time from the kernel's BPF statistics, switched on only for that run.
#
# Usage (as root): [BASE=main] [STATS=1] scripts/bench-trace.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-5}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/backlogctl" ./cmd/backlogctl
go build -o "$bin/benchconn" ./scripts/benchconn
modes=(off on)
if [ -n "${BASE:-}" ]; then
	mkdir "$bin/base"
	git archive "$BASE" | tar -x -C "$bin/base"
	(cd "$bin/base" && go build -o "$bin/backlogctl-base" ./cmd/backlogctl)
	modes=(off base on)
fi

# run MODE [STATS]: one benchconn run in a fresh namespace, with trace
# attached there when MODE is "on" (this build) or "base" (BASE's); prints
# "MODE conns secs conn/s cpu-us/conn [trace-cpu-s trace-maxrss-kb]", and
# with STATS the programs' "prog ..." lines (see scripts/benchconn).
run() {
	unshare -n bash -euo pipefail -c '
		ip link set lo up
		mode=$1 bin=$2 secs=$3 stats=$4
		exe=$bin/backlogctl
		[ "$mode" = base ] && exe=$bin/backlogctl-base
		if [ "$mode" != off ]; then
			rm -f "$bin/trace.out"
			/usr/bin/time -f "%U %S %M" -o "$bin/trace.time" "$exe" trace --interval 1s -o json >"$bin/trace.out" 2>"$bin/trace.err" &
			tpid=$!
			# the first JSON line means the programs are attached
			until [ -s "$bin/trace.out" ]; do sleep 0.1; done
		fi
		flags=()
		[ -n "$stats" ] && flags=(-bpf-stats bl_)
		result=$("$bin/benchconn" -duration "${secs}s" "${flags[@]}" 2>"$bin/bench.err") || { cat "$bin/bench.err" >&2; exit 1; }
		if [ "$mode" != off ]; then
			kill -TERM "$(pgrep -P "$tpid")" 2>/dev/null || kill -TERM "$tpid"
			wait "$tpid" || true
			read -r u s m <"$bin/trace.time"
			tcpu=$(echo "$u + $s" | bc)
			echo "$mode $result $tcpu $m"
		else
			echo "off $result"
		fi
		grep "^prog " "$bin/bench.err" || true
	' _ "$1" "$bin" "$secs" "${2:-}"
}

n=${#modes[@]}
for ((i = 0; i < rounds; i++)); do
	# rotate the order each round so no mode always runs first
	for ((j = 0; j < n; j++)); do run "${modes[(i + j) % n]}"; done
done | tee "$bin/results"

# Runs come in rounds: the paired differences within a round are steadier
# than the medians of each side on a shared machine.
awk -v n="$n" '
	function median(a, k,   i, j, t) {
		for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	{ rate[$1] = $4; cpu[$1] = $5; if ($1 != "off") { tc[$1, ++cnt[$1]] = $6; tr[$1, cnt[$1]] = $7 / 1024 } }
	NR % n == 0 {
		r++; r0[r] = rate["off"]
		for (m in rate) if (m != "off") {
			dr[m, r] = (rate[m] - rate["off"]) / rate["off"] * 100; dc[m, r] = cpu[m] - cpu["off"]; rr[m, r] = rate[m]
			seen[m] = 1
		}
	}
	END {
		printf "median conn/s off: %.0f (%d rounds)\n", median(r0, r), r
		for (m in seen) {
			delete a; for (i = 1; i <= r; i++) a[i] = dr[m, i]; x = median(a, r)
			delete b; for (i = 1; i <= r; i++) b[i] = dc[m, i]; y = median(b, r)
			delete c; for (i = 1; i <= r; i++) c[i] = rr[m, i]; z = median(c, r)
			delete d; for (i = 1; i <= cnt[m]; i++) d[i] = tc[m, i]; u = median(d, cnt[m])
			delete e; for (i = 1; i <= cnt[m]; i++) e[i] = tr[m, i]; v = median(e, cnt[m])
			printf "%s: median conn/s %.0f; paired change %+.1f%%; added load CPU/conn %+.2f us; trace CPU %.2f s, peak RSS %.1f MiB\n", m, z, x, y, u, v
		}
	}' "$bin/results"

if [ -n "${STATS:-}" ]; then
	echo "per-program run time (BPF_ENABLE_STATS), one run of ${secs}s:"
	for m in "${modes[@]}"; do
		[ "$m" = off ] && continue
		run "$m" stats
	done
fi
