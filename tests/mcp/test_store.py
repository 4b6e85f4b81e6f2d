"""`records.mcp_servers` on a real nats-server: the operator's switches for where an http server may
point, header values sealed and opened again only with the key, and a missing key refused clearly."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bus_schemas.mcp import McpServerWrite
from pagi.bus import Bus
from pagi.secrets import SecretsUnavailable
from records.mcp_servers import (
    McpServerError,
    McpServerStore,
    McpUrlSettings,
    header_values,
    mcp_tool_allowed,
    unknown_servers,
)

LOCAL = "http://127.0.0.1:8000/mcp"


def http(name: str, url: str = LOCAL, **headers: str) -> McpServerWrite:
    return McpServerWrite.model_validate({"name": name, "transport": "http", "url": url, "headers": headers})


async def test_internal_urls_need_the_operators_switch(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await McpServerStore.open(bus)
    for name in ("PAGI_MCP_ALLOW_PRIVATE", "PAGI_MCP_ALLOWED_URLS", "PAGI_LLM_ALLOW_PRIVATE"):
        monkeypatch.delenv(name, raising=False)
    # The LLM switch is not this one: a local model server allowed does not allow a local MCP server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")
    with pytest.raises(McpServerError, match="PAGI_MCP_ALLOW_PRIVATE") as refused:
        await store.create(http("local"), "root")
    assert refused.value.field == "url"

    monkeypatch.setenv("PAGI_MCP_ALLOWED_URLS", f"{LOCAL}/,http://10.1.2.3/mcp")
    assert (await store.create(http("listed"), "root")).url == LOCAL  # listed (a trailing slash is the same URL)
    with pytest.raises(McpServerError):
        await store.create(http("unlisted", "http://127.0.0.1:8001/mcp"), "root")

    monkeypatch.setenv("PAGI_MCP_ALLOW_PRIVATE", "1")
    assert McpUrlSettings().policy().allow_private
    assert (await store.create(http("any-local", "http://localhost:9/mcp"), "root")).name == "any-local"
    assert {s.name for s in await store.list()} == {"listed", "any-local"}


async def test_headers_are_sealed_and_opened_only_with_the_key(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_MCP_ALLOW_PRIVATE", "1")
    store = await McpServerStore.open(bus)
    monkeypatch.delenv("PAGI_MCP_SECRET_KEY", raising=False)
    # The provider keys' sealing key is not the one: the tool worker, which opens these, never holds it.
    monkeypatch.setenv("PAGI_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(SecretsUnavailable, match="PAGI_MCP_SECRET_KEY"):
        await store.create(http("nokey", Authorization="Bearer t0ken"), "root")
    assert await store.get("nokey") is None  # nothing written
    # A server without headers needs no key.
    assert (await store.create(http("plain"), "root")).headers_sealed == {}

    monkeypatch.setenv("PAGI_MCP_SECRET_KEY", Fernet.generate_key().decode())
    created = await store.create(http("sealed", Authorization="Bearer t0ken"), "root")
    stored = await store.get("sealed")
    assert stored is not None and "t0ken" not in stored.model_dump_json()
    assert header_values(stored) == {"Authorization": "Bearer t0ken"} == header_values(created)
    monkeypatch.setenv("PAGI_MCP_SECRET_KEY", Fernet.generate_key().decode())  # another install's key
    with pytest.raises(SecretsUnavailable):
        header_values(stored)
    assert await store.delete("sealed") and not await store.delete("sealed")


def test_unknown_servers_in_a_policy_are_listed_once_in_order() -> None:
    entries = ["b/x", "a/*", "known/t", "b/y", "c/z"]
    assert unknown_servers(entries, {"known"}) == ["b", "a", "c"]
    assert unknown_servers([], set()) == []


def test_a_policy_allows_named_tools_and_whole_servers_only() -> None:
    policy = ["time/get_current_time", "fs/*"]
    assert mcp_tool_allowed(policy, "time", "get_current_time")
    assert not mcp_tool_allowed(policy, "time", "convert_time")
    assert mcp_tool_allowed(policy, "fs", "write_file")
    assert not mcp_tool_allowed(policy, "git", "git_status")
    # A tool literally named `*` is not a wildcard for another server, nor a prefix match.
    assert not mcp_tool_allowed(policy, "time", "*x") and not mcp_tool_allowed(["fs/*"], "fsx", "read")
