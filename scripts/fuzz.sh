#!/usr/bin/env bash
# Runs the libFuzzer target for the pure codecs (APDU, BER-TLV, T=0 rules) with AddressSanitizer.
# Usage: scripts/fuzz.sh [seconds]   (default 60). Crashes are written as crash-* in the repo root;
# keep each one as a regression fixture in Tests/APDUTests/Fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
# SwiftPM gives each compile only one of two --sanitize options (which one varies from build to build) and the
# link both; -Xswiftc pins the compile flags, so the objects always carry coverage counters and ASan.
build() {
    ENABLE_FUZZ=1 swift build --scratch-path .build-fuzz --product FuzzAPDU -c debug \
        --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address "$@"
}
instrumented() {
    local out; out=$(SWIFT_BACKTRACE=enable=no "$1" -runs=1 2>&1 || true)
    grep -q 'Loaded 1 modules.*inline 8-bit counters' <<< "$out"
}

build >/dev/null
bin="$(build --show-bin-path)/FuzzAPDU"
instrumented "$bin" || { echo "error: FuzzAPDU has no coverage instrumentation" >&2; exit 1; }

corpus=".build-fuzz-corpus/apdu"
mkdir -p "$corpus"
# Seeds: vectors from ../shared/docs/cards.md §7, and every past crash.
printf '\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF' > "$corpus/select-ssse"
printf '\x80\xA8\x00\x00\x0B\x83\x09\x00\x00\x00\x00\x00\x00\x00\x01\x56\x00' > "$corpus/gpo"
printf '\x6F\x19\x84\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF\xA5\x06\x9F\x0C\x03\x86\x01\x03' > "$corpus/fci"
printf '\x02\x61\x05\x07\x01\x02\x03\x04\x05\x90\x00' > "$corpus/t0-chain"
cp Tests/APDUTests/Fixtures/*.bin "$corpus/" 2>/dev/null || true
SWIFT_BACKTRACE=enable=no "$bin" "$corpus" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
