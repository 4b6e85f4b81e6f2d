"""The front door as a hostile web page, a DNS-rebound name and a key guesser would try it, on the real
edge app over the real bus: refused with a clear error, nothing changed, and the honest ways (curl, an
SDK, the edge's own pages, a logged-in browser) still work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.front.auth import SESSION_COOKIE
from edge.front.hosts import HostAllowList
from edge.settings import EdgeSettings
from pagi.bus import Bus

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
Client = TestClient[web.Request, web.Application]
MakeEdge = Callable[..., Awaitable[Client]]
EVIL_TWIN: dict[str, Any] = {"id": "evil", "codename": "Evil", "always_allow": ["command_exec"]}


@pytest.fixture
async def make_edge(bus: Bus) -> AsyncIterator[MakeEdge]:
    """Real edge apps on free ports, sharing one bus (as edges behind a load balancer do)."""
    clients: list[Client] = []

    async def make(**settings: Any) -> Client:
        client = TestClient(TestServer(make_app(EdgeSettings(**settings), bus=bus)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def dev(make_edge: MakeEdge) -> Client:
    """Development mode: no keys, loopback only."""
    return await make_edge()


@pytest.fixture
async def keyed(make_edge: MakeEdge) -> Client:
    return await make_edge(PAGI_API_KEYS=f"{ALICE}:alice:admin,{BOB}:bob", PAGI_AUTH_FAILURES=3)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def twin_ids(edge: Client, headers: dict[str, str] | None = None) -> set[str]:
    response = await edge.get("/v1/twins", headers=headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    twins = body["twins"] if isinstance(body, dict) else body
    return {t["id"] for t in twins}


async def test_a_cross_site_text_plain_post_creates_no_twin(dev: Client) -> None:
    text = json.dumps(EVIL_TWIN)
    # What a page on another site can send without a CORS preflight: a "simple" text/plain POST.
    forged = await dev.post(
        "/v1/twins", data=text, headers={"Content-Type": "text/plain", "Origin": "http://evil.example"}
    )
    assert forged.status == 403, await forged.text()
    assert "PAGI_ALLOWED_ORIGINS" in (await forged.json())["error"]
    # Browsers that send no Origin on it still say where it came from.
    fetched = await dev.post(
        "/v1/twins", data=text, headers={"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}
    )
    assert fetched.status == 403
    # And a body that is not labelled JSON is refused whoever sends it.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        unlabelled = await dev.post("/v1/twins", data=text, headers={"Content-Type": content_type})
        assert unlabelled.status == 415, content_type
        assert "application/json" in (await unlabelled.json())["error"]
    assert "evil" not in await twin_ids(dev)


async def test_a_foreign_origin_is_refused_the_edge_and_allowed_origins_are_not(make_edge: MakeEdge) -> None:
    dev = await make_edge(PAGI_ALLOWED_ORIGINS="http://console.example:3000/")
    other_port = f"http://127.0.0.1:{(dev.port or 8181) + 1}"
    for origin in ("http://evil.example", "null", other_port, "http://[::1", "http://localhost.evil.example"):
        refused = await dev.post("/v1/twins", json=EVIL_TWIN, headers={"Origin": origin})
        assert refused.status == 403, origin
        put = await dev.put(
            "/v1/twins/orchestrator", json={"always_allow": ["command_exec"]}, headers={"Origin": origin}
        )
        assert put.status == 403, origin
        cancel = await dev.post("/v1/jobs/some-job/cancel", headers={"Origin": origin})
        assert cancel.status == 403, origin
    assert "evil" not in await twin_ids(dev)

    own = await dev.post(
        "/v1/twins", json={"id": "own-page", "codename": "O"}, headers={"Origin": f"http://127.0.0.1:{dev.port}"}
    )
    assert own.status in (200, 201), await own.text()
    listed = await dev.post(
        "/v1/twins", json={"id": "listed", "codename": "L"}, headers={"Origin": "http://console.example:3000"}
    )
    assert listed.status in (200, 201), await listed.text()
    assert {"own-page", "listed"} <= await twin_ids(dev)


async def test_clients_without_an_origin_keep_working(dev: Client) -> None:
    created = await dev.post("/v1/twins", json={"id": "from-curl", "codename": "C"})
    assert created.status in (200, 201), await created.text()
    assert "from-curl" in await twin_ids(dev)
    # A write without a body (and so without JSON) is fine: there is nothing to parse.
    deleted = await dev.delete("/v1/twins/from-curl")
    assert deleted.status in (200, 204), await deleted.text()
    assert "from-curl" not in await twin_ids(dev)


async def test_a_rebinding_host_reaches_neither_the_api_nor_the_websocket(make_edge: MakeEdge) -> None:
    dev = await make_edge()
    for host in ("evil.example:8181", f"evil.example:{dev.port}", "127.0.0.1:1", "localhost:8181x", "[::1"):
        for method, path in (("GET", "/v1/twins"), ("GET", "/"), ("GET", "/health")):
            refused = await dev.request(method, path, headers={"Host": host})
            assert refused.status == 421, (host, path)
        created = await dev.post("/v1/twins", json=EVIL_TWIN, headers={"Host": host})
        assert created.status == 421
        assert "PAGI_ALLOWED_HOSTS" in (await created.json())["error"]
        with pytest.raises(WSServerHandshakeError) as socket:
            await dev.ws_connect("/ws/chat/alice", headers={"Host": host, "Origin": f"http://{host}"})
        assert socket.value.status == 421
    assert "evil" not in await twin_ids(dev)
    for host in (f"localhost:{dev.port}", f"127.0.0.1:{dev.port}", f"[::1]:{dev.port}", "localhost"):
        assert (await dev.get("/v1/twins", headers={"Host": host})).status == 200, host
    async with dev.ws_connect("/ws/chat/alice", headers={"Host": f"localhost:{dev.port}"}):
        pass
    # A page on another origin may not open the WebSocket either, in development mode too.
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        with pytest.raises(WSServerHandshakeError) as cross:
            await dev.ws_connect("/ws/chat/alice", headers=headers)
        assert cross.value.status == 403

    behind_proxy = await make_edge(PAGI_ALLOWED_HOSTS="pagi.example.com, 10.0.0.5:8443")
    assert (await behind_proxy.get("/v1/twins", headers={"Host": "pagi.example.com"})).status == 200
    assert (await behind_proxy.get("/v1/twins", headers={"Host": "10.0.0.5:8443"})).status == 200
    assert (await behind_proxy.get("/v1/twins", headers={"Host": "10.0.0.5:8444"})).status == 421
    assert (await behind_proxy.get("/v1/twins", headers={"Host": f"127.0.0.1:{behind_proxy.port}"})).status == 421


def test_the_hosts_follow_where_the_edge_listens() -> None:
    on_one_address = HostAllowList.from_settings(EdgeSettings(PAGI_HOST="10.1.2.3", PAGI_PORT=9000))
    assert on_one_address.allows("10.1.2.3:9000", {9000})
    assert not on_one_address.allows("evil.example:9000", {9000})
    assert not on_one_address.allows("10.1.2.3:9001", {9000})
    ipv6 = HostAllowList.from_settings(EdgeSettings(PAGI_HOST="fd00::1", PAGI_PORT=9000))
    assert ipv6.allows("[fd00::1]:9000", {9000})
    # Every address needs keys (a refused bind otherwise); any name may reach it, the key guards it.
    assert HostAllowList.from_settings(EdgeSettings(PAGI_HOST="0.0.0.0")).allows("edge.internal:8181", {8181})
    assert not HostAllowList.from_settings(EdgeSettings()).allows(None, {8181})


async def test_logout_revokes_the_cookie_on_every_edge(make_edge: MakeEdge) -> None:
    keys = f"{ALICE}:alice:admin,{BOB}:bob"
    edge = await make_edge(PAGI_API_KEYS=keys)
    other_edge = await make_edge(PAGI_API_KEYS=keys)
    login = await edge.post("/v1/auth/session", headers=bearer(BOB))
    assert login.status == 200
    cookie = login.cookies[SESSION_COOKIE].value
    copied = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    edge.session.cookie_jar.clear()
    for client in (edge, other_edge):
        me = await client.get("/v1/auth/session", headers=copied)
        assert (await me.json())["user"] == "bob"

    logout = await edge.delete("/v1/auth/session", headers=copied)
    assert logout.status == 200
    assert SESSION_COOKIE in logout.cookies  # cleared in the browser too

    for client in (edge, other_edge):
        for path in ("/v1/auth/session", "/v1/twins"):
            after = await client.get(path, headers=copied)
            assert after.status == 401, (client.port, path)
            assert "ended session" in (await after.json())["error"]
    # A new login works, and alice's session was never touched.
    again = await edge.post("/v1/auth/session", headers=bearer(BOB))
    fresh = {"Cookie": f"{SESSION_COOKIE}={again.cookies[SESSION_COOKIE].value}"}
    assert (await (await other_edge.get("/v1/auth/session", headers=fresh)).json())["user"] == "bob"
    assert (await edge.get("/v1/twins", headers=bearer(ALICE))).status == 200


async def test_wrong_keys_are_limited_per_address_and_good_requests_never_count(make_edge: MakeEdge) -> None:
    edge = await make_edge(
        PAGI_API_KEYS=f"{ALICE}:alice:admin,{BOB}:bob", PAGI_AUTH_FAILURES=3, PAGI_AUTH_FAILURE_WINDOW_S=2
    )
    login = await edge.post("/v1/auth/session", headers=bearer(ALICE))
    session = {"Cookie": f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE].value}"}
    edge.session.cookie_jar.clear()
    guess = bearer("guess-0123456789abcdef")
    for _ in range(2):
        assert (await edge.get("/v1/twins", headers=guess)).status == 401
    for _ in range(30):  # busy honest users behind the same address
        assert (await edge.get("/v1/twins", headers=bearer(BOB))).status == 200
    assert (await edge.get("/v1/twins", headers=guess)).status == 401  # the third failure

    limited = await edge.get("/v1/twins", headers=guess)
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert "wrong API keys" in (await limited.json())["error"]
    # Past the limit a key is not even checked, so guessing learns nothing, not even from the right
    # key; the WebSocket's key is a key attempt too. A browser already logged in carries on.
    assert (await edge.get("/v1/twins", headers=bearer(BOB))).status == 429
    with pytest.raises(WSServerHandshakeError) as socket:
        await edge.ws_connect("/ws/chat/alice", protocols=("pagi", f"pagi.key.{ALICE}"))
    assert socket.value.status == 429
    assert (await edge.get("/v1/twins", headers=session)).status == 200

    await asyncio.sleep(2.1)  # the window passes
    assert (await edge.get("/v1/twins", headers=bearer(BOB))).status == 200


async def test_health_without_a_key_says_only_up_or_down(keyed: Client, dev: Client) -> None:
    public = await keyed.get("/health")
    assert set(await public.json()) == {"status"}
    assert (await public.json())["status"] in ("ok", "degraded")
    detailed = await keyed.get("/health", headers=bearer(BOB))
    body = await detailed.json()
    assert detailed.status == public.status
    assert {"services", "bus", "version", "problems"} <= set(body)
    assert (await keyed.get("/health", headers=bearer("wrong-0123456789abcdef"))).status == 401
    # A logged-in browser (the console's health panel) gets the details with its cookie.
    login = await keyed.post("/v1/auth/session", headers=bearer(BOB))
    assert login.status == 200
    assert "services" in await (await keyed.get("/health")).json()
    # Development mode serves loopback only: the person at the machine sees everything.
    assert "services" in await (await dev.get("/health")).json()
