"""Bad WebSocket input against the real edge and planner: random text frames, binary frames, an
oversize frame, and a flood from one client. Each gets a clear error (or a clear close), and another
client on the same edge is answered throughout."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edge.live.chat_ws import MAX_FRAME_BYTES

Client = TestClient[web.Request, web.Application]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
# Almost-right frames: the seed's fields with wrong values, plus random keys.
seed_like = st.fixed_dictionaries(
    {},
    optional={
        "session_id": st.one_of(st.text(max_size=70), st.integers()),
        "user_id": st.one_of(st.just("u1"), st.text(max_size=5), st.none()),
        "message": st.one_of(st.text(max_size=0), st.integers(), st.none()),
        "type": st.sampled_from(["resume", "message", "nope", ""]),
        "resume_from": st.one_of(st.integers(-5, 10**12), st.text(max_size=4)),
    },
)
bad_frames = st.one_of(
    st.text(max_size=200).filter(lambda t: not t.lstrip().startswith("{")),
    json_values.map(json.dumps),
    seed_like.filter(lambda d: not _valid(d)).map(json.dumps),
)


def _valid(frame: dict[str, Any]) -> bool:
    """Frames that could be accepted (so not 'bad'): a message or resume with a plausible session."""
    session = frame.get("session_id")
    return (
        isinstance(session, str)
        and frame.get("user_id") == "u1"
        and (isinstance(frame.get("message"), str) or frame.get("type") == "resume")
    )


def draw_frames(count: int) -> list[str]:
    out: list[str] = []

    @settings(max_examples=count // 20, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.lists(bad_frames, min_size=20, max_size=20))
    def collect(frames: list[str]) -> None:
        out.extend(frames)

    while len(out) < count:
        collect()
    return out[:count]


async def next_frame(ws: Any, timeout: float = 10) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def answer(ws: Any, session: str, user: str, text: str, timeout: float = 15) -> dict[str, Any]:
    await ws.send_str(json.dumps({"session_id": session, "user_id": user, "timestamp": 0, "message": text}))
    async with asyncio.timeout(timeout):
        while True:
            frame = await next_frame(ws, timeout)
            if frame["type"] == "complete_message":
                return frame


async def test_random_and_binary_frames_get_errors_and_the_socket_keeps_working(edge: Client, session_id: str) -> None:
    frames = await asyncio.to_thread(draw_frames, 300)
    ws = await edge.ws_connect("/ws/chat/u1")
    for frame in frames:
        await ws.send_str(frame)
        reply = await next_frame(ws)
        assert reply["type"] == "status_update" and reply["status"] == "error" and reply["details"], (frame, reply)
    await ws.send_bytes(b"\x00\x01binary")
    reply = await next_frame(ws)
    assert reply["status"] == "error" and "binary" in reply["details"]
    done = await answer(ws, session_id, "u1", "still here")
    assert "still here" in done["content"]
    await ws.close()


async def test_an_oversize_frame_closes_that_socket_clearly_and_no_other(edge: Client, session_id: str) -> None:
    other = await edge.ws_connect("/ws/chat/u2")
    big = await edge.ws_connect("/ws/chat/u1")
    await big.send_str(json.dumps({"session_id": session_id, "user_id": "u1", "message": "x" * MAX_FRAME_BYTES}))
    msg = await big.receive(timeout=10)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
    assert big.close_code == 1009  # message too big
    done = await answer(other, session_id + "b", "u2", "unaffected")
    assert "unaffected" in done["content"]
    await other.close()


async def test_a_flooding_client_is_cut_off_and_others_are_answered(edge: Client, session_id: str) -> None:
    calm = await edge.ws_connect("/ws/chat/calm")
    flood = await edge.ws_connect("/ws/chat/flood")
    junk = json.dumps({"session_id": "x", "user_id": "someone-else", "message": "m"})

    async def flooding() -> int:
        sent = 0
        try:
            for _ in range(20_000):  # never reads: its outbox fills with the errors it earns
                await flood.send_str(junk)
                sent += 1
        except (ConnectionError, RuntimeError):
            pass
        return sent

    flooder = asyncio.create_task(flooding())
    for i in range(3):
        done = await answer(calm, session_id, "calm", f"calm {i}")
        assert f"calm {i}" in done["content"]
    await flooder
    closing = None
    async with asyncio.timeout(15):
        while closing is None:
            msg = await flood.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED):
                closing = msg
    # The close frame says why (the client, busy sending, never completes the closing handshake).
    assert closing.type == WSMsgType.CLOSE and closing.data == 1013, closing
    assert "too slow" in str(closing.extra)
    await calm.close()
