#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for FUZZTIME each (default
# 20000x: that many executions) and prints one line per target: package,
# target, executions, seconds. CI runs it briefly; docs/RELIABILITY.md records
# a longer run.
#   FUZZTIME=5m scripts/fuzz.sh
# A count is the default because a duration can end in a bare "context
# deadline exceeded" failure on a starved machine with Go 1.26
# (go.dev/issue/75804); that line alone, with no input written under
# testdata/fuzz/, is that race and not a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-20000x}
status=0
while IFS=: read -r file target; do
	pkg=$(dirname "$file")
	log=$(mktemp)
	start=$(date +%s)
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
		result=ok
	else
		result=FAIL
		status=1
	fi
	secs=$(( $(date +%s) - start ))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
	printf '%s\t%s\t%s\texecs=%s\t%ss\n' "$result" "$pkg" "$target" "${execs:-?}" "$secs"
	if [ "$result" = FAIL ]; then
		sed 's/^/    /' "$log" | tail -30
	fi
	rm -f "$log"
done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort)
exit $status
