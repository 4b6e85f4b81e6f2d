"""The edge over the real stack: WebSocket and POST /v1/chat round trips, and bad input."""

from __future__ import annotations

import json

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from .support import VERBOSE, receive_until

Client = TestClient[web.Request, web.Application]


async def test_websocket_round_trip(edge: Client, session_id: str) -> None:
    async with edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as ws:
        await ws.send_json({"session_id": session_id, "user_id": "alice", "timestamp": 1, "message": "ping"})
        frames = await receive_until(ws, "complete_message")
    statuses = [f["status"] for f in frames if f["type"] == "status_update"]
    assert statuses[0] == "queued"
    answer = frames[-1]
    assert "ping" in answer["content"]
    assert answer["is_final"] is True
    assert answer["session_id"] == session_id
    assert json.loads(answer["raw_orchestrator_decision"])["rule"] == "direct_answer"
    assert set(answer) >= {"id", "content", "latency_ms", "source_memories", "issued_command"}


async def test_bad_frames_get_an_error_and_the_socket_stays_open(edge: Client, session_id: str) -> None:
    async with edge.ws_connect("/ws/chat/bob") as ws:
        await ws.send_str("{not json")
        assert "not valid JSON" in (await ws.receive_json(timeout=5))["details"]
        await ws.send_json({"session_id": session_id, "user_id": "bob"})
        missing = await ws.receive_json(timeout=5)
        assert missing["status"] == "error" and "message" in missing["details"]
        await ws.send_json({"session_id": session_id, "user_id": "mallory", "message": "hi"})
        mismatch = await ws.receive_json(timeout=5)
        assert mismatch["status"] == "error" and "does not match" in mismatch["details"]
        await ws.send_json({"session_id": "bad session!", "user_id": "bob", "message": "hi"})
        assert "session_id" in (await ws.receive_json(timeout=5))["details"]
        await ws.send_bytes(b"\x00\x01")
        assert "binary" in (await ws.receive_json(timeout=5))["details"]
        # Still open and still served.
        await ws.send_json({"session_id": session_id, "user_id": "bob", "message": "still here"})
        frames = await receive_until(ws, "complete_message")
        assert "still here" in frames[-1]["content"]
        assert not ws.closed


async def test_post_chat_keeps_the_seed_contract(edge: Client, session_id: str) -> None:
    response = await edge.post(
        "/v1/chat", json={"message": "hello", "twin_id": "orchestrator", "session_id": session_id}
    )
    assert response.status == 200
    body = await response.json()
    assert set(body) == {
        "response",
        "job_id",
        "actions_taken",
        "status",
        "issued_command",
        "raw_orchestrator_decision",
    }
    assert "orchestrator" in body["response"] and "hello" in body["response"]
    assert body["actions_taken"] == ["ActionResponse"]
    assert body["status"] == "completed"


async def test_post_chat_to_an_unknown_twin_is_answered_by_the_default_twin(edge: Client, session_id: str) -> None:
    response = await edge.post("/v1/chat", json={"message": "hi", "twin_id": "nobody", "session_id": session_id})
    body = await response.json()
    assert body["status"] == "completed"
    assert "this is orchestrator" in body["response"]


async def test_post_chat_rejects_bad_requests_clearly(edge: Client) -> None:
    not_json = await edge.post("/v1/chat", data=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status == 400
    assert "not valid JSON" in (await not_json.json())["error"]
    missing = await edge.post("/v1/chat", json={"session_id": "s1"})
    assert missing.status == 400
    assert {"field": "message", "problem": "Field required"} in (await missing.json())["details"]


async def test_health_reports_the_bus(edge: Client) -> None:
    response = await edge.get("/health")
    body = await response.json()
    assert response.status == 200
    assert body["service"] == "edge" and body["status"] == "ok"
    assert body["bus"]["connected"] is True


async def test_two_sockets_of_one_session_both_see_the_answer(edge: Client, session_id: str) -> None:
    async with edge.ws_connect("/ws/chat/carol") as first, edge.ws_connect("/ws/chat/carol") as second:
        await second.send_json({"session_id": session_id, "user_id": "carol", "message": "join"})
        await receive_until(second, "complete_message")
        await first.send_json({"session_id": session_id, "user_id": "carol", "message": "fan out"})
        mine = await receive_until(first, "complete_message")
        theirs = await receive_until(second, "complete_message")
        assert mine[-1]["id"] == theirs[-1]["id"]


async def test_index_page_is_served(edge: Client) -> None:
    """The built web UI (web/dist; tests/browser/ covers it in Chromium)."""
    response = await edge.get("/")
    assert response.status == 200
    page = await response.text()
    assert '<div id="app">' in page
    script = page.split('src="', 1)[1].split('"', 1)[0]
    assert script.startswith("/assets/") and (await edge.get(script)).status == 200
    assert (await edge.get("/twins/orchestrator/settings")).status == 200  # a client-side route
    assert (await edge.get("/assets/../../pyproject.toml")).status in (403, 404)


async def test_socket_is_closed_with_going_away_on_shutdown(edge: Client) -> None:
    ws = await edge.ws_connect("/ws/chat/dave")
    assert edge.app is not None
    await edge.app.shutdown()
    msg = await ws.receive(timeout=5)
    assert msg.type == WSMsgType.CLOSE
    assert msg.data == 1001


async def test_post_chat_keeps_a_session_to_its_owner(edge: Client, session_id: str) -> None:
    mine = {"message": "hi", "session_id": session_id, "user_id": "olga"}
    assert (await edge.post("/v1/chat", json=mine)).status == 200
    theirs = await edge.post("/v1/chat", json={**mine, "user_id": "mallory"})
    assert theirs.status == 403 and "belongs to another user" in (await theirs.json())["error"]
    nobody = await edge.post("/v1/chat", json={**mine, "user_id": ""})  # found by schemathesis: was a 500
    assert nobody.status == 400 and (await nobody.json())["details"][0]["field"] == "user_id"
