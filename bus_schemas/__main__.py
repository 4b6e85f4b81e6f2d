"""`python -m bus_schemas export DIR`: one JSON Schema per event, for people who publish by hand.
`python -m bus_schemas ui-schema [FILE]`: one JSON Schema document with every shape the browser UI
reads, from which web/src/generated/bus.ts is generated (`make ui-types`; tests/test_ui_types.py
fails when the committed file no longer matches)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from pydantic_core import core_schema

from .actions import Action
from .approval import ApprovalKind, ApprovalRecord, ApprovalRequest
from .budgets import BudgetList
from .chat import IssuedCommand, SourceMemory
from .evals import EvalResult, EvalSet
from .joblog import JobLog, LogLevel
from .mcp import McpServerStatus, McpServerView
from .registry import ENVELOPE_MODELS, EVENT_BODIES
from .schedules import ScheduleList
from .telemetry import TelemetrySample
from .twin import PromptVersion, TwinSettings, TwinView
from .usage import UsageReport
from .web import CompleteMessage, EventFrame, HostSeen, HostsFrame, MessageChunk, MetricsFrame, StatusUpdate

# What the edge sends the browser (and the records it serves), each generated as a TypeScript type
# of the same name.
UI_MODELS: tuple[type[BaseModel], ...] = (
    CompleteMessage, MessageChunk, StatusUpdate, EventFrame, MetricsFrame, HostSeen, HostsFrame,
    SourceMemory, ApprovalRequest, ApprovalRecord, JobLog, TwinSettings, TwinView, PromptVersion, TelemetrySample,
    McpServerView, McpServerStatus, UsageReport, BudgetList, EvalSet, EvalResult, ScheduleList,
)  # fmt: skip
# Unions and literals the UI names (fields that use them get the same type inline).
UI_ALIASES: dict[str, Any] = {
    "Action": Action,
    "IssuedCommand": IssuedCommand,
    "ApprovalKind": ApprovalKind,
    "LogLevel": LogLevel,
}
DEFS_REF = "#/$defs/{model}"


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in EVENT_BODIES.items():
        for suffix, model in ((".body", body), (".envelope", ENVELOPE_MODELS[name])):
            path = directory / f"{name}{suffix}.schema.json"
            path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
            written.append(path)
    return written


class AsSent(GenerateJsonSchema):
    """The shape as serialized: a field with a default is always present in what the edge sends, so
    it is required (pydantic's `json_schema_serialization_defaults_required`, for every model)."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return not field.get("serialization_exclude")
        return super().field_is_required(field, total)


def ui_schema() -> dict[str, Any]:
    _, document = models_json_schema(
        [(model, "serialization") for model in UI_MODELS], ref_template=DEFS_REF, schema_generator=AsSent
    )
    defs: dict[str, Any] = document["$defs"]
    for name, alias in UI_ALIASES.items():
        schema = TypeAdapter(alias).json_schema(mode="serialization", ref_template=DEFS_REF, schema_generator=AsSent)
        defs.update(schema.pop("$defs", {}))
        defs[name] = {**schema, "title": name}
    named = {name: _plain(defs[name], top=True) for name in sorted(defs)}
    return {"title": "BusShapes", "type": "object", "additionalProperties": False, "$defs": named}


def _plain(schema: Any, top: bool = False) -> Any:
    """Only the named types keep a title (a field's title would become one more alias type), no
    descriptions, and a fixed-length array written the way json-schema-to-typescript reads a tuple."""
    if isinstance(schema, list):
        return [_plain(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    plain: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs"):  # names, not keywords: a field may be called "title"
            plain[key] = {name: _plain(sub) for name, sub in value.items()}
        elif key == "prefixItems":
            plain["items"] = _plain(value)
        elif key == "description":  # the docs stay in Python, so a docstring edit is no drift
            continue
        elif key != "title" or top:
            plain[key] = _plain(value)
    return plain


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bus_schemas")
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser("export", help="write a JSON Schema per event type into DIR")
    export_cmd.add_argument("directory", type=Path)
    ui_cmd = commands.add_parser("ui-schema", help="write the browser UI's shapes as one JSON Schema (default: stdout)")
    ui_cmd.add_argument("file", type=Path, nargs="?")
    args = parser.parse_args()
    if args.command == "ui-schema":
        text = json.dumps(ui_schema(), indent=2) + "\n"
        if args.file is None:
            sys.stdout.write(text)
        else:
            args.file.write_text(text)
        return
    for path in export(args.directory):
        print(path)


if __name__ == "__main__":
    main()
