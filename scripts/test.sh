#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests through a real pcscd with the vpcd driver and our
# virtual cards. Installs the apt packages it needs (as root; otherwise prints the command), starts its
# own pcscd, stops it by its PID at the end, and fails loudly when any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh

kiosk_require_packages

echo "==> building (debug, with tests)"
mkdir -p "$KIOSK_STATE_DIR"
build_log="$KIOSK_STATE_DIR/build.log"
if ! swift build --build-tests 2>&1 | tee "$build_log" | grep -E 'error:|Compiling|Build complete' | grep -v '^\[' ; then :; fi
grep -q 'Build complete' "$build_log" || { grep -E 'error:' "$build_log" | head -40 >&2; kiosk_die "build failed"; }
# Our code builds without warnings (dependencies' warnings are theirs).
if grep -E "^$(pwd)/(Sources|Tests)/.*warning:" "$build_log" | sort -u | grep . >&2; then
    kiosk_die "the build has warnings from our code (above)"
fi

kiosk_write_vpcd_config
kiosk_start_pcscd
trap kiosk_stop_pcscd EXIT
kiosk_export_test_env

echo "==> swift test"
swift test --skip-build "$@"
