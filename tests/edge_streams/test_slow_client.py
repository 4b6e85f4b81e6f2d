"""Fan-out: a client that stops reading is cut off with a clear reason and never delays the others."""

from __future__ import annotations

import asyncio
import time

from aiohttp import WSMsgType

from bus_schemas import Envelope, ToolResult
from bus_schemas.subjects import TOOL_RESULT
from edge.live.outbox import TOO_SLOW
from pagi.bus import Bus

from ..support import VERBOSE
from .conftest import EdgeFactory
from .sse_client import SseReader

BIG_OUTPUT = "x" * 200_000
EVENTS = 60  # 12 MB: more than the kernel and aiohttp buffers between the edge and a stalled reader


async def publish_big(bus: Bus, session_id: str, count: int) -> dict[int, float]:
    """Publish tool results with large output; returns when each stream sequence was published."""
    published: dict[int, float] = {}
    for i in range(count):
        body = ToolResult(
            request_id=f"r{i}", tool_name="command_exec", exit_code=0, stdout=BIG_OUTPUT, isolation="none"
        )
        seq = await bus.publish(Envelope[ToolResult](type=TOOL_RESULT, session_id=session_id, body=body))
        published[seq] = time.monotonic()
    return published


async def test_a_stalled_socket_is_closed_and_the_fast_one_keeps_up(
    make_edge: EdgeFactory, bus: Bus, session_id: str
) -> None:
    edge = await make_edge(queue_size=8)
    resume = {"type": "resume", "session_id": session_id, "user_id": "alice"}
    slow = await edge.ws_connect("/ws/chat/alice", max_msg_size=0, protocols=VERBOSE)
    fast = await edge.ws_connect("/ws/chat/alice", max_msg_size=0, protocols=VERBOSE)
    for ws in (slow, fast):
        await ws.send_json(resume)
        assert (await ws.receive_json(timeout=5))["status"] == "subscribed"

    received: dict[int, float] = {}

    async def read_fast() -> None:
        while len(received) < EVENTS:
            frame = await fast.receive_json(timeout=10)
            received[frame["seq"]] = time.monotonic()

    reader = asyncio.create_task(read_fast())
    published = await publish_big(bus, session_id, EVENTS)
    await asyncio.wait_for(reader, 20)
    assert set(received) == set(published)
    worst_lag = max(received[seq] - at for seq, at in published.items())
    assert worst_lag < 2.0, f"the fast client fell {worst_lag:.2f}s behind"

    # The stalled one now reads what was buffered for it, then the close frame with the reason.
    while True:
        msg = await slow.receive(timeout=10)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
            break
    assert slow.close_code == 1013
    assert msg.extra == TOO_SLOW
    await slow.close()
    await fast.close()


async def test_a_stalled_sse_client_gets_a_closing_reason(make_edge: EdgeFactory, bus: Bus, session_id: str) -> None:
    edge = await make_edge(queue_size=8)
    async with edge.get(f"/v1/events/stream?session={session_id}&user=alice") as response:
        reader = SseReader(response)
        await reader.until("caught_up")
        await publish_big(bus, session_id, EVENTS)
        closing = (await reader.until("closing", timeout=20))[-1]
        assert closing.json() == {"reason": TOO_SLOW}
