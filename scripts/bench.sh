#!/usr/bin/env bash
# Benchmarks `backlogctl inspect` beside ss(8) on a loaded network namespace.
#
# Run as root from the repository:  scripts/bench.sh [options]
#   --listeners N   listening sockets (default 9000)
#   --conns N       established loopback connections (default 40000; 2 fds each)
#   --synrecv N     half-open connections kept in SYN-RECV (default 200)
#   --runs N        measured rounds (default 21); cases alternate inside each round
#   --baseline BIN  also time another backlogctl binary (e.g. one built from main);
#                   repeatable, each labelled by its file name (for bisecting)
#   --shape S       spread: listeners in one process, connections and the
#                   listeners they go to in others (default); or one-owner:
#                   every listener in one process, connections in others
#   --no-owners     time only ss -ltnm (+ syn-recv) and --no-processes (quick bisecting)
#   --breakdown     also run the Go benchmarks inside the namespace and perf stat
#
# It creates a private network namespace (ip netns add backlogctl-bench-PID),
# starts scripts/benchload there to open and hold the sockets, prints a
# markdown table of medians, and removes the namespace and the helper on exit,
# Ctrl-C included. Only settings inside that namespace are changed
# (ip_local_port_range, tcp_synack_retries, one nftables table); the host's
# fs.* settings are only read, and the helper raises RLIMIT_NOFILE for itself.
set -euo pipefail
cd "$(dirname "$0")/.."

listeners=9000 conns=40000 synrecv=200 runs=21 baselines=() breakdown=0 shape=spread owners=1
while [ $# -gt 0 ]; do
	case "$1" in
	--listeners) listeners=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--synrecv) synrecv=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--baseline) baselines+=("$(realpath "$2")"); shift 2 ;;
	--shape) shape=$2; shift 2 ;;
	--no-owners) owners=0; shift ;;
	--breakdown) breakdown=1; shift ;;
	*) echo "scripts/bench.sh: unknown argument $1 (see the header of this script)" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/bench.sh: run as root (it creates a network namespace)" >&2
	exit 2
fi
for cmd in ip ss nft go; do
	command -v "$cmd" >/dev/null || { echo "scripts/bench.sh: $cmd not found (apt-get install iproute2 nftables golang)" >&2; exit 3; }
done

ns="backlogctl-bench-$$"
tmp=$(mktemp -d /tmp/backlogctl-bench.XXXXXX)
holder=""
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$holder" ] && kill -0 "$holder" 2>/dev/null; then
		kill "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
	fi
	# Anything still running in the namespace was started by this script.
	if ip netns list 2>/dev/null | grep -qw "$ns"; then
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "scripts/bench.sh: interrupted, cleaning up" >&2; cleanup; exit 130' INT TERM

echo "building into $tmp" >&2
go build -o "$tmp/backlogctl" ./cmd/backlogctl
go build -o "$tmp/benchload" ./scripts/benchload
if [ "$breakdown" = 1 ]; then
	go test -c -o "$tmp/inspect.test" ./inspect
	go test -c -o "$tmp/collect.test" ./collect
fi

ip netns add "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx ip link set lo up
# Inside the namespace only: ephemeral ports above every listener port, and
# half-open connections that live for the whole run.
nsx sysctl -qw net.ipv4.ip_local_port_range="20000 65000"
nsx sysctl -qw net.ipv4.tcp_synack_retries=255
# Drop the final ACK of handshakes to port 9999 so they stay in SYN-RECV.
nsx nft -f - <<'EOF'
table inet benchsynrecv {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 9999 tcp flags & (syn | ack | fin | rst) == ack drop
	}
}
EOF

echo "opening $listeners listeners, $conns connections, $synrecv half-open in $ns" >&2
nsx "$tmp/benchload" hold -listeners "$listeners" -conns "$conns" -synrecv "$synrecv" -shape "$shape" -ready "$tmp/ready" </dev/null &
holder=$!
for _ in $(seq 600); do
	[ -e "$tmp/ready" ] && break
	kill -0 "$holder" 2>/dev/null || { echo "scripts/bench.sh: the load helper failed (see above)" >&2; exit 1; }
	sleep 0.5
done
[ -e "$tmp/ready" ] || { echo "scripts/bench.sh: the load helper was not ready after 300s" >&2; exit 1; }
echo "load: $(cat "$tmp/ready")" >&2
echo "ss sees: $(nsx ss -Htln | wc -l) listeners, $(nsx ss -Htn state established | wc -l) established sockets, $(nsx ss -Htn state syn-recv | wc -l) syn-recv" >&2
echo "machine: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

bl="$tmp/backlogctl"
cases=(
	-case "ss -ltnm::ss -ltnm"
	-case "ss -ltnm + ss -tn state syn-recv::ss -ltnm&&ss -tn state syn-recv"
	-case "backlogctl inspect -o json --no-processes::$bl inspect -o json --no-processes"
)
for b in "${baselines[@]}"; do
	cases+=(-case "$(basename "$b") inspect -o json --no-processes::$b inspect -o json --no-processes")
done
if [ "$owners" = 1 ]; then
	cases+=(
		-case "ss -ltnp::ss -ltnp"
		-case "backlogctl inspect -o json::$bl inspect -o json"
	)
	for b in "${baselines[@]}"; do
		cases+=(-case "$(basename "$b") inspect -o json::$b inspect -o json")
	done
fi
nsx "$tmp/benchload" time -runs "$runs" "${cases[@]}"

if [ "$breakdown" = 1 ]; then
	echo
	echo "Go benchmarks inside the namespace (Live* dump this namespace's sockets):"
	nsx "$tmp/inspect.test" -test.run '^$' -test.bench . -test.benchmem -test.benchtime 20x
	# the snapshot a command asks for: the dump, the counters and tunables,
	# and (Owners) the /proc walk, as collect joins them
	nsx "$tmp/collect.test" -test.run '^$' -test.bench . -test.benchmem -test.benchtime 20x
	if command -v perf >/dev/null; then
		# user vs system time and page faults (each fault costs a few
		# microseconds here: the heap a run touches shows up as system time).
		pstat() {
			local n=$1
			shift
			echo "perf stat -r $n: $*"
			nsx perf stat -r "$n" -e task-clock,page-faults,user_time,system_time "$@" 2>&1 >/dev/null | grep -E 'task-clock|faults|_time|elapsed'
		}
		echo
		pstat 10 "$bl" inspect -o json --no-processes
		pstat 10 ss -ltnm
		pstat 10 ss -tn state syn-recv
		pstat 3 "$bl" inspect -o json
		pstat 3 ss -ltnp
		for b in "${baselines[@]}"; do
			pstat 10 "$b" inspect -o json --no-processes
			pstat 3 "$b" inspect -o json
		done
	fi
fi
