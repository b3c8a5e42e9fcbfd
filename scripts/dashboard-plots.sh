#!/usr/bin/env bash
# Renders docs/dashboard/*.png (as root): the dashboard's queries over a real
# overload, from the suite's own run (dashboard.TestDashboardQueriesReturnData)
# against a real Prometheus, in a network namespace the test creates.
#   SECONDS_RUN=90 scripts/dashboard-plots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v gnuplot >/dev/null || { apt-get install -y -qq gnuplot-nox >/dev/null; }
BACKLOGCTL_DASHBOARD_PLOTS="$PWD/docs/dashboard" BACKLOGCTL_DASHBOARD_SECONDS=${SECONDS_RUN:-90} \
	go test -count=1 -v -timeout 10m -run TestDashboardQueriesReturnData ./dashboard/ |
	grep -E 'plotted|: |^--- |^ok|^FAIL'
