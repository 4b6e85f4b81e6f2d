"""All hosts' telemetry for this edge's SSE clients: one tail of `telemetry.host.*`, fanned out, and
which hosts are live (a host appears with a fresh sample and goes silent after a quiet spell)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bus_schemas import Envelope
from bus_schemas.streams import TELEMETRY
from bus_schemas.subjects import TELEMETRY_HOST
from bus_schemas.web import HostSeen, HostsFrame
from pagi.bus import Bus, Tail

from .feeds import FeedItem, Listener

log = logging.getLogger("edge.telemetry")

# (host that changed, the `hosts` SSE message bytes)
HostsListener = Callable[[str, bytes], None]


@dataclass
class HostState:
    last_seen: datetime
    silent: bool


class TelemetryHub:
    def __init__(self, bus: Bus, silent_after_s: float, render_hosts: Callable[[HostsFrame], bytes]) -> None:
        # Starting with the last sample of every host fills the host list at once.
        self._tail = Tail(bus, TELEMETRY.name, [f"{TELEMETRY_HOST}.*"], self._deliver)
        self._silent_after = timedelta(seconds=silent_after_s)
        self._render_hosts = render_hosts
        self.hosts: dict[str, HostState] = {}
        self._metrics: set[Listener] = set()
        self._host_listeners: set[HostsListener] = set()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._tail.start("last_per_subject")
        self._watch = asyncio.create_task(self._watch_silence())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._tail.stop()

    def join(self, metrics: Listener, hosts: HostsListener) -> None:
        self._metrics.add(metrics)
        self._host_listeners.add(hosts)

    def leave(self, metrics: Listener, hosts: HostsListener) -> None:
        self._metrics.discard(metrics)
        self._host_listeners.discard(hosts)

    def snapshot(self, changed: str | None = None, change: Any = None) -> HostsFrame:
        return HostsFrame(
            hosts=[HostSeen(host_id=h, last_seen=s.last_seen, silent=s.silent) for h, s in sorted(self.hosts.items())],
            changed=changed,
            change=change,
        )

    async def _deliver(self, seq: int, event: Envelope[Any]) -> None:
        host = event.session_id
        fresh = datetime.now(UTC) - event.ts < self._silent_after
        state = self.hosts.get(host)
        if state is None:
            state = self.hosts[host] = HostState(last_seen=event.ts, silent=not fresh)
            if fresh:
                self._announce(host, "appeared")
        else:
            state.last_seen = max(state.last_seen, event.ts)
            if fresh and state.silent:
                state.silent = False
                self._announce(host, "appeared")
        item = FeedItem(seq, event)
        for listener in list(self._metrics):
            listener(item)

    def _announce(self, host: str, change: str) -> None:
        message = self._render_hosts(self.snapshot(host, change))
        for listener in list(self._host_listeners):
            listener(host, message)

    async def _watch_silence(self) -> None:
        period = min(1.0, self._silent_after.total_seconds() / 4)
        while True:
            await asyncio.sleep(period)
            now = datetime.now(UTC)
            cutoff = now - self._silent_after
            forgotten = now - timedelta(seconds=TELEMETRY.max_age_s)
            for host, state in list(self.hosts.items()):
                if state.last_seen < forgotten:
                    # Its samples are gone from the stream too: the host list stays bounded.
                    del self.hosts[host]
                elif not state.silent and state.last_seen < cutoff:
                    state.silent = True
                    log.info("host %s is silent (no sample since %s)", host, state.last_seen.isoformat())
                    self._announce(host, "silent")
