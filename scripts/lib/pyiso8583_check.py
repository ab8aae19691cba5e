#!/usr/bin/env python3
"""Decodes ISO 8583 messages with pyiso8583 (an independent decoder from PyPI) using a CardKiosk field-spec
file (Config/iso8583/*.json), so tests can compare its fields with ours.

Usage: pyiso8583_check.py SPEC.json decode   < hex lines   -> one JSON object of fields per line
       pyiso8583_check.py SPEC.json bench N  < hex lines   -> messages per second for decode + encode
"""
import json
import sys
import time

import iso8583


def convert(ours):
    spec = {
        "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": "header"},
        "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "MTI"}
        if ours["mti"] == "bcd" else {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 4, "desc": "MTI"},
    }
    bitmap = {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "bitmap"} if ours["bitmap"] == "binary" \
        else {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 16, "desc": "bitmap"}
    spec["p"] = dict(bitmap)
    spec["1"] = dict(bitmap)
    for number, field in ours["fields"].items():
        kind = field.get("lengthKind", "fixed")
        digits = {"fixed": 0, "ll": 2, "lll": 3, "llll": 4}[kind]
        lenc = field.get("lengthEncoding", "bcd")
        len_type = 0 if digits == 0 else (digits if lenc == "ascii" else ((digits + 1) // 2 if lenc == "bcd" else (1 if digits <= 2 else 2)))
        unit = field.get("lengthUnit", "units")
        data = field["data"]
        entry = {"len_enc": "b" if lenc == "binary" else lenc, "len_type": len_type, "max_len": field["length"], "desc": field["name"]}
        if data == "ascii":
            entry.update(data_enc="ascii", len_count="bytes")
        elif data == "binary":
            entry.update(data_enc="b", len_count="nibbles" if unit == "nibbles" else "bytes")
        else:  # bcd digits
            entry.update(data_enc="b", len_count="bytes" if unit == "bytes" else "nibbles")
            if unit != "bytes":
                pad = field.get("padNibble", "0")
                if field.get("padding", "left") == "left":
                    entry["left_pad"] = pad
                else:
                    entry["right_pad"] = pad
        spec[number] = entry
    return spec


def main():
    ours = json.load(open(sys.argv[1]))
    spec = convert(ours)
    lines = [bytes.fromhex(line.strip()) for line in sys.stdin if line.strip()]
    if sys.argv[2] == "decode":
        for raw in lines:
            doc, _ = iso8583.decode(bytearray(raw), spec)
            out = {k: v for k, v in doc.items() if k not in ("h", "p", "1")}
            print(json.dumps(out, sort_keys=True))
    else:
        rounds = int(sys.argv[3])
        docs = [iso8583.decode(bytearray(raw), spec)[0] for raw in lines]
        start = time.perf_counter()
        for _ in range(rounds):
            for raw in lines:
                doc, _ = iso8583.decode(bytearray(raw), spec)
                iso8583.encode(doc, spec)
        elapsed = time.perf_counter() - start
        print(f"{rounds * len(lines) / elapsed:.1f}")


if __name__ == "__main__":
    main()
