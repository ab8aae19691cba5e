#!/usr/bin/env bash
# The product's main job, for a person to watch: kioskd does one whole activation. A resident ID card is read
# through the module simulator on a pty, a virtual 3.00 social security card (with the virtual PSAM) in the
# mock reader; the details are checked and confirmed, a new PIN is typed twice on the simulated PIN pad, the
# simulated bank (real HTTP on loopback, SM2-signed) applies it once, the SQLite journal records it, and the
# cards are taken. Every screen message is shown in Chinese and English; personal data is masked.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh
kiosk_require_packages   # libpcsclite-dev is needed to build, even with the mock reader
swift build --product kioskd 2>&1 | grep -E 'error|Build complete' || true
exec "$(swift build --show-bin-path)/kioskd" --mock --demo "$@"
