#!/usr/bin/env bash
# The product's main job, for a person to watch. For now (foundation issue): kioskd with the mock reader,
# a virtual social security card inserted, read through the channel (T=0 rules), and taken out.
# Later issues grow this into a full activation with the simulated bank.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh
kiosk_require_packages   # libpcsclite-dev is needed to build, even with the mock reader
swift build --product kioskd 2>&1 | grep -E 'error|Build complete' || true
exec "$(swift build --show-bin-path)/kioskd" --mock --demo "$@"
