#!/usr/bin/env bash
# Runs the libFuzzer targets with AddressSanitizer, each for a set time.
# Usage: scripts/fuzz.sh [seconds per target] [target ...]   (default 60 s; all four targets)
#   FuzzAPDU                 command/response APDUs, BER-TLV (strict and EMV), T=0 rules
#   FuzzSocialSecurityCard   SSSE records and FCI, GPO/AFL/DOL, payment directories and records, track 2,
#                            GB18030, the trace redactor, and a whole card read fed with arbitrary answers
#   FuzzIDModule             ID-card module frames (streaming and strict), read responses, the text block
#   FuzzISO8583              the ISO 8583 decoder (UnionPay spec) and the TCP frame reader
# Crashes are written as crash-* in the repo root; keep each one as a regression fixture in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzAPDU FuzzSocialSecurityCard FuzzIDModule FuzzISO8583)
# SwiftPM gives each compile only one of two --sanitize options (which one varies from build to build) and the
# link both; -Xswiftc pins the compile flags, so the objects always carry coverage counters and ASan.
build() {
    local product="$1"; shift
    ENABLE_FUZZ=1 swift build --scratch-path .build-fuzz --product "$product" -c debug \
        --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address "$@"
}
instrumented() {
    local out; out=$(SWIFT_BACKTRACE=enable=no "$1" -runs=1 2>&1 || true)
    grep -q 'Loaded 1 modules.*inline 8-bit counters' <<< "$out"
}

seed_apdu() {
    local corpus="$1"
    # Vectors from ../shared/docs/cards.md §7, and every past crash.
    printf '\x00\xA4\x04\x00\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF' > "$corpus/select-ssse"
    printf '\x80\xA8\x00\x00\x0B\x83\x09\x00\x00\x00\x00\x00\x00\x00\x01\x56\x00' > "$corpus/gpo"
    printf '\x6F\x19\x84\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF\xA5\x06\x9F\x0C\x03\x86\x01\x03' > "$corpus/fci"
    printf '\x02\x61\x05\x07\x01\x02\x03\x04\x05\x90\x00' > "$corpus/t0-chain"
    cp Tests/APDUTests/Fixtures/*.bin "$corpus/" 2>/dev/null || true
}

seed_ssc() {
    local corpus="$1"
    # First byte = target (see Fuzz/FuzzSocialSecurityCard/main.swift); the rest from cards.md §7.
    printf '\x00\x01\x10\x33\x03\x00\xD1\x56\x00\x00\x05\x99\x11\x01\x45\xFF\xFF\xFF\xFF' > "$corpus/record"
    printf '\x01\x6F\x19\x84\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF\xA5\x06\x9F\x0C\x03\x86\x01\x03' > "$corpus/fci"
    printf '\x02\x80\x12\x7C\x00\x08\x01\x02\x00\x10\x01\x04\x00\x18\x01\x03\x00\x20\x01\x01\x00' > "$corpus/gpo1"
    printf '\x02\x77\x0E\x82\x02\x1C\x00\x94\x08\x08\x01\x01\x00\x10\x01\x03\x01' > "$corpus/gpo2"
    printf '\x03\x9F\x7A\x01\x9F\x02\x06\x5F\x2A\x02' > "$corpus/pdol"
    printf '\x04\x70\x0C\x5A\x0A\x62\x28\x23\x00\x29\x00\x00\x05\x27\x4F' > "$corpus/pan-record"
    printf '\x05\xD5\xC5\xC8\xFD\x00\x00' > "$corpus/gbk"
    printf '\x06\x03\x04\x32\x2E\x30\x30\x08\x12110105194912310 02X' > "$corpus/values"
    printf '\x07\x1D\x6F\x19\x84\x0F\x73\x78\x31\x2E\x73\x68\x2E\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF\xA5\x06\x9F\x0C\x03\x86\x01\x03\x90\x00\x02\x90\x00\x08\x03\x04\x32\x2E\x30\x30\x90\x00' > "$corpus/read"
    cp Tests/SocialSecurityCardTests/Fixtures/*.bin "$corpus/" 2>/dev/null || true
}

seed_idmodule() {
    local corpus="$1"
    # First byte = chunk size and fingerprint flag; then frames from cards.md §7.
    printf '\x03\xAA\xAA\xAA\x96\x69\x00\x04\x00\x00\x90\x94' > "$corpus/status-ok"
    printf '\x00\xAA\xAA\xAA\x96\x69\x00\x08\x00\x00\x9F\x00\x00\x00\x00\x97\xAA\xAA\xAA\x96\x69\x00\x04\x00\x00\x80\x84' > "$corpus/find"
    printf '\x05\x00\x13\xAA\xAA\xAA\x96\x69\x00\x03\x30\x01\x32' > "$corpus/noise-read"
    cp Fuzz/Seeds/FuzzIDModule/*.bin "$corpus/"
}

for target in "${targets[@]}"; do
    echo "==> $target for ${seconds}s"
    build "$target" >/dev/null
    bin="$(build "$target" --show-bin-path)/$target"
    instrumented "$bin" || { echo "error: $target has no coverage instrumentation" >&2; exit 1; }
    corpus=".build-fuzz-corpus/$target"
    mkdir -p "$corpus"
    case "$target" in
        FuzzAPDU) seed_apdu "$corpus" ;;
        FuzzSocialSecurityCard) seed_ssc "$corpus" ;;
        FuzzIDModule) seed_idmodule "$corpus" ;;
        FuzzISO8583) cp Fuzz/Seeds/FuzzISO8583/*.bin "$corpus/" ;;
    esac
    SWIFT_BACKTRACE=enable=no "$bin" "$corpus" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 \
        | grep -E 'stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|Done' || true
    ls crash-* >/dev/null 2>&1 && { echo "error: $target found a crash (crash-* above)" >&2; exit 1; }
done
echo "==> no crashes"
