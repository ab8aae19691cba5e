#!/usr/bin/env bash
# The product's main job, for a person to watch: one whole activation, every part real but the hardware.
#   - kiosk-bank-sim: the simulated bank, a separate process speaking signed HTTP on loopback;
#   - kioskd --mock: the daemon, with the mock reader (a virtual 3.00 social security card, the virtual PSAM),
#     the ID-card module simulator on a pty, the simulated PIN pad, the SQLite journal, the kiosk socket;
#   - kioskctl activate: the kiosk screen, over the kiosk socket (protocol v1). With --simulate-customer it also
#     plays the customer through kioskd's simulator control socket: places the ID card, inserts the card, types
#     the PIN on the PIN pad (never through the kiosk socket), takes the cards.
# Then the journal (masked) and its audit chain. `scripts/demo.sh --in-process` runs the same activation inside
# one kioskd process instead (kioskd --mock --demo), logging every screen.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh
kiosk_require_packages   # libpcsclite-dev is needed to build, even with the mock reader
swift build --product kioskd 2>&1 | grep -E 'error|Build complete' || true
swift build --product kioskctl 2>&1 | grep -E 'error|Build complete' || true
swift build --product kiosk-bank-sim 2>&1 | grep -E 'error|Build complete' || true
bin="$(swift build --show-bin-path)"
if [ "${1:-}" = "--in-process" ]; then exec "$bin/kioskd" --mock --demo; fi

work="$(mktemp -d "${TMPDIR:-/tmp}/cardkiosk-demo.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> the simulated bank (kiosk-bank-sim, signed HTTP on loopback)"
"$bin/kiosk-bank-sim" serve --keys "$work/bank" --port 0 > "$work/bank.out" 2> "$work/bank.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$work/bank.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^listening on' "$work/bank.out" || kiosk_die "kiosk-bank-sim did not start (log: $(cat "$work/bank.log"))"
echo "    $(head -1 "$work/bank.out")"

echo "==> kioskd --mock (daemon log: $work/kioskd.log)"
"$bin/kioskd" --mock --socket "$work/kiosk.sock" --journal "$work/journal.sqlite" --sim-control "$work/sim.sock" \
    --bank-profile "$work/bank/profile.json" 2> "$work/kioskd.log" &
pids+=($!)
for _ in $(seq 100); do grep -q ' ready' "$work/kioskd.log" 2>/dev/null && break; sleep 0.1; done
grep -q ' ready' "$work/kioskd.log" || { tail -20 "$work/kioskd.log"; kiosk_die "kioskd did not become ready"; }
"$bin/kioskctl" status --socket "$work/kiosk.sock" | sed 's/^/    /'

echo "==> kioskctl activate (the kiosk screen; the customer is simulated)"
"$bin/kioskctl" activate --socket "$work/kiosk.sock" --simulate-customer "$work/sim.sock"

echo "==> kioskctl journal"
"$bin/kioskctl" journal --socket "$work/kiosk.sock"
"$bin/kioskctl" journal --verify --socket "$work/kiosk.sock"
echo "==> the bank's ledger"
"$bin/kiosk-bank-sim" ledger --url "$(head -1 "$work/bank.out" | sed 's/^listening on //')"
