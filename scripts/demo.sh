#!/usr/bin/env bash
# The product's main job, for a person to watch. For now: kioskd reads a resident ID card through the module
# simulator on a pty and a virtual 3.00 social security card (with the virtual PSAM) in the mock reader,
# logs both (masked) and whether they belong to the same person. Later issues grow this into a full
# activation with the simulated bank.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh
kiosk_require_packages   # libpcsclite-dev is needed to build, even with the mock reader
swift build --product kioskd 2>&1 | grep -E 'error|Build complete' || true
exec "$(swift build --show-bin-path)/kioskd" --mock --demo "$@"
