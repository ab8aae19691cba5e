#!/usr/bin/env python3
"""Checks that imports point down the layers of docs/architecture.md.

Sources/<Layer>/<Target>/… : the folder gives each of our targets its layer. Every `import X` of one of
our targets must be allowed by the table below; imports of outside modules are SwiftPM's business (a
target can only import what its Package.swift entry lists). Prints each violation and exits 1 if any.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources")

PRODUCT = ["Base", "Devices", "Bank", "Domain", "Service"]
ALLOWED = {
    "Base": {"Base"},
    "Devices": {"Base", "Devices"},
    "Bank": {"Base", "Bank"},
    "Domain": {"Base", "Devices", "Bank", "Domain"},
    "Service": {"Base", "Devices", "Bank", "Domain", "Service"},
    "Simulators": set(PRODUCT) | {"Simulators"},
    "Apps": set(PRODUCT) | {"Simulators"},
}
IMPORT = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:public |internal |package |private |fileprivate )?import (?:(?:struct|class|enum|protocol|func|var|typealias) )?(\w+)")


def main() -> int:
    layer_of = {}
    for layer in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, layer)
        if not os.path.isdir(path):
            continue
        if layer not in ALLOWED:
            print(f"Sources/{layer}: not a layer of docs/architecture.md ({', '.join(ALLOWED)})")
            return 1
        for target in os.listdir(path):
            if os.path.isdir(os.path.join(path, target)):
                layer_of[target] = layer
    problems = []
    for target, layer in sorted(layer_of.items()):
        for directory, _, files in os.walk(os.path.join(ROOT, layer, target)):
            for name in sorted(files):
                if not name.endswith(".swift"):
                    continue
                file = os.path.join(directory, name)
                with open(file, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        match = IMPORT.match(line)
                        if not match or match.group(1) not in layer_of:
                            continue
                        imported = match.group(1)
                        their = layer_of[imported]
                        relative = os.path.relpath(file, os.path.join(ROOT, ".."))
                        if their not in ALLOWED[layer]:
                            problems.append(f"{relative}:{number}: {target} ({layer}) imports {imported} ({their})")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import(s) against the layers of docs/architecture.md")
        return 1
    print(f"layers: {len(layer_of)} targets in {len(set(layer_of.values()))} layers, every import points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
