"""Twins in KV (`pagi_twins`: `twin.<id>` the record, `status.<id>` its live status). The edge serves
and edits them; the planner reads them per job and records what its approved actions change."""

from __future__ import annotations

import base64
import binascii
import re
import time
from datetime import UTC, datetime
from typing import Final

from bus_schemas.streams import TWINS
from bus_schemas.twin import MAX_AVATAR_BYTES, PromptVersion, Twin, TwinStatus, TwinView, TwinWrite
from pagi.bus import Bus
from pagi.secrets import seal
from pagi.stores import KVStore

from . import kvjson

DEFAULT_TWIN_ID: Final = "orchestrator"
_AVATAR_RE: Final = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,([A-Za-z0-9+/=\s]+)$")

DEFAULT_TWIN = TwinWrite(
    codename="Orchestrator",
    designation="General assistant and coordinator",
    mission="Answer questions, search memory, and run approved tools in the sandbox.",
    directive_logic=(
        "You are the Orchestrator, a careful assistant. Prefer answering directly; search memory when "
        "the user asks about something recorded; use tools only when needed. Every memory search, tool "
        "run, tool build and prompt change is shown to a human for approval first."
    ),
)


class TwinError(ValueError):
    pass


def check_avatar(avatar: str | None) -> None:
    if avatar is None:
        return
    match = _AVATAR_RE.match(avatar)
    if match is None:
        raise TwinError("avatar must be a data:image/(png|jpeg|gif|webp|svg+xml);base64,... URL")
    try:
        size = len(base64.b64decode(match.group(2), validate=False))
    except binascii.Error as exc:
        raise TwinError("avatar is not valid base64") from exc
    if size > MAX_AVATAR_BYTES:
        raise TwinError(f"avatar is {size} bytes, over the {MAX_AVATAR_BYTES} byte limit")


def twin_key(twin_id: str) -> str:
    """`twin_key("*")` is the pattern of every twin."""
    return f"twin.{twin_id}"


def status_key(twin_id: str) -> str:
    return f"status.{twin_id}"


class TwinStore:
    def __init__(self, kv: KVStore, cache_ttl_s: float = 2.0) -> None:
        self.kv = kv
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Twin]] = {}

    @classmethod
    async def open(cls, bus: Bus) -> TwinStore:
        return cls(await bus.kv(TWINS))

    async def get(self, twin_id: str) -> Twin | None:
        return await self.kv.get_model(twin_key(twin_id), Twin)

    async def get_or_default(self, twin_id: str) -> Twin:
        twin = await self.get(twin_id)
        if twin is None:
            twin = await self.ensure_default() if twin_id == DEFAULT_TWIN_ID else None
        if twin is None:
            raise TwinError(f"unknown twin {twin_id!r}")
        return twin

    async def get_cached(self, twin_id: str) -> Twin:
        """For the planner's hot path: a twin read at most `cache_ttl_s` ago (edits show up within it)."""
        now = time.monotonic()
        cached = self._cache.get(twin_id)
        if cached is not None and now - cached[0] < self.cache_ttl_s:
            return cached[1]
        twin = await self.get_or_default(twin_id)
        self._cache[twin_id] = (now, twin)
        return twin

    async def ensure_default(self) -> Twin:
        existing = await self.get(DEFAULT_TWIN_ID)
        if existing is not None:
            return existing
        twin = _build(DEFAULT_TWIN_ID, DEFAULT_TWIN, None)
        await self.kv.create(twin_key(DEFAULT_TWIN_ID), twin.model_dump_json().encode())
        return await self.get(DEFAULT_TWIN_ID) or twin

    async def list(self) -> list[Twin]:
        twins = []
        for key in sorted(await self.kv.keys(twin_key("*"))):
            twin = await self.kv.get_model(key, Twin)
            if twin is not None:
                twins.append(twin)
        return twins

    async def create(self, twin_id: str, settings: TwinWrite) -> Twin:
        check_avatar(settings.avatar)
        twin = _build(twin_id, settings, None)
        if not await self.kv.create(twin_key(twin_id), twin.model_dump_json().encode()):
            raise TwinError(f"twin {twin_id!r} already exists")
        return twin

    async def replace(self, twin_id: str, settings: TwinWrite) -> Twin | None:
        check_avatar(settings.avatar)

        def change(current: Twin) -> Twin:
            return _build(twin_id, settings, current)

        return await kvjson.update(self.kv, twin_key(twin_id), Twin, change)

    async def allow_always(self, twin_id: str, tool_name: str) -> None:
        def change(current: Twin) -> Twin | None:
            if tool_name in current.always_allow:
                return None
            return current.model_copy(update={"always_allow": [*current.always_allow, tool_name]})

        await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._cache.pop(twin_id, None)

    async def allow_tool(self, twin_id: str, tool_name: str) -> None:
        def change(current: Twin) -> Twin | None:
            if tool_name in current.allowed_tools:
                return None
            return current.model_copy(update={"allowed_tools": [*current.allowed_tools, tool_name]})

        await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._cache.pop(twin_id, None)

    async def use_prompt(self, twin_id: str, version: PromptVersion) -> Twin | None:
        """Make a recorded prompt version the twin's prompt: one compare-and-set of the twin record,
        which names the version, so prompt and version cannot disagree after a crash."""

        def change(current: Twin) -> Twin:
            update = {"directive_logic": version.prompt, "prompt_version": version.version}
            return current.model_copy(update={**update, "updated_at": datetime.now(UTC)})

        updated = await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._cache.pop(twin_id, None)
        return updated

    async def delete(self, twin_id: str) -> bool:
        if await self.get(twin_id) is None:
            return False
        await self.kv.delete(twin_key(twin_id))
        return True

    async def set_status(self, twin_id: str, status: TwinStatus) -> None:
        await self.kv.put(status_key(twin_id), status.encode())

    async def status(self, twin_id: str) -> TwinStatus:
        found = await self.kv.get(status_key(twin_id))
        value = found[0].decode() if found else "idle"
        return value if value in ("idle", "thinking", "busy") else "idle"  # type: ignore[return-value]

    async def view(self, twin: Twin) -> TwinView:
        fields = twin.model_dump(exclude={"api_key_sealed", "prompt_version"})
        return TwinView(**fields, has_api_key=twin.api_key_sealed is not None, status=await self.status(twin.id))


def _build(twin_id: str, settings: TwinWrite, current: Twin | None) -> Twin:
    now = datetime.now(UTC)
    sealed = current.api_key_sealed if current else None
    if settings.api_key is not None:
        secret = settings.api_key.get_secret_value()
        sealed = seal(secret) if secret else None
    return Twin(
        **settings.model_dump(exclude={"api_key"}),
        id=twin_id,
        api_key_sealed=sealed,
        prompt_version=current.prompt_version if current else None,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
