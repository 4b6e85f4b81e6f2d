"""pagi.bus.Tail: in order, each event once, across a server restart and a lost consumer."""

from __future__ import annotations

import asyncio
from typing import Any

from bus_schemas import Envelope
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import one_session
from pagi.bus import Bus, Tail
from pagi_cli.nats_server import NatsServer

from .events import log_line


class Seen:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.changed = asyncio.Event()

    async def __call__(self, seq: int, event: Envelope[Any]) -> None:
        self.seqs.append(seq)
        self.changed.set()

    async def until(self, count: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.seqs) < count:
                self.changed.clear()
                await self.changed.wait()


async def test_tail_carries_on_after_a_server_restart(bus: Bus, nats_server: NatsServer, session_id: str) -> None:
    seen = Seen()
    tail = Tail(bus, EVENTS.name, [one_session(session_id)], seen, heartbeat_s=0.5)
    await tail.start("new")
    try:
        published = [await log_line(bus, session_id, f"before {i}") for i in range(3)]
        await seen.until(3)
        # The tail's consumer lives in memory: a restarted server has forgotten it.
        await asyncio.to_thread(nats_server.restart)
        published += [await log_line(bus, session_id, f"after {i}") for i in range(3)]
        await seen.until(6)
        assert seen.seqs == published
    finally:
        await tail.stop()


async def test_tail_recreates_a_deleted_consumer_from_where_it_was(bus: Bus, session_id: str) -> None:
    seen = Seen()
    tail = Tail(bus, EVENTS.name, [one_session(session_id)], seen, heartbeat_s=0.5)
    await tail.start(0)
    try:
        published = [await log_line(bus, session_id, f"first {i}") for i in range(2)]
        await seen.until(2)
        for info in await bus.js.consumers_info(EVENTS.name):
            if info.config.filter_subjects == [one_session(session_id)]:
                await bus.js.delete_consumer(EVENTS.name, info.name)
        published += [await log_line(bus, session_id, f"second {i}") for i in range(3)]
        await seen.until(5)
        assert seen.seqs == published
    finally:
        await tail.stop()
