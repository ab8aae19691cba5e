#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests through a real pcscd with the vpcd driver and our
# virtual cards. Installs the apt packages it needs (as root; otherwise prints the command), starts its
# own pcscd, stops it by its PID at the end, and fails loudly when any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/pcscd-env.sh

kiosk_require_packages

# pyiso8583 (PyPI): the independent ISO 8583 decoder the codec is checked against.
if ! python3 -c 'import iso8583' 2>/dev/null; then
    echo "==> installing pyiso8583"
    python3 -m pip install -q --disable-pip-version-check pyiso8583 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check --user pyiso8583 \
        || kiosk_die "pip install pyiso8583 failed"
fi
export KIOSK_PYISO8583=1

# jsonschema (PyPI): checks the kiosk socket's messages against docs/protocol/schemas.
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    echo "==> installing jsonschema"
    python3 -m pip install -q --disable-pip-version-check jsonschema 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check --user jsonschema \
        || kiosk_die "pip install jsonschema failed"
fi
export KIOSK_JSONSCHEMA=1

echo "==> checking module boundaries"
# Imports point down the layers of docs/architecture.md (the folder under Sources/ is the layer), and no
# product layer imports a simulator.
python3 scripts/check-layers.py || kiosk_die "an import goes against the layers (above); see docs/architecture.md"
for dir in Sources/Devices/PCSC/Raw Sources/Base/Bytes Sources/Base/APDU Sources/Devices/CardCore Sources/Base/KioskCrypto \
    Sources/Devices/SocialSecurityCard Sources/Devices/ResidentIDCard Sources/Base/Identity Sources/Base/Messages Sources/Bank/BankGateway; do
    [ -d "$dir" ] || kiosk_die "boundary check: $dir is missing (moved? update scripts/test.sh and docs/architecture.md)"
done
# Only Sources/Devices/PCSC/Raw talks to C; Bytes imports nothing, APDU only Bytes, CardCore only APDU, Bytes and Foundation.
bad=$(grep -rlE '^\s*(internal |public |private |fileprivate )?import CPCSCLite' Sources | grep -v '^Sources/Devices/PCSC/Raw/' || true)
[ -z "$bad" ] || kiosk_die "CPCSCLite imported outside Sources/Devices/PCSC/Raw: $bad"
bad=$(grep -rhE '^\s*(public |internal )?import ' Sources/Base/Bytes || true)
[ -z "$bad" ] || kiosk_die "Bytes must import nothing, found: $bad"
bad=$(grep -rhE '^\s*(public |internal )?import ' Sources/Base/APDU | grep -vE 'import Bytes$' || true)
[ -z "$bad" ] || kiosk_die "APDU may import only Bytes, found: $bad"
bad=$(grep -rhE '^\s*(public |internal )?import ' Sources/Devices/CardCore | grep -vE 'import (APDU|Bytes|Foundation|Synchronization)$' || true)
[ -z "$bad" ] || kiosk_die "CardCore may import only APDU, Bytes, Foundation and Synchronization, found: $bad"

bad=$(grep -rlE '^\s*(internal |public |private |fileprivate )?import COpenSSL' Sources | grep -v '^Sources/Base/KioskCrypto/' || true)
[ -z "$bad" ] || kiosk_die "COpenSSL imported outside Sources/Base/KioskCrypto: $bad"
# The card applications speak only CardChannel/CardConnection: never the PC/SC driver.
bad=$(grep -rlE '^\s*(public |internal )?import (PCSC|CPCSCLite)$' Sources/Devices/SocialSecurityCard Sources/Devices/ResidentIDCard Sources/Base/Identity Sources/Base/Messages || true)
[ -z "$bad" ] || kiosk_die "card applications must not import the PC/SC driver: $bad"

# No PIN digit enters kioskd: the PIN is typed on the EPP (kiosk-epp-sim in tests and the demo). Nothing kioskd
# runs refers to the in-process simulated PIN pad or builds a clear PIN block (only the EPP simulator and the
# simulated banks do, to check blocks); kioskd's simulator control refuses pin/key (DaemonEPPTests).
bad=$(grep -rnE 'SimulatedPINPad|PressedDigits|clearBlock\(|typeWhenAsked' Sources/Apps/kioskd Sources/Service Sources/Domain Sources/Devices Sources/Bank || true)
[ -z "$bad" ] || kiosk_die "kioskd's code paths must not take PIN digits: $bad"

# The bank interface knows no transport: no NIO, no HTTP client, no OpenSSL.
bad=$(grep -rhE '^\s*(public |internal )?import ' Sources/Bank/BankGateway | grep -vE 'import (Foundation|Identity|Messages)$' || true)
[ -z "$bad" ] || kiosk_die "BankGateway may import only Foundation, Identity and Messages, found: $bad"

echo "==> building (debug, with tests)"
mkdir -p "$KIOSK_STATE_DIR"
build_log="$KIOSK_STATE_DIR/build.log"
swift build --build-tests > "$build_log" 2>&1 || true
grep -q 'Build complete' "$build_log" || { grep -E 'error:' "$build_log" | head -40 >&2; kiosk_die "build failed"; }
# Our code builds without warnings (dependencies' warnings are theirs).
if grep -E "^$(pwd)/(Sources|Tests)/.*warning:" "$build_log" | sort -u | grep . >&2; then
    kiosk_die "the build has warnings from our code (above)"
fi

kiosk_write_vpcd_config
kiosk_start_pcscd
trap kiosk_stop_pcscd EXIT
kiosk_export_test_env

# Swift Testing starts every test at once. On this project's 2-core machines that put ~80 suites on a
# 2-thread cooperative pool together: tasks waited seconds to start (2.4 s measured), and tests with a
# wall-clock deadline failed about one full run in three. At most KIOSK_TEST_WIDTH tests run at a time
# (6: the pool's longest wait fell to 7 ms; the run takes ~73 s instead of ~66 s, bounded by the crash
# test). `swift test` has no switch for it, so the test bundle it builds runs directly, as it would.
width="${KIOSK_TEST_WIDTH:-6}"
bundle="$(swift build --show-bin-path)/CardKioskPackageTests.xctest"
[ -x "$bundle" ] || kiosk_die "the test bundle $bundle is missing after the build"
echo "==> swift test (Swift Testing, at most $width tests at a time)"
NO_COLOR=1 "$bundle" --testing-library swift-testing --experimental-maximum-parallelization-width "$width" "$@"
