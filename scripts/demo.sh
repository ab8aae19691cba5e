#!/usr/bin/env bash
# The product's main job, for a person to watch: one whole activation, every part real but the hardware.
#   - kiosk-bank-sim: the simulated bank, a separate process speaking signed HTTP on loopback;
#   - kiosk-epp-sim: the encrypting PIN pad, a separate process serving XFS4IoT over WebSocket, holding the bank's
#     TEST terminal master key; the clear PIN exists only there;
#   - kioskd --mock: the daemon, with the mock reader (a virtual 3.00 social security card, the virtual PSAM),
#     the ID-card module simulator on a pty, the EPP as its PIN pad, the SQLite journal, the kiosk socket;
#   - kioskctl activate: the kiosk screen, over the kiosk socket (protocol v1). With --simulate-customer it also
#     plays the customer: places the ID card and inserts the card through kioskd's simulator control socket,
#     types the PIN on the EPP (its control socket; never through kioskd), takes the cards.
# Then the journal (masked) and its audit chain, and the bank's ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh
kiosk_require_packages   # libpcsclite-dev is needed to build, even with the mock reader
swift build --product kioskd 2>&1 | grep -E 'error|Build complete' || true
swift build --product kioskctl 2>&1 | grep -E 'error|Build complete' || true
swift build --product kiosk-bank-sim 2>&1 | grep -E 'error|Build complete' || true
swift build --product kiosk-epp-sim 2>&1 | grep -E 'error|Build complete' || true
bin="$(swift build --show-bin-path)"

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

echo "==> the EPP (kiosk-epp-sim, XFS4IoT over WebSocket on loopback; the bank's TEST master key)"
"$bin/kiosk-epp-sim" --keys "$work/bank" --port 0 --control "$work/epp.sock" > "$work/epp.out" 2> "$work/epp.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$work/epp.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^listening on' "$work/epp.out" || kiosk_die "kiosk-epp-sim did not start (log: $(cat "$work/epp.log"))"
echo "    $(head -1 "$work/epp.out")"

echo "==> kioskd --mock (daemon log: $work/kioskd.log)"
KIOSKD_PIN_PAD_URL="$(head -1 "$work/epp.out" | sed 's/^listening on //')" \
    "$bin/kioskd" --mock --socket "$work/kiosk.sock" --journal "$work/journal.sqlite" --sim-control "$work/sim.sock" \
    --bank-profile "$work/bank/profile.json" 2> "$work/kioskd.log" &
pids+=($!)
for _ in $(seq 100); do grep -q ' ready' "$work/kioskd.log" 2>/dev/null && break; sleep 0.1; done
grep -q ' ready' "$work/kioskd.log" || { tail -20 "$work/kioskd.log"; kiosk_die "kioskd did not become ready"; }
# The EPP gets the bank's PIN key right after start: wait until the kiosk can take a customer.
for _ in $(seq 100); do "$bin/kioskctl" status --socket "$work/kiosk.sock" --json 2>/dev/null | grep -q '"ready" : true' && break; sleep 0.1; done
"$bin/kioskctl" status --socket "$work/kiosk.sock" | sed 's/^/    /'

echo "==> kioskctl activate (the kiosk screen; the customer is simulated)"
"$bin/kioskctl" activate --socket "$work/kiosk.sock" --simulate-customer "$work/sim.sock" --pin-pad-control "$work/epp.sock"

echo "==> kioskctl journal"
"$bin/kioskctl" journal --socket "$work/kiosk.sock"
"$bin/kioskctl" journal --verify --socket "$work/kiosk.sock"
echo "==> the bank's ledger"
"$bin/kiosk-bank-sim" ledger --url "$(head -1 "$work/bank.out" | sed 's/^listening on //')"
