#!/usr/bin/env python3
"""Validates kiosk protocol v1 messages (one JSON object per line on stdin) against docs/protocol/schemas with
the jsonschema package (PyPI): the envelope for every message, and the payload schema named after the message
(NAME.json for events, NAME.completion.json / NAME.command.json, acknowledge.refused.json for refusals).
Prints one line per message: `ok NAME` or `FAIL NAME: reason`; exits 1 when any failed."""
import json
import pathlib
import sys

import jsonschema

schemas = pathlib.Path(sys.argv[1])
load = lambda name: json.loads((schemas / f"{name}.json").read_text())
envelope = load("envelope")
failed = False
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    message = json.loads(line)
    header = message.get("header", {})
    name, kind = header.get("name", "?"), header.get("type")
    try:
        jsonschema.validate(message, envelope)
        candidates = {"event": [name], "unsolicited": [name], "completion": [f"{name}.completion"], "command": [f"{name}.command"],
                      "acknowledge": ["acknowledge.refused"] if header.get("status") else []}[kind]
        for candidate in candidates:
            if (schemas / f"{candidate}.json").exists():
                jsonschema.validate(message["payload"], load(candidate))
        print(f"ok {name} {kind}")
    except jsonschema.ValidationError as error:
        failed = True
        print(f"FAIL {name} {kind}: {error.message}")
sys.exit(1 if failed else 0)
