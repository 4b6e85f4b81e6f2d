"""Starter personas: a folder with `twin.json` (the twin's settings), `soul/` (its system prompt) and
`domain/`, `body/`, `mind/` (knowledge ingested into the twin's own namespace).

`pagi twins import knowledge_bases/<persona>` creates (or updates) the twin and ingests its knowledge
over the bus; importing again changes nothing (twin settings are replaced by the same values,
chunks are deduplicated by content).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from pydantic import ValidationError

from bus_schemas.subjects import TOKEN_RE
from bus_schemas.twin import TwinWrite
from memory_worker.errors import InvalidRequest
from pagi.bus import Bus
from pagi_cli.ingest import IngestFailed, ingest_over_bus
from pagi_cli.options import add_bus_options, bus_unreachable, connect_bus
from records.twins import TwinStore

KNOWLEDGE_FOLDERS: Final = ("domain", "body", "mind")


class PersonaError(ValueError):
    pass


@dataclass(frozen=True)
class Persona:
    twin_id: str
    settings: TwinWrite
    knowledge: dict[str, Path]  # KB name -> folder


def load_persona(folder: Path) -> Persona:
    spec = folder / "twin.json"
    if not spec.is_file():
        raise PersonaError(f"{folder} is not a persona: it has no twin.json")
    twin_id = folder.name.replace("_", "-")
    if not TOKEN_RE.match(twin_id):
        raise PersonaError(f"persona folder name {folder.name!r} is not usable as a twin id")
    try:
        raw = json.loads(spec.read_text())
    except (OSError, ValueError) as exc:
        raise PersonaError(f"{spec}: {exc}") from exc
    soul = sorted((folder / "soul").glob("*.md")) if (folder / "soul").is_dir() else []
    if soul and not raw.get("directive_logic"):
        raw["directive_logic"] = "\n\n".join(path.read_text().strip() for path in soul)
    raw.setdefault("memory_namespace", twin_id)
    try:
        settings = TwinWrite.model_validate(raw)
    except ValidationError as exc:
        raise PersonaError(f"{spec}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    knowledge = {kb: folder / kb for kb in KNOWLEDGE_FOLDERS if (folder / kb).is_dir()}
    return Persona(twin_id, settings, knowledge)


def persona_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/twin.json"))


async def save_twin(bus: Bus, persona: Persona) -> str:
    """Create the twin, or bring an existing one back to the persona's settings; 'created'/'updated'."""
    twins = await TwinStore.open(bus)
    if await twins.get(persona.twin_id) is None:
        await twins.create(persona.twin_id, persona.settings)
        return "created"
    await twins.replace(persona.twin_id, persona.settings)
    return "updated"


async def import_persona(bus: Bus, folder: Path, out: TextIO, timeout_s: float = 60.0) -> None:
    """The twin, then its knowledge. Raises PersonaError, or the ingest's own errors, with a message
    for the person who ran the command."""
    persona = load_persona(folder)
    outcome = await save_twin(bus, persona)
    out.write(f"twin {persona.twin_id} {outcome} ({persona.settings.codename}, {persona.settings.designation})\n")
    for kb, path in persona.knowledge.items():
        summary = await ingest_over_bus(bus, path, persona.settings.memory_namespace, kb, timeout_s=timeout_s)
        first, *_ = summary.lines()
        out.write(f"  {kb}: {first}\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folders", type=Path, nargs="+", help="persona folders (with twin.json), e.g. knowledge_bases/*/"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each batch's answer")
    add_bus_options(parser)


async def import_command(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        bus = await connect_bus(args, "pagi-twins-import")
    except Exception as exc:
        err.write(f"pagi twins import: {bus_unreachable(args, exc)}\n")
        return 1
    failed = 0
    try:
        for folder in args.folders:
            try:
                await import_persona(bus, folder, out, args.timeout)
            except (PersonaError, IngestFailed, InvalidRequest, FileNotFoundError) as exc:
                err.write(f"pagi twins import: {folder}: {exc}\n")
                failed += 1
    finally:
        await bus.close()
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(import_command(args))
