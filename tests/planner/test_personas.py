"""Starter personas: every shipped persona imports as a twin with its knowledge, twice safely."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryApiReply, MemoryApiRequest
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi_cli.personas import PersonaError, import_persona, load_persona, persona_folders
from records.twins import TwinStore

ROOT = Path(__file__).resolve().parents[2] / "knowledge_bases"


def test_every_shipped_persona_loads() -> None:
    folders = persona_folders(ROOT)
    assert {f.name for f in folders} == {
        "general_assistant", "companion_pet", "research_assistant", "home_security", "cybersecurity_manager",
    }  # fmt: skip
    for folder in folders:
        persona = load_persona(folder)
        assert persona.settings.directive_logic.startswith("#"), folder  # the Soul became the prompt
        assert set(persona.knowledge) == {"domain", "body", "mind"}
        assert persona.settings.memory_namespace == persona.twin_id


def test_a_folder_without_twin_json_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match=r"has no twin\.json"):
        load_persona(tmp_path)


async def test_import_creates_the_twin_and_its_searchable_knowledge(bus: Bus, memory_worker: MemoryWorker) -> None:
    out = io.StringIO()
    await import_persona(bus, ROOT / "cybersecurity_manager", out)
    await import_persona(bus, ROOT / "cybersecurity_manager", out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("twin cybersecurity-manager created")
    assert any(line.startswith("twin cybersecurity-manager updated") for line in lines)
    twin = await (await TwinStore.open(bus)).get("cybersecurity-manager")
    assert twin is not None and twin.codename == "Sentinel" and "command_exec" in twin.allowed_tools
    found = await bus.request(
        MEMORY_API_SUBJECT,
        MemoryApiRequest(op="search", query="203.0.113.45", namespace="cybersecurity-manager", k=3),
        MemoryApiReply,
    )
    assert found.ok and "203.0.113.45" in found.results[0].text
