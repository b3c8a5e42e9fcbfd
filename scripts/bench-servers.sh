#!/usr/bin/env bash
# Measures what backlogctl's eBPF tracing costs real servers under a real
# client (scripts/benchservers): nginx, a Go net/http server and lighttpd
# under wrk, with one connection per request and kept alive, and dd's
# one-byte reads and writes (a process that makes no connection), each in a
# private network namespace with the server on CPU 1 and wrk and the tracer
# on CPU 0. Every case (nothing attached, no-op programs on queue mode's two
# busy hooks, trace --trace-mode queue with no report during the chunk, trace
# --trace-mode queue, --trace-mode full, exporter --trace as shipped) runs
# once a round, in rotated order, against the same load;
# then one chunk counts how often each hook fires per request (-fires)
# and one per traced mode gives the programs' own run times (-stats).
# Results go in docs/BENCHMARKS-trace.md.
#
# Usage (as root): scripts/bench-servers.sh [rounds] [chunk-seconds] [server/shape ...]
#   e.g. scripts/bench-servers.sh 24 2 nginx/close go/keepalive dd
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-24}
chunk=${2:-2}
shift $(( $# > 2 ? 2 : $# ))
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(nginx/close nginx/keepalive go/close go/keepalive lighttpd/close lighttpd/keepalive dd)
for cmd in wrk nginx lighttpd taskset unshare dd; do
	command -v "$cmd" >/dev/null || { echo "bench-servers: $cmd not found (apt-get install wrk nginx lighttpd util-linux coreutils)" >&2; exit 2; }
done
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/backlogctl" ./cmd/backlogctl
go build -o "$bin/benchservers" ./scripts/benchservers
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) on $(uname -r), $(nproc) CPUs"
for r in "${runs[@]}"; do
	server=${r%%/*} shape=${r#*/}
	[ "$server" = dd ] && shape=none
	echo
	"$bin/benchservers" -backlogctl "$bin/backlogctl" -server "$server" -shape "$shape" \
		-rounds "$rounds" -chunk "${chunk}s" -cases noop,queue-unread,queue,full,exporter -stats -fires
done
