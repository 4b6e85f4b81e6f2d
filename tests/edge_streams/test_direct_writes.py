"""SSE messages written on the spot (edge/live/outbox.py `write_now`) and those written by the
outbox's writer once the socket's buffer holds something reach the client in stream order, each once."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from pagi.bus import Bus

from .conftest import EdgeFactory
from .sse_client import SseReader
from .test_slow_client import EVENTS, publish_big


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def event_loop_policy(loop_kind: str) -> asyncio.AbstractEventLoopPolicy:
    """Both loops: the edge runs on uvloop (pagi/eventloop.py), whose transports the on-the-spot
    write uses, and the tests' own loop is asyncio's."""
    return uvloop.EventLoopPolicy() if loop_kind == "uvloop" else asyncio.DefaultEventLoopPolicy()


async def test_a_client_that_pauses_gets_every_event_once_in_order(
    make_edge: EdgeFactory, bus: Bus, session_id: str, loop_kind: str
) -> None:
    # Room for every event: the client falls behind (its socket fills, the writer takes over)
    # without being cut off, catches up, and is written to on the spot again.
    edge = await make_edge(queue_size=EVENTS * 2)
    async with edge.get(f"/v1/events/stream?session={session_id}&user=alice") as response:
        reader = SseReader(response)
        await reader.until("caught_up")
        published = await publish_big(bus, session_id, EVENTS)  # nobody reads while these are sent
        seqs = [int((await reader.next(timeout=20)).id or 0) for _ in range(EVENTS)]
        assert seqs == sorted(published)
        after = await publish_big(bus, session_id, 3)
        assert [int((await reader.next(timeout=10)).id or 0) for _ in range(3)] == sorted(after)
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop) == (loop_kind == "uvloop")
