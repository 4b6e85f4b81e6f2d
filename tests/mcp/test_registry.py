"""The MCP server registry over HTTP, against a real edge process and nats-server (keys mode): root,
an admin, registers a stdio and an http server, lists and removes them. Bob, a member and the
adversary, may list but not register or remove (403, nothing changed). A header value (a secret)
never comes back in an answer, a log line, an event or the KV value in clear. Bad registrations are
answered 400 naming the field; a second registration of a name is 409 and changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bus_schemas.streams import EVENTS, MCP_SERVERS
from pagi.bus import Bus

from .conftest import BOB_KEY, ROOT_KEY, Registry

SECRET = "sekrit-Bearer-7f3a9c1e2d4b"
TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, registry: Registry, method: str, path: str, body: Any = None, key: str = ROOT_KEY
) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    async with http.request(method, registry.url + path, data=data, headers=headers) as reply:
        text = await reply.text()
        return reply.status, (json.loads(text) if text else None), text


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stdio(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"], **extra}


def http_server(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "transport": "http", "url": "https://mcp.example.com/mcp", **extra}


async def listed(http: aiohttp.ClientSession, registry: Registry, key: str = ROOT_KEY) -> dict[str, dict[str, Any]]:
    status, body, _ = await call(http, registry, "GET", "/v1/mcp/servers", key=key)
    assert status == 200, body
    return {s["name"]: s for s in body["servers"]}


async def test_an_admin_adds_lists_and_removes_stdio_and_http_servers(
    registry: Registry, http: aiohttp.ClientSession
) -> None:
    time_name, docs_name = unique("time"), unique("docs")
    status, added, _ = await call(
        http, registry, "POST", "/v1/mcp/servers", stdio(time_name, network=False, description="clock")
    )
    assert status == 201, added
    assert added["command"] == "uvx" and added["args"] == ["mcp-server-time"] and added["network"] is False
    assert added["created_by"] == "root"
    headers = {"Authorization": SECRET, "X-Team": "blue"}
    status, added, _ = await call(http, registry, "POST", "/v1/mcp/servers", http_server(docs_name, headers=headers))
    assert status == 201, added
    assert added["header_names"] == ["Authorization", "X-Team"] and "headers" not in added

    servers = await listed(http, registry)
    assert servers[time_name]["transport"] == "stdio" and servers[time_name]["description"] == "clock"
    assert servers[docs_name]["url"] == "https://mcp.example.com/mcp"
    assert servers[docs_name]["header_names"] == ["Authorization", "X-Team"]

    assert (await call(http, registry, "DELETE", f"/v1/mcp/servers/{time_name}"))[0] == 204
    servers = await listed(http, registry)
    assert time_name not in servers and docs_name in servers
    status, body, _ = await call(http, registry, "DELETE", f"/v1/mcp/servers/{time_name}")
    assert status == 404 and time_name in body["error"]


async def test_a_member_lists_but_may_not_register_or_remove(registry: Registry, http: aiohttp.ClientSession) -> None:
    name = unique("kept")
    assert (await call(http, registry, "POST", "/v1/mcp/servers", stdio(name)))[0] == 201
    assert name in await listed(http, registry, key=BOB_KEY)

    status, body, _ = await call(http, registry, "POST", "/v1/mcp/servers", stdio(unique("bobs")), key=BOB_KEY)
    assert status == 403 and "admin" in body["error"]
    # A member's body is refused before it is read: even a malformed one is a 403, not a 400.
    assert (await call(http, registry, "POST", "/v1/mcp/servers", {"name": "x y"}, key=BOB_KEY))[0] == 403
    status, body, _ = await call(http, registry, "DELETE", f"/v1/mcp/servers/{name}", key=BOB_KEY)
    assert status == 403 and "admin" in body["error"]
    servers = await listed(http, registry)
    assert name in servers and not any(n.startswith("bobs-") for n in servers)
    # Without a key at all: the front door's 401.
    async with http.get(registry.url + "/v1/mcp/servers") as reply:
        assert reply.status == 401


async def test_a_header_value_is_never_served_logged_sent_or_stored_in_clear(
    registry: Registry, http: aiohttp.ClientSession
) -> None:
    name = unique("secret")
    status, _, text = await call(
        http, registry, "POST", "/v1/mcp/servers", http_server(name, headers={"Authorization": SECRET})
    )
    assert status == 201 and SECRET not in text
    # Answers: the list, a refused duplicate and a refused bad header (which names the header only).
    for method, path, body in (
        ("GET", "/v1/mcp/servers", None),
        ("POST", "/v1/mcp/servers", http_server(name, headers={"Authorization": SECRET})),
        ("POST", "/v1/mcp/servers", http_server(unique("bad"), headers={"Authorization": SECRET + "\r\nX: y"})),
        ("GET", "/openapi.json", None),
    ):
        _, _, text = await call(http, registry, method, path, body)
        assert SECRET not in text, (method, path)

    bus = await Bus.connect(registry.stack.nats.url, "test-mcp-reader", connect_timeout_s=10)
    try:
        raw = await (await bus.kv(MCP_SERVERS)).get(name)
        assert raw is not None and SECRET.encode() not in raw[0]
        sealed = json.loads(raw[0])["headers_sealed"]["Authorization"]
        assert Fernet(registry.secret_key.encode()).decrypt(sealed.encode()).decode() == SECRET
        events = await bus.read_stream(EVENTS.name, ">")
        assert all(SECRET not in e.model_dump_json() for _, e in events)
    finally:
        await bus.close()
    log = registry.edge_log.read_text(errors="replace")
    assert f"registered MCP server {name}" in log  # the log is the edge's, and it did log the registration
    assert SECRET not in log


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (stdio("has space"), "name", "pattern"),
        (stdio("Upper"), "name", "pattern"),
        (stdio("shell", command="uvx mcp-server-time; rm -rf ~"), "command", "shell string"),
        (stdio("shell2", command="$(curl evil)"), "command", "shell string"),
        (stdio("nul", args=["a\0b"]), "args", "NUL"),
        (stdio("both", url="https://mcp.example.com/mcp"), "body", "stdio server has no url"),
        ({"name": "nocmd", "transport": "stdio"}, "body", "needs a command"),
        ({"name": "bad-transport", "transport": "sse", "url": "https://x.example/mcp"}, "transport", "stdio"),
        (http_server("relative", url="/mcp"), "url", "absolute"),
        (http_server("file", url="file:///etc/passwd"), "url", "absolute"),
        (http_server("creds", url="https://user:pw@mcp.example.com/mcp"), "url", "credentials"),
        (http_server("metadata", url="http://169.254.169.254/latest"), "url", "PAGI_MCP_ALLOW_PRIVATE"),
        (http_server("loopback", url="http://127.0.0.1:9/mcp"), "url", "internal address"),
        (http_server("localhost", url="http://localhost:8000/mcp"), "url", "internal address"),
        (http_server("private", url="http://10.0.0.5/mcp"), "url", "internal address"),
        (http_server("hex", url="http://0x7f.1/mcp"), "url", "internal address"),
        (http_server("netw", network=True), "body", "network is for stdio"),
        (http_server("hdr", headers={"Host": "x"}), "headers", "set by the MCP client"),
        (http_server("hdr2", headers={"Bad Name": "x"}), "headers", "not an HTTP field name"),
        (stdio("hdr3", headers={"X-Key": "x"}), "body", "headers are for http servers"),
        (stdio("extra", created_by="mallory"), "created_by", "Extra inputs"),
    ],
    ids=lambda x: x["name"] if isinstance(x, dict) else None,
)
async def test_bad_registrations_are_400_naming_the_field(
    registry: Registry, http: aiohttp.ClientSession, body: dict[str, Any], field: str, says: str
) -> None:
    status, answer, _ = await call(http, registry, "POST", "/v1/mcp/servers", body)
    assert status == 400, answer
    problems = {d["field"].split(".")[0]: d["problem"] for d in answer["details"]}
    assert field in problems, answer
    assert says in problems[field], answer
    assert body["name"] not in await listed(http, registry)


async def test_a_second_registration_of_a_name_is_409_and_changes_nothing(
    registry: Registry, http: aiohttp.ClientSession
) -> None:
    name = unique("twice")
    assert (await call(http, registry, "POST", "/v1/mcp/servers", stdio(name)))[0] == 201
    status, body, _ = await call(
        http, registry, "POST", "/v1/mcp/servers", stdio(name, command="python3", args=["-m", "other"])
    )
    assert status == 409 and "already registered" in body["error"]
    assert (await listed(http, registry))[name]["command"] == "uvx"


async def test_a_malformed_delete_name_is_400(registry: Registry, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, registry, "DELETE", "/v1/mcp/servers/Not..A..Name")
    assert status == 400 and "name" in body["error"]
