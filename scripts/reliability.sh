#!/usr/bin/env bash
# Produces the figures in docs/RELIABILITY.md (as root): every fuzz target for
# FUZZTIME (default 60s; 0 skips fuzzing), then the load, fault-injection,
# signal, planted-state and privilege tests, printing the figures they log.
# Everything runs in network (and mount) namespaces the tests create; nothing
# on the host changes.
#   FUZZTIME=5m CHURN_SECONDS=30 HOSTILE_SECONDS=10 scripts/reliability.sh
#   FUZZTIME=0 scripts/reliability.sh     # the write-fault sweep only
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FUZZTIME:-60s}" != 0 ]; then
	echo "== fuzzing, ${FUZZTIME:-60s} per target"
	FUZZTIME=${FUZZTIME:-60s} ./scripts/fuzz.sh
fi
echo "== load, faults, signals, planted state and privilege"
tests=(
	UnderChurn TestExporterUnderHostileClients
	TestTuneSurvivesSIGKILL SignalsRestoreBeforeExit TestNetnsSignalsReachTheInnerRun
	TestForceNewRollsBackToTheValuesBeforeEither TestRollbackKeepsAnAdministratorsEdit
	TestFailedRestoreStaysOwed TestTuneRefusesOverUnresolvedApply TestSetIsRecordedForRollback
	TestTuneStateDirFull TestApplyFailingMidwayRestoresEverything TestTuneLockContention
	TestRollbackRefusesPlantedState TestNetnsWritesRefuseGlobalKeys TestTuneDoesNotFollowPlantedSymlinks
	TestWrittenModesIgnoreUmask TestWriteDropIn TestPolicyErrorsDoNotPrintTheFile
	TestInspectWithoutRoot TestNoShellInvocations
)
run=$(IFS='|'; echo "${tests[*]}")
BACKLOGCTL_CHURN_SECONDS=${CHURN_SECONDS:-30} BACKLOGCTL_HOSTILE_SECONDS=${HOSTILE_SECONDS:-10} go test -count=1 -v -run "$run" ./... 2>&1 |
	grep -E 'churn:|hostile:|SIGKILL outcomes|signals during|signals to tune --netns|applies killed after|^--- (PASS|FAIL)|^FAIL|^ok' | grep -v -e 'no test files' -e 'no tests to run'
