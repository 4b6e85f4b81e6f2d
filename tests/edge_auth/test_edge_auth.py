"""The edge with API keys, against the real bus and planner: who may call, as whom, how often."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.front.security import InsecureBind
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def secured(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_health_and_ui_are_public_the_api_is_not(secured: Client) -> None:
    assert (await secured.get("/health")).status in (200, 503)
    assert (await secured.get("/")).status != 401
    for method, path in [("GET", "/v1/twins"), ("POST", "/v1/chat"), ("GET", "/metrics"), ("GET", "/v1/approvals")]:
        response = await secured.request(method, path)
        assert response.status == 401, path
        assert "API key" in (await response.json())["error"]
    wrong = await secured.get("/v1/twins", headers=bearer("not-a-key-0123456789"))
    assert wrong.status == 401


async def test_a_key_is_its_user(secured: Client, session_id: str) -> None:
    body = {"message": "hello", "twin_id": "orchestrator", "session_id": session_id}
    response = await secured.post("/v1/chat", json=body, headers=bearer(ALICE))
    assert response.status == 200, await response.text()
    assert "hello" in (await response.json())["response"]
    me = await secured.get("/v1/auth/session", headers={"X-API-Key": BOB})
    assert (await me.json()) == {"user": "bob", "auth": True, "admin": False}


async def test_security_headers(secured: Client) -> None:
    response = await secured.get("/v1/twins", headers=bearer(ALICE))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    page = await secured.get("/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


async def test_websocket_needs_the_key_of_its_path_user_and_a_good_origin(secured: Client, session_id: str) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await secured.ws_connect("/ws/chat/alice")
    assert refused.value.status == 401
    with pytest.raises(WSServerHandshakeError) as other_user:
        await secured.ws_connect("/ws/chat/bob", headers=bearer(ALICE))
    assert other_user.value.status == 403
    for origin in ("https://evil.example", "http://[::1", "null"):
        with pytest.raises(WSServerHandshakeError) as bad_origin:
            await secured.ws_connect("/ws/chat/alice", headers={**bearer(ALICE), "Origin": origin})
        assert bad_origin.value.status == 403, origin

    # A browser: the key as a subprotocol, its own origin; the edge selects "pagi", never echoing the key.
    origin = f"http://{secured.host}:{secured.port}"
    async with secured.ws_connect(
        "/ws/chat/alice", protocols=("pagi", f"pagi.key.{ALICE}"), headers={"Origin": origin}
    ) as ws:
        assert ws.protocol == "pagi"
        await ws.send_json({"session_id": session_id, "user_id": "alice", "message": "hi"})
        while True:
            frame = await ws.receive_json(timeout=10)
            if frame["type"] == "complete_message":
                break


async def test_sse_user_is_the_key_user(secured: Client, session_id: str) -> None:
    other = await secured.get(f"/v1/events/stream?session={session_id}&user=bob", headers=bearer(ALICE))
    assert other.status == 403
    async with secured.get(f"/v1/events/stream?session={session_id}", headers=bearer(ALICE)) as mine:
        assert mine.status == 200
        assert mine.headers["Content-Type"].startswith("text/event-stream")


async def test_browser_session_cookie(secured: Client) -> None:
    login = await secured.post("/v1/auth/session", headers=bearer(ALICE))
    assert login.status == 200
    cookie = login.cookies["pagi_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert ALICE not in cookie.value
    # The client's cookie jar now carries it: no key needed.
    assert (await secured.get("/v1/twins")).status == 200
    assert (await (await secured.get("/v1/auth/session")).json())["user"] == "alice"
    # A cross-site page cannot use it to change anything.
    forged = await secured.post("/v1/twins", json={}, headers={"Origin": "https://evil.example"})
    assert forged.status == 403
    await secured.delete("/v1/auth/session")
    secured.session.cookie_jar.clear()
    assert (await secured.get("/v1/twins")).status == 401


async def test_rate_limit_answers_429_with_retry_after(
    bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "3")
    monkeypatch.setenv("PAGI_RATE_LIMIT_RPS", "0.2")
    async with TestClient(TestServer(make_app(EdgeSettings(), bus=bus))) as client:
        statuses = [(await client.get("/v1/twins", headers=bearer(ALICE))).status for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = await client.get("/v1/twins", headers=bearer(ALICE))
        assert limited.status == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 5
        # Per user: bob is not slowed down by alice.
        assert (await client.get("/v1/twins", headers=bearer(BOB))).status == 200


async def test_oversized_body_is_refused_before_it_is_read(secured: Client) -> None:
    big = b"x" * (5 * 1024 * 1024)
    response = await secured.post("/v1/chat", data=big, headers={**bearer(ALICE), "Content-Type": "application/json"})
    assert response.status == 413


async def test_no_keys_means_loopback_only(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGI_API_KEY", raising=False)
    monkeypatch.delenv("PAGI_API_KEYS", raising=False)
    with pytest.raises(InsecureBind, match="PAGI_API_KEY"):
        make_app(EdgeSettings(PAGI_HOST="0.0.0.0"), bus=bus)
    monkeypatch.setenv("PAGI_API_KEYS", "short:alice")
    with pytest.raises(ValueError, match="shorter than 16"):
        make_app(EdgeSettings(), bus=bus)
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}")
    with pytest.raises(ValueError) as no_user:
        make_app(EdgeSettings(), bus=bus)
    assert ALICE not in str(no_user.value)


async def test_development_mode_trusts_x_user_id_on_loopback(edge: Client) -> None:
    response = await edge.get("/v1/auth/session", headers={"X-User-Id": "carol"})
    assert (await response.json()) == {"user": None, "auth": False, "admin": True}  # the one person
    assert (await edge.get("/v1/twins")).status == 200


async def test_websocket_frames_share_the_users_rate_limit(
    bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch, session_id: str
) -> None:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "3")
    monkeypatch.setenv("PAGI_RATE_LIMIT_RPS", "0.2")
    async with TestClient(TestServer(make_app(EdgeSettings(), bus=bus))) as client:
        async with client.ws_connect("/ws/chat/alice", headers=bearer(ALICE)) as ws:  # one token
            frame = {"session_id": session_id, "user_id": "alice", "message": "hi"}
            await ws.send_json(frame)  # two
            await ws.send_json(frame)  # three
            await ws.send_json(frame)  # over
            while True:
                reply = await ws.receive_json(timeout=10)
                if reply.get("status") == "error":
                    assert "too many messages" in reply["details"]
                    break
