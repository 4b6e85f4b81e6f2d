"""The seed console's chat WebSocket, spoken exactly as its `pagiClient.ts` speaks it: a page on
another loopback origin (:3000, as upstream deploys it) opens `/ws/chat/{user_id}`, sends
`{session_id, user_id, timestamp, message}` and nothing else (no subprotocol, no hello), and renders
every `status_update` but `ready` as a chat bubble. So it must get the sparse protocol: answers and
errors only. The twin comes from the path's user id when a twin of that id exists and the caller may
use it.

Against the real stack: nats-server, the planner (deterministic) and the edge as processes, in
development mode; keys mode with an in-process edge on a real nats-server for the second user."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.subjects import CHAT_IN
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from records.twins import TwinStore

from ..stack import UNTHROTTLED, Stack
from ..support import ObserveFactory, receive_until

SEED_PAGE = "http://127.0.0.1:3000"
ANSWER_S = 30.0
# The fields of the seed's CompleteMessage (types/protocol.ts).
SEED_COMPLETE = {"type", "id", "content", "is_final", "latency_ms", "source_memories", "issued_command"}
ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"
LISTED = "http://console.example:3000"

Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """`pagi up`'s development mode as processes: no keys, the deterministic planner, the edge on
    loopback. Shared by the module: every test uses its own sessions and user names."""
    root = Path(tempfile.mkdtemp(prefix="seed-ws-"))
    root.chmod(0o711)
    running = Stack(root / "stack", extra_env=UNTHROTTLED)
    try:
        running.start(("planner", "edge"))
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


def ws_url(stack: Stack, user: str) -> str:
    return f"ws://127.0.0.1:{stack.edge_port}/ws/chat/{user}"


@contextlib.asynccontextmanager
async def seed_socket(
    stack: Stack, user: str, origin: str = SEED_PAGE
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """What `new WebSocket(`${VITE_WS_URL}/${user_id}`)` does from the seed's page: no subprotocol."""
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(stack, user), headers={"Origin": origin}) as ws:
        yield ws


def seed_message(session_id: str, user: str, message: str) -> dict[str, Any]:
    """The seed's ChatRequest, exactly: no twin, no type."""
    return {"session_id": session_id, "user_id": user, "timestamp": datetime.now(UTC).isoformat(), "message": message}


def new_session() -> str:
    return str(uuid.uuid4())  # the seed's session ids are UUIDs


def bubbles(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the seed's messageConverter.ts turns into a chat message: every frame but chunks and `ready`."""
    return [f for f in frames if f["type"] != "message_chunk" and f.get("status") != "ready"]


@pytest.mark.parametrize("origin", [SEED_PAGE, "http://localhost:3000"])
async def test_a_chat_is_one_answer_and_no_status_bubbles(stack: Stack, origin: str) -> None:
    session = new_session()
    async with seed_socket(stack, "sam", origin) as ws:
        assert ws.protocol is None
        await ws.send_json(seed_message(session, "sam", "hello"))
        first = await receive_until(ws, "complete_message", ANSWER_S)
        # A second message is the barrier: whatever the first job still sent is in by its answer.
        await ws.send_json(seed_message(session, "sam", "and again"))
        second = await receive_until(ws, "complete_message", ANSWER_S)
    assert [f["type"] for f in bubbles(first + second)] == ["complete_message", "complete_message"]
    answer = first[-1]
    assert set(answer) >= SEED_COMPLETE
    assert answer["is_final"] is True and answer["issued_command"] is None
    # No twin named and none called "sam": the default twin answers.
    assert "this is orchestrator" in answer["content"] and "You said: hello" in answer["content"]
    assert "You said: and again" in second[-1]["content"]


async def test_a_bad_frame_is_one_error_status_and_the_chat_goes_on(stack: Stack) -> None:
    session = new_session()
    async with seed_socket(stack, "sam") as ws:
        await ws.send_json({"session_id": session, "user_id": "sam", "timestamp": datetime.now(UTC).isoformat()})
        await ws.send_str("{not json")
        await ws.send_json(seed_message(session, "sam", "still there?"))
        frames = await receive_until(ws, "complete_message", ANSWER_S)
    missing, not_json, answer = bubbles(frames)
    assert (missing["type"], missing["status"]) == ("status_update", "error")
    assert "message" in missing["details"]
    assert (not_json["type"], not_json["status"]) == ("status_update", "error")
    assert "not valid JSON" in not_json["details"]
    assert "You said: still there?" in answer["content"]


async def test_a_memory_search_answer_carries_its_issued_command(stack: Stack) -> None:
    session = new_session()
    async with seed_socket(stack, "sam") as ws:
        await ws.send_json(seed_message(session, "sam", "search for SSH keys"))
        frames = await receive_until(ws, "complete_message", ANSWER_S)
    # The job now waits for the person: the seed's approval modal opens from `issued_command`.
    [answer] = bubbles(frames)
    command = answer["issued_command"]
    assert command["command"] == "show_memory_page"
    assert command["query"] == "SSH keys"
    assert command["approval_id"]


async def test_a_twin_named_by_the_path_answers(stack: Stack) -> None:
    twin = f"ada-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as http:
        created = await http.post(f"{stack.edge_url}/v1/twins", json={"id": twin, "codename": "Ada"})
        assert created.status in (200, 201), await created.text()
    session = new_session()
    async with seed_socket(stack, twin) as ws:
        await ws.send_json(seed_message(session, twin, "who are you?"))
        mine = await receive_until(ws, "complete_message", ANSWER_S)
        # A frame that names a twin keeps it.
        await ws.send_json({**seed_message(session, twin, "and you?"), "twin_id": "orchestrator"})
        named = await receive_until(ws, "complete_message", ANSWER_S)
    assert f"this is {twin}" in mine[-1]["content"]
    assert "this is orchestrator" in named[-1]["content"]


async def test_development_mode_refuses_pages_that_are_not_loopback(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        for origin in ("http://evil.example", "http://evil.example:3000", "null"):
            with pytest.raises(WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url(stack, "sam"), headers={"Origin": origin})
            assert refused.value.status == 403, origin
        # The page's body says why; the WebSocket handshake error does not carry it, a plain GET does.
        upgrade = {"Origin": "http://evil.example", "Connection": "Upgrade", "Upgrade": "websocket"}
        async with http.get(ws_url(stack, "sam").replace("ws:", "http:", 1), headers=upgrade) as answer:
            assert answer.status == 403
            assert "PAGI_ALLOWED_ORIGINS" in (await answer.json())["error"]
        # A DNS-rebound name: the attacker's page names the edge's address under its own name. Its
        # Origin is not loopback (403); if its Host is its own name too, the Host check refuses (421).
        rebound = f"http://rebound.example:{stack.edge_port}"
        with pytest.raises(WSServerHandshakeError) as by_origin:
            await http.ws_connect(ws_url(stack, "sam"), headers={"Origin": rebound})
        assert by_origin.value.status == 403
        with pytest.raises(WSServerHandshakeError) as by_host:
            await http.ws_connect(
                ws_url(stack, "sam"), headers={"Origin": rebound, "Host": f"rebound.example:{stack.edge_port}"}
            )
        assert by_host.value.status == 421
        # A loopback page may read across origins in development mode, but never write.
        before = await (await http.get(f"{stack.edge_url}/v1/twins")).json()
        for origin in (SEED_PAGE, "http://localhost:3000"):
            posted = await http.post(
                f"{stack.edge_url}/v1/twins", json={"id": "from-a-page", "codename": "X"}, headers={"Origin": origin}
            )
            assert posted.status == 403, origin
            assert "PAGI_ALLOWED_ORIGINS" in (await posted.json())["error"]
        after = await (await http.get(f"{stack.edge_url}/v1/twins")).json()
        assert after == before
    # ...and the seed's socket still works for the loopback page (nothing was lost or blocked).
    async with seed_socket(stack, "sam") as ws:
        await ws.send_json(seed_message(new_session(), "sam", "hello"))
        assert "You said: hello" in (await receive_until(ws, "complete_message", ANSWER_S))[-1]["content"]


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    """An edge with keys for alice and bob (members), the console's origin listed, the real planner."""
    monkeypatch.setenv("PAGI_API_KEYS", f"{ALICE}:alice,{BOB}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    await (await TwinStore.open(bus)).ensure_default()
    async with TestClient(TestServer(make_app(EdgeSettings(PAGI_ALLOWED_ORIGINS=LISTED), bus=bus))) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_with_keys_the_listed_origins_decide(keyed: Client) -> None:
    for origin in (SEED_PAGE, "http://localhost:3000", "http://evil.example"):
        with pytest.raises(WSServerHandshakeError) as refused:
            await keyed.ws_connect("/ws/chat/alice", headers={**bearer(ALICE), "Origin": origin})
        assert refused.value.status == 403, origin
    upgrade = {**bearer(ALICE), "Origin": SEED_PAGE, "Connection": "Upgrade", "Upgrade": "websocket"}
    answer = await keyed.get("/ws/chat/alice", headers=upgrade)
    assert answer.status == 403
    assert "add it to PAGI_ALLOWED_ORIGINS" in (await answer.json())["error"]
    # The listed console opens it, with the key of the path's user only.
    async with keyed.ws_connect("/ws/chat/alice", headers={**bearer(ALICE), "Origin": LISTED}) as ws:
        await ws.send_json(seed_message(new_session(), "alice", "hello"))
        frames = await receive_until(ws, "complete_message", ANSWER_S)
        assert [f["type"] for f in bubbles(frames)] == ["complete_message"]
    with pytest.raises(WSServerHandshakeError) as not_hers:
        await keyed.ws_connect("/ws/chat/alice", headers={**bearer(BOB), "Origin": LISTED})
    assert not_hers.value.status == 403


async def test_another_users_private_twin_named_by_the_path_is_never_used(
    keyed: Client, observe: ObserveFactory
) -> None:
    # Alice makes private twins called "bob" (a trap for bob's console) and "alice" (her own).
    for twin in ("bob", "alice"):
        made = await keyed.post("/v1/twins", json={"id": twin, "codename": f"Alice's {twin}"}, headers=bearer(ALICE))
        assert made.status in (200, 201), await made.text()
    events = await observe(f"{CHAT_IN}.>")
    bobs, hers = new_session(), new_session()
    async with keyed.ws_connect("/ws/chat/bob", headers={**bearer(BOB), "Origin": LISTED}) as ws:
        await ws.send_json(seed_message(bobs, "bob", "hello"))
        his = (await receive_until(ws, "complete_message", ANSWER_S))[-1]
    async with keyed.ws_connect("/ws/chat/alice", headers={**bearer(ALICE), "Origin": LISTED}) as ws:
        await ws.send_json(seed_message(hers, "alice", "hello"))
        own = (await receive_until(ws, "complete_message", ANSWER_S))[-1]
    assert "this is orchestrator" in his["content"] and "this is bob" not in his["content"]
    assert "this is alice" in own["content"]
    twin_of = {e.session_id: e.body.twin_id for e in events.of_type(CHAT_IN)}
    assert twin_of == {bobs: None, hers: "alice"}
