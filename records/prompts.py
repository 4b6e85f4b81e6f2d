"""Prompt history per twin in KV (`pagi_prompts`, `<twin>.<n>` per version) and the diff a person
reads before approving a change.

Versions are write-once history. Which one is active is said by the twin record itself
(`Twin.prompt_version`, set with the prompt in one compare-and-set by `TwinStore.use_prompt`), so a
self-improvement or a rollback is never half-done: a crash after a version is recorded and before
the twin is changed leaves a version nobody uses, never a twin and a pointer that disagree.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime

from bus_schemas.streams import PROMPTS
from bus_schemas.twin import PromptVersion, Twin
from pagi.bus import Bus
from pagi.stores import KVStore

from .twins import TwinStore


def version_key(twin_id: str, version: int | str) -> str:
    """`version_key(twin, "*")` is the pattern of a twin's versions."""
    return f"{twin_id}.{version}"


def legacy_current_key(twin_id: str) -> str:
    """Where the active version number was kept before the twin record named it; read, never written."""
    return f"{twin_id}.current"


def prompt_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "current", "proposed", lineterm="")
    return "\n".join(lines) or "(no change)"


class PromptStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> PromptStore:
        return cls(await bus.kv(PROMPTS))

    async def versions(self, twin_id: str) -> list[PromptVersion]:
        found = []
        for key in await self.kv.keys(version_key(twin_id, "*")):
            if key.rpartition(".")[2].isdigit():
                version = await self.kv.get_model(key, PromptVersion)
                if version is not None:
                    found.append(version)
        return sorted(found, key=lambda v: v.version)

    async def get(self, twin_id: str, version: int) -> PromptVersion | None:
        return await self.kv.get_model(version_key(twin_id, version), PromptVersion)

    async def current(self, twin_id: str, twin: Twin | None) -> int | None:
        """The active version number: the twin record's, else (a twin last changed before the record
        named it) the old pointer key."""
        if twin is not None and twin.prompt_version is not None:
            return twin.prompt_version
        found = await self.kv.get(legacy_current_key(twin_id))
        return int(found[0]) if found else None

    async def add(self, twin_id: str, prompt: str, rationale: str, author: str, first_prompt: str) -> PromptVersion:
        """Record a new version (not yet active). The twin's prompt before any recorded change
        becomes version 1, so a rollback to the original is always possible."""
        existing = await self.versions(twin_id)
        if not existing:
            original = PromptVersion(
                version=1, prompt=first_prompt, rationale="original", author="twin", created_at=datetime.now(UTC)
            )
            await self.kv.create(version_key(twin_id, 1), original.model_dump_json().encode())
            existing = [original]
        number = existing[-1].version + 1
        while True:
            version = PromptVersion(
                version=number, prompt=prompt, rationale=rationale, author=author, created_at=datetime.now(UTC)
            )
            if await self.kv.create(version_key(twin_id, number), version.model_dump_json().encode()):
                return version
            number += 1


async def change_prompt(
    twins: TwinStore, prompts: PromptStore, twin: Twin, prompt: str, rationale: str, author: str
) -> PromptVersion:
    """A new prompt for a twin (an approved self-improvement): recorded as the next version, then
    made the twin's prompt in one write."""
    version = await prompts.add(twin.id, prompt, rationale, author, twin.directive_logic)
    await twins.use_prompt(twin.id, version)
    return version


async def roll_back(twins: TwinStore, prompts: PromptStore, twin_id: str, number: int) -> PromptVersion | None:
    """Make an earlier version the twin's prompt again (one write); None when there is no such version."""
    version = await prompts.get(twin_id, number)
    if version is None:
        return None
    await twins.use_prompt(twin_id, version)
    return version
