#!/usr/bin/env bash
# Produces the figures in docs/RELIABILITY.md (as root): every fuzz target for
# FUZZTIME (default 60s), then the load, fault-injection and privilege tests,
# printing the figures they log. Everything runs in network (and mount)
# namespaces the tests create; nothing on the host changes.
#   FUZZTIME=5m CHURN_SECONDS=30 HOSTILE_SECONDS=10 scripts/reliability.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== fuzzing, ${FUZZTIME:-60s} per target"
FUZZTIME=${FUZZTIME:-60s} ./scripts/fuzz.sh
echo "== load, faults and privilege"
BACKLOGCTL_CHURN_SECONDS=${CHURN_SECONDS:-30} BACKLOGCTL_HOSTILE_SECONDS=${HOSTILE_SECONDS:-10} go test -count=1 -v \
	-run 'UnderChurn|TestExporterUnderHostileClients|TestTuneSurvivesSIGKILL|SignalsRestoreBeforeExit|TestFailedRestoreStaysOwed|TestTuneRefusesOverUnresolvedApply|TestSetIsRecordedForRollback|TestTuneStateDirFull|TestTuneDoesNotFollowPlantedSymlinks|TestWrittenModesIgnoreUmask|TestWriteDropIn|TestInspectWithoutRoot|TestNoShellInvocations|TestApplyFailingMidwayRestoresEverything|TestTuneLockContention' \
	./... 2>&1 | grep -E 'churn:|hostile:|SIGKILL outcomes|signals during|^--- (PASS|FAIL)|^FAIL|^ok' | grep -v 'no test files'
