#!/usr/bin/env bash
# Measures what `backlogctl trace` costs a busy loopback server: connections
# per second and CPU per connection of scripts/benchconn with and without
# trace attached, and trace's own CPU and peak RSS. Each run is in a private
# network namespace (nothing on the host changes); runs alternate off/on so
# both see the same background load. Results go in docs/BENCHMARKS-trace.md.
#
# Usage (as root): scripts/bench-trace.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${2:-5}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/backlogctl" ./cmd/backlogctl
go build -o "$bin/benchconn" ./scripts/benchconn

# run MODE: one benchconn run in a fresh namespace, with trace attached
# there when MODE is "on"; prints "MODE conns secs conn/s cpu-us/conn
# [trace-cpu-s trace-maxrss-kb]".
run() {
	unshare -n bash -euo pipefail -c '
		ip link set lo up
		mode=$1 bin=$2 secs=$3
		if [ "$mode" = on ]; then
			/usr/bin/time -f "%U %S %M" -o "$bin/trace.time" "$bin/backlogctl" trace --interval 1s -o json >"$bin/trace.out" 2>"$bin/trace.err" &
			tpid=$!
			# the first JSON line means the programs are attached
			until [ -s "$bin/trace.out" ]; do sleep 0.1; done
		fi
		result=$("$bin/benchconn" -duration "${secs}s")
		if [ "$mode" = on ]; then
			kill -TERM "$(pgrep -P "$tpid")" 2>/dev/null || kill -TERM "$tpid"
			wait "$tpid" || true
			read -r u s m <"$bin/trace.time"
			tcpu=$(echo "$u + $s" | bc)
			echo "on $result $tcpu $m"
		else
			echo "off $result"
		fi
	' _ "$1" "$bin" "$secs"
}

for ((i = 0; i < rounds; i++)); do
	if ((i % 2 == 0)); then run off; run on; else run on; run off; fi
done | tee "$bin/results"

# Runs come in off/on pairs from the same round: the paired differences are
# steadier than the medians of each side on a shared machine.
awk '
	function median(a, n,   i, j, t) {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$1 == "off" { off_rate = $4; off_cpu = $5 }
	$1 == "on"  { on_rate = $4; on_cpu = $5; tcpu[++non] = $6; trss[non] = $7 / 1024 }
	NR % 2 == 0 { n++; drate[n] = (on_rate - off_rate) / off_rate * 100; dcpu[n] = on_cpu - off_cpu; r0[n] = off_rate; r1[n] = on_rate }
	END {
		printf "median conn/s: off %.0f, on %.0f\n", median(r0, n), median(r1, n)
		printf "median paired change in conn/s: %+.1f%%\n", median(drate, n)
		printf "median paired added load CPU per connection: %+.2f us\n", median(dcpu, n)
		printf "trace own CPU per run (median): %.2f s; peak RSS (median) %.1f MiB\n", median(tcpu, non), median(trss, non)
	}' "$bin/results"
