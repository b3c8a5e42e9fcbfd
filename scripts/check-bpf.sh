#!/usr/bin/env bash
# Checks that trace's committed eBPF objects are what the committed sources
# compile to: regenerates them with bpf2go into a temporary directory and
# compares the generated .o and .go with trace/sources.sha256 (clang 14's
# output is byte-reproducible). Needs clang and libbpf-dev.
set -euo pipefail
cd "$(dirname "$0")/../trace"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=$(sed -n 's|^//go:generate go tool bpf2go \(.*\)$|\1|p' gen.go)
# shellcheck disable=SC2086 # the flags are split as go generate splits them
eval go tool bpf2go -go-package trace -output-dir "$out" $args >/dev/null
sha256sum -c --quiet sources.sha256
for f in bpf_x86_bpfel.go bpf_x86_bpfel.o bpf_arm64_bpfel.go bpf_arm64_bpfel.o; do
	want=$(awk -v f="$f" '$2 == f {print $1}' sources.sha256)
	got=$(sha256sum "$out/$f" | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		echo "check-bpf: trace/$f is not what trace/bpf/trace.c compiles to: run go generate ./trace" >&2
		exit 1
	fi
done
echo "check-bpf: trace's eBPF objects match their sources"
