#!/usr/bin/env bash
# Runs the whole test command (scripts/test.sh) N times in a row and reports each run, the tests that failed,
# and the count: a flaky test is a failing test, and one run in three failing loses whole days of work.
#
#     scripts/soak-tests.sh 10            # logs in ${TMPDIR:-/tmp}/cardkiosk-soak/run-N.log
#     scripts/soak-tests.sh 5 --filter PCSCTests
#
# Extra arguments go to `swift test` in every run. Exits non-zero when any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:?usage: scripts/soak-tests.sh N [swift test arguments…]}"
shift
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "error: N must be a positive whole number, got '$runs'" >&2; exit 2; }
logs="${TMPDIR:-/tmp}/cardkiosk-soak"
mkdir -p "$logs"
passed=0
failed=0
for run in $(seq 1 "$runs"); do
    log="$logs/run-$run.log"
    started=$(date +%s)
    if bash scripts/test.sh "$@" > "$log" 2>&1; then
        passed=$((passed + 1))
        verdict="passed"
    else
        failed=$((failed + 1))
        verdict="FAILED"
    fi
    summary=$(grep -E '^(✔|✘) Test run with' "$log" | tail -1)
    echo "run $run/$runs: $verdict in $(( $(date +%s) - started )) s — ${summary:-no test summary (see $log)}"
    if [ "$verdict" = "FAILED" ]; then
        grep -E '^✘ Test ' "$log" | grep -v 'with [0-9]* test cases' | sed 's/^/    /' | head -20
        grep -E 'recorded an issue' "$log" | sed 's/^/    /' | head -10
    fi
done
echo "soak: $passed passed, $failed failed (logs: $logs)"
[ "$failed" -eq 0 ]
