"""`pagi up`'s own heartbeat: the state of every child it supervises, for the edge's /health.

A plain `Heartbeat` from service `pagi_up` whose details carry each child's `ChildReport`
(bus_schemas.supervision); sent every interval and at once whenever a child changes state.
Reporting is best effort: with a NATS_URL whose user may not publish heartbeats, the stack runs
without it (the edge then only sees the missing worker's heartbeats stop).
"""

from __future__ import annotations

import asyncio
import logging

from bus_schemas.heartbeat import Scalar
from bus_schemas.supervision import SUPERVISOR, to_details
from pagi.bus import Bus
from pagi.heartbeat import Heartbeater

from .supervisor import Child

log = logging.getLogger("pagi.up")


class SupervisorReport:
    def __init__(self, bus: Bus) -> None:
        self.details: dict[str, Scalar] = {}
        self._beater: Heartbeater | None = Heartbeater(bus, SUPERVISOR, details=self.details)
        self._beats: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        assert self._beater is not None
        try:
            await self._beater.start()
        except Exception as exc:  # reporting must never keep the stack from starting
            print(f"pagi: warning: children's state not reported to /health: {exc}", flush=True)
            self._beater = None

    def changed(self, child: Child) -> None:
        self.details.update(to_details({child.spec.name: child.report()}))
        if self._beater is None or self._beater.micro is None:
            return
        task = asyncio.create_task(self._beat(self._beater))
        self._beats.add(task)
        task.add_done_callback(self._beats.discard)

    async def _beat(self, beater: Heartbeater) -> None:
        try:
            await beater.beat()
        except Exception:
            log.warning("supervisor heartbeat failed", exc_info=True)

    async def stop(self) -> None:
        if self._beats:
            await asyncio.wait(self._beats, timeout=2)
        if self._beater is not None:
            try:
                await asyncio.wait_for(self._beater.stop(), 5)
            except Exception:
                log.warning("supervisor heartbeat did not stop cleanly", exc_info=True)
