"""Twins in KV (`pagi_twins`: `twin.<id>` the record, `status.<id>` its live status). The edge serves
and edits them; the planner reads them per job and records what its approved actions change."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from bus_schemas.streams import MCP_TOOLS, TOOLS, TWINS
from bus_schemas.tool import BUILTIN_TOOL_NAMES
from bus_schemas.twin import MAX_AVATAR_BYTES, PromptVersion, Twin, TwinStatus, TwinView, TwinWrite
from pagi.bus import Bus
from pagi.secrets import seal
from pagi.stores import KVStore

from . import kvjson
from .mcp_servers import unknown_servers
from .tools import McpToolCatalog, ToolRegistry, is_mcp_name

DEFAULT_TWIN_ID: Final = "orchestrator"
# Names `get_recent` keeps before it starts afresh.
RECENT_TWINS: Final = 4096
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


def always_allowed(twin: Twin, tool: str, digest: str | None) -> bool:
    """The twin runs `tool` without asking: it is in `always_allow` and, for a built tool, `digest`
    (the artifact about to run) is the one a human said "always" for. A built-in has no artifact
    (its code is PAGI's), so its name is its pin; a rebuilt tool asks again."""
    if tool not in twin.always_allow:
        return False
    if tool in BUILTIN_TOOL_NAMES:
        return digest is None
    # A built tool's pin is its artifact; an MCP tool's the `McpTool.digest` of the tool as approved.
    return digest is not None and twin.always_allow_pins.get(tool) == digest


def twin_key(twin_id: str) -> str:
    """`twin_key("*")` is the pattern of every twin."""
    return f"twin.{twin_id}"


def status_key(twin_id: str) -> str:
    return f"status.{twin_id}"


class TwinStore:
    def __init__(
        self,
        kv: KVStore,
        cache_ttl_s: float = 2.0,
        tools: ToolRegistry | None = None,
        mcp_tools: McpToolCatalog | None = None,
    ) -> None:
        self.kv = kv
        self.cache_ttl_s = cache_ttl_s
        # The tool registry and the MCP tools listed, for the digest an always-allow is pinned to
        # (None: no built tool, or no MCP tool, is ever always-allowed).
        self.tools = tools
        self.mcp_tools = mcp_tools
        self._cache: dict[str, tuple[float, Twin]] = {}
        self._recent: dict[str, tuple[float, Twin | None]] = {}

    @classmethod
    async def open(cls, bus: Bus) -> TwinStore:
        return cls(
            await bus.kv(TWINS),
            tools=ToolRegistry(await bus.kv(TOOLS)),
            mcp_tools=McpToolCatalog(await bus.kv(MCP_TOOLS)),
        )

    async def digest(self, tool_name: str) -> str | None:
        """What an always-allow of `tool_name` is pinned to now: a built tool's artifact digest, an MCP
        tool's `McpTool.digest` (None: a built-in, or unknown)."""
        if is_mcp_name(tool_name):
            listed = await self.mcp_tools.get(tool_name) if self.mcp_tools is not None else None
            return listed.digest if listed is not None else None
        if self.tools is None or tool_name in BUILTIN_TOOL_NAMES:
            return None
        record = await self.tools.get(tool_name)
        return record.artifact_digest if record is not None else None

    async def in_force(self, twin: Twin) -> Twin:
        """The twin as its jobs are judged: `always_allow` keeps only the tools still always allowed,
        a built tool only while its registered artifact is the one pinned (rebuilt: ask again)."""
        kept = [t for t in twin.always_allow if always_allowed(twin, t, await self.digest(t))]
        return twin if kept == twin.always_allow else twin.model_copy(update={"always_allow": kept})

    async def get(self, twin_id: str) -> Twin | None:
        return await self.kv.get_model(twin_key(twin_id), Twin)

    async def get_recent(self, twin_id: str) -> Twin | None:
        """The twin as stored at most `cache_ttl_s` ago, or None if it did not exist then: for a lookup
        on every message (the edge's path twin), where the planner judges the twin again anyway."""
        now = time.monotonic()
        recent = self._recent.get(twin_id)
        if recent is None or now - recent[0] >= self.cache_ttl_s:
            if len(self._recent) >= RECENT_TWINS:
                self._recent.clear()  # names come from socket paths: bounded, whoever connects
            recent = (now, await self.get(twin_id))
            self._recent[twin_id] = recent
        return recent[1]

    def _forget(self, twin_id: str) -> None:
        """A write by this process shows at once in its own reads."""
        self._cache.pop(twin_id, None)
        self._recent.pop(twin_id, None)

    async def get_or_default(self, twin_id: str) -> Twin:
        """The twin as its jobs are judged (`in_force`)."""
        return await self.in_force(await self._stored_or_default(twin_id))

    async def _stored_or_default(self, twin_id: str) -> Twin:
        twin = await self.get(twin_id)
        if twin is None:
            twin = await self.ensure_default() if twin_id == DEFAULT_TWIN_ID else None
        if twin is None:
            raise TwinError(f"unknown twin {twin_id!r}")
        return twin

    async def get_cached(self, twin_id: str) -> Twin:
        """For the planner's hot path: a twin read at most `cache_ttl_s` ago (edits show up within it).
        What is in force is worked out on every call, not cached: a rebuilt tool asks at once."""
        now = time.monotonic()
        cached = self._cache.get(twin_id)
        if cached is None or now - cached[0] >= self.cache_ttl_s:
            cached = (now, await self._stored_or_default(twin_id))
            self._cache[twin_id] = cached
        return await self.in_force(cached[1])

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

    async def create(self, twin_id: str, settings: TwinWrite, owner: str | None = None) -> Twin:
        """A new twin: shared (`owner` None) or private to `owner` (records/access.py says who may)."""
        check_avatar(settings.avatar)
        twin = _build(twin_id, settings, None, owner, await self._pins(settings.always_allow, {}))
        if not await self.kv.create(twin_key(twin_id), twin.model_dump_json().encode()):
            raise TwinError(f"twin {twin_id!r} already exists")
        return twin

    async def replace(self, twin_id: str, settings: TwinWrite) -> Twin | None:
        """New settings for a twin; its owner never changes here. A built tool newly always-allowed is
        pinned to the artifact registered now; one already pinned keeps its pin (a rebuilt tool is
        not re-approved by saving unrelated settings)."""
        check_avatar(settings.avatar)
        current = await self.get(twin_id)
        fresh = await self._pins(settings.always_allow, current.always_allow_pins if current else {})

        def change(current: Twin) -> Twin:
            pins = {t: current.always_allow_pins.get(t, fresh.get(t, "")) for t in settings.always_allow}
            return _build(twin_id, settings, current, current.owner, {t: d for t, d in pins.items() if d})

        updated = await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._forget(twin_id)
        return updated

    async def allow_always(self, twin_id: str, tool_name: str, seen: str | None = None) -> None:
        """A human said "always" for this tool: pinned to `seen` (an MCP tool's digest as shown when
        the approval was asked), else to what is registered now (a built tool's artifact)."""
        digest = seen or await self.digest(tool_name)

        def change(current: Twin) -> Twin | None:
            pins = dict(current.always_allow_pins)
            if digest is None:
                pins.pop(tool_name, None)
            else:
                pins[tool_name] = digest
            listed = current.always_allow if tool_name in current.always_allow else [*current.always_allow, tool_name]
            if listed == current.always_allow and pins == current.always_allow_pins:
                return None
            return current.model_copy(update={"always_allow": listed, "always_allow_pins": pins})

        await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._forget(twin_id)

    async def _pins(self, tools: Sequence[str], kept: dict[str, str]) -> dict[str, str]:
        """Pins for the built tools in `tools`: those in `kept`, else the artifact registered now."""
        pins = {}
        for tool in tools:
            digest = kept.get(tool) or await self.digest(tool)
            if digest is not None:
                pins[tool] = digest
        return pins

    async def allow_remember(self, twin_id: str, namespace: str) -> None:
        """A human said "always allow memories in this namespace" for this twin."""

        def change(current: Twin) -> Twin | None:
            if namespace in current.always_remember:
                return None
            return current.model_copy(update={"always_remember": [*current.always_remember, namespace]})

        await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._forget(twin_id)

    async def allow_tool(self, twin_id: str, tool_name: str) -> None:
        def change(current: Twin) -> Twin | None:
            if tool_name in current.allowed_tools:
                return None
            return current.model_copy(update={"allowed_tools": [*current.allowed_tools, tool_name]})

        await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._forget(twin_id)

    async def use_prompt(self, twin_id: str, version: PromptVersion) -> Twin | None:
        """Make a recorded prompt version the twin's prompt: one compare-and-set of the twin record,
        which names the version, so prompt and version cannot disagree after a crash."""

        def change(current: Twin) -> Twin:
            update = {"directive_logic": version.prompt, "prompt_version": version.version}
            return current.model_copy(update={**update, "updated_at": datetime.now(UTC)})

        updated = await kvjson.update(self.kv, twin_key(twin_id), Twin, change)
        self._forget(twin_id)
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

    async def view(self, twin: Twin, mcp_servers: set[str] | None = None) -> TwinView:
        """`mcp_servers`: the registered MCP server names, to list the unknown ones the policy names."""
        fields = twin.model_dump(exclude={"api_key_sealed", "prompt_version", "always_allow_pins"})
        unknown = unknown_servers(twin.mcp_tools, mcp_servers) if mcp_servers is not None else []
        return TwinView(
            **fields,
            has_api_key=twin.api_key_sealed is not None,
            status=await self.status(twin.id),
            mcp_unknown_servers=unknown,
        )


def _build(
    twin_id: str,
    settings: TwinWrite,
    current: Twin | None,
    owner: str | None = None,
    pins: dict[str, str] | None = None,
) -> Twin:
    now = datetime.now(UTC)
    # A sealed key stays only while it goes where it was given for: a new base URL or provider drops
    # it unless the same write sets a key (else a key could be redirected to another host).
    moved = current is not None and (settings.base_url, settings.provider) != (current.base_url, current.provider)
    sealed = current.api_key_sealed if current and not moved else None
    if settings.api_key is not None:
        secret = settings.api_key.get_secret_value()
        sealed = seal(secret) if secret else None
    return Twin(
        **settings.model_dump(exclude={"api_key"}),
        id=twin_id,
        owner=owner,
        always_allow_pins=pins or {},
        api_key_sealed=sealed,
        prompt_version=current.prompt_version if current else None,
        created_at=current.created_at if current else now,
        updated_at=now,
    )
