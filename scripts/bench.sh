#!/usr/bin/env bash
# Benchmark: APDU round trips through our PC/SC driver against the C floor (../shared/tools/pcsc_floor.c),
# on the same virtual card (../shared/tools/vicc_echo.c) behind the same pcscd, in the same run; prints both
# medians and the ratio; a full social security card read against APDU count × the floor; then the reader
# monitor's idle wake-ups per second; then ISO 8583 decode + encode against pyiso8583; then kioskd as a
# process: a whole activation with device latencies injected against the critical path, card-insertion
# event latency at a socket client, idle memory and wake-ups (mock and real pcscd), and start → READY=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh
tools="${KIOSK_FLOOR_TOOLS:-../shared/tools}"
[ -f "$tools/pcsc_floor.c" ] || kiosk_die "the C floor tools are not at $tools (set KIOSK_FLOOR_TOOLS)"

kiosk_require_packages
echo "==> building kiosk-bench (release) and the C floor tools"
for product in kiosk-bench kioskd kiosk-bank-sim kiosk-epp-sim; do
    swift build -c release --product "$product" 2>&1 | grep -E 'error|Build of product' || true
done
bench="$(swift build -c release --show-bin-path)/kiosk-bench"
[ -x "$bench" ] || kiosk_die "kiosk-bench did not build"
mkdir -p "$KIOSK_STATE_DIR"
gcc -O2 -o "$KIOSK_STATE_DIR/vicc_echo" "$tools/vicc_echo.c"
gcc -O2 -o "$KIOSK_STATE_DIR/pcsc_floor" "$tools/pcsc_floor.c" $(pkg-config --cflags --libs libpcsclite)

kiosk_write_vpcd_config
kiosk_start_pcscd
vicc_pid=""
cleanup() { [ -n "$vicc_pid" ] && kill "$vicc_pid" 2>/dev/null; kiosk_stop_pcscd; }
trap cleanup EXIT
"$KIOSK_STATE_DIR/vicc_echo" "$KIOSK_VPCD_BASE_PORT" &
vicc_pid=$!
for _ in $(seq 50); do
    timeout 2 pcsc_scan -r >/dev/null 2>&1 || true
    [ "$(timeout 3 pcsc_scan -n 2>/dev/null | grep -A2 'Virtual PCD 00 00' | grep -c 'Card inserted')" -ge 1 ] && break
    sleep 0.1
done
"$bench" pcsc --floor "$KIOSK_STATE_DIR/pcsc_floor" --reader "Virtual PCD 00 00" \
    --card-reader "Virtual PCD 1 00 00" --card-port $((KIOSK_VPCD_BASE_PORT + 2)) "$@"

echo
python3 -c 'import iso8583' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check pyiso8583
"$bench" iso8583

echo
rm -rf "$KIOSK_STATE_DIR/daemon-bench"
"$bench" daemon --kioskd "$(dirname "$bench")/kioskd" --bank-sim "$(dirname "$bench")/kiosk-bank-sim" --epp-sim "$(dirname "$bench")/kiosk-epp-sim" \
    --work "$KIOSK_STATE_DIR/daemon-bench" --pcsc-reader "Virtual PCD 1 00 00"
