"""`python -m bus_schemas export DIR`: one JSON Schema per event, for people who publish by hand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .registry import ENVELOPE_MODELS, EVENT_BODIES


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in EVENT_BODIES.items():
        for suffix, model in ((".body", body), (".envelope", ENVELOPE_MODELS[name])):
            path = directory / f"{name}{suffix}.schema.json"
            path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bus_schemas")
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser("export", help="write a JSON Schema per event type into DIR")
    export_cmd.add_argument("directory", type=Path)
    args = parser.parse_args()
    for path in export(args.directory):
        print(path)


if __name__ == "__main__":
    main()
