"""Heartbeats: each service says it is alive (`Heartbeater`); the edge keeps who is (`ServiceRegistry`).

A service reports facts about itself in its heartbeat's `details` with `report(key, value)`, e.g.
the tool worker `report(SANDBOX, "bwrap")`; keys are in `bus_schemas.heartbeat`.

The `Heartbeater` also registers the instance as a NATS micro service (`pagi.micro`) whose metadata
carries the same facts: micro is how any NATS tool discovers PAGI (`nats micro ls`), heartbeats are
how `/health` knows who is alive (pushed, so a clean stop is seen at once and a silent instance
within three intervals; on a subject only that service may publish, so none can pass for another).
An edge that just started publishes `pagi.ping` and every instance beats at once. (Not micro's
`$SRV.PING`: nats.micro has no hook on its ping handler, and a second subscription to `$SRV.PING` on
the same connection makes nats-server refuse the micro reply under `allow_responses`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from pydantic import ValidationError

from bus_schemas.heartbeat import HEARTBEATS, PING, ConsumerLag, Heartbeat, Scalar, heartbeat_subject
from bus_schemas.streams import ConsumerSpec

from . import metrics
from .bus import Bus, Observer
from .micro import MicroService, new_instance_id, pagi_version

log = logging.getLogger("pagi.heartbeat")

INTERVAL_ENV: Final = "PAGI_HEARTBEAT_S"
DEFAULT_INTERVAL_S: Final = 5.0
# An instance is gone when this many heartbeats in a row did not come.
MISSED_BEATS: Final = 3

_details: dict[str, Scalar] = {}


def report(key: str, value: Scalar) -> None:
    """Put a fact about this process in every heartbeat it sends from now on (never a secret)."""
    _details[key] = value


def interval_from_env() -> float:
    try:
        return max(0.05, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


class Heartbeater:
    """Sends this instance's heartbeat every interval, samples its consumers' lag for the
    `pagi_consumer_*` gauges, registers the instance as a micro service (its metadata refreshed with
    every beat), answers pings (`pagi.ping`) with a beat, and says goodbye on stop."""

    def __init__(
        self,
        bus: Bus,
        service: str,
        consumers: Sequence[ConsumerSpec] = (),
        interval_s: float | None = None,
        metrics_url: str | None = None,
        details: dict[str, Scalar] | None = None,
    ) -> None:
        self.bus = bus
        self.service = service
        self.instance = new_instance_id()
        self.consumers = consumers
        self.interval_s = interval_s or interval_from_env()
        self.metrics_url = metrics_url
        self.details = details
        self.started_at = datetime.now(UTC)
        self._task: asyncio.Task[None] | None = None
        self._ping: Observer | None = None
        self._lag: list[ConsumerLag] = []
        self.micro: MicroService | None = None

    async def start(self) -> None:
        async def on_ping(subject: str, data: bytes) -> None:
            await self.beat()

        self.micro = await MicroService.register(self.bus, self.service, self.instance, self.facts())
        self._ping = await self.bus.listen(PING, on_ping)
        await self.sample()
        await self.beat()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ping is not None:
            await self._ping.stop()
        if self.micro is not None:
            await self.micro.stop()
        await self.beat("stopping")
        with contextlib.suppress(Exception):
            await self.bus.nc.flush(timeout=1)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sample()
                await self.beat()
            except Exception:  # a heartbeat must never take the service down
                log.warning("heartbeat failed", exc_info=True)

    async def sample(self) -> None:
        lag = []
        for spec in self.consumers:
            state = await self.bus.consumer_state(spec.stream, spec.durable)
            if state is None:
                continue
            metrics.CONSUMER_PENDING.labels(spec.durable).set(state.num_pending)
            metrics.CONSUMER_ACK_PENDING.labels(spec.durable).set(state.num_ack_pending)
            lag.append(
                ConsumerLag(durable=spec.durable, num_pending=state.num_pending, num_ack_pending=state.num_ack_pending)
            )
        self._lag = lag

    def heartbeat(self, status: str = "up") -> Heartbeat:
        return Heartbeat(
            service=self.service,
            instance=self.instance,
            status="stopping" if status == "stopping" else "up",
            version=pagi_version(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            ts=datetime.now(UTC),
            interval_s=self.interval_s,
            metrics_url=self.metrics_url,
            consumers=self._lag,
            details={**_details, **(self.details or {})},
        )

    def facts(self) -> dict[str, Scalar]:
        """What this instance tells micro clients in its metadata (the heartbeat's facts, flat)."""
        beat = self.heartbeat()
        facts: dict[str, Scalar] = {
            "host": beat.host,
            "pid": beat.pid,
            "started_at": beat.started_at.isoformat(),
            "metrics_url": beat.metrics_url,
        }
        return {**beat.details, **facts}

    async def beat(self, status: str = "up") -> None:
        beat = self.heartbeat(status)
        if self.micro is not None and status == "up":
            self.micro.update(self.facts())
        await self.bus.announce(heartbeat_subject(self.service, self.instance), beat.model_dump_json().encode())


@dataclass
class Seen:
    heartbeat: Heartbeat
    received: float  # time.monotonic() on arrival: immune to clock skew between hosts

    def alive(self, now: float) -> bool:
        return now - self.received <= MISSED_BEATS * self.heartbeat.interval_s


@dataclass
class ServiceView:
    name: str
    instances: list[Seen] = field(default_factory=list)
    # When the last instance was last heard from (monotonic), for a service with none alive.
    last_seen: float | None = None


class ServiceRegistry:
    """Every service instance heard from. A service seen once (or listed as required) and now
    without a live instance is down: that is how `/health` notices a stopped worker."""

    def __init__(self, bus: Bus, required: Sequence[str] = ()) -> None:
        self.bus = bus
        self.required = tuple(required)
        self._instances: dict[tuple[str, str], Seen] = {}
        self._last_seen: dict[str, float] = {}
        self._observer: Observer | None = None

    async def start(self) -> None:
        self._observer = await self.bus.listen(HEARTBEATS, self._on_heartbeat)
        await self.bus.nc.flush()
        # Everyone answers at once, so an edge that just started knows the system within a round trip.
        await self.bus.announce(PING, b"")

    async def stop(self) -> None:
        if self._observer is not None:
            await self._observer.stop()

    async def _on_heartbeat(self, subject: str, data: bytes) -> None:
        try:
            beat = Heartbeat.model_validate_json(data)
        except ValidationError:
            log.debug("ignored a malformed heartbeat on %s", subject)
            return
        key = (beat.service, beat.instance)
        now = time.monotonic()
        self._last_seen[beat.service] = now
        if beat.status == "stopping":
            self._instances.pop(key, None)
        else:
            self._instances[key] = Seen(beat, now)

    def services(self) -> dict[str, ServiceView]:
        now = time.monotonic()
        views = {name: ServiceView(name) for name in (*self.required, *self._last_seen)}
        for (service, _), seen in sorted(self._instances.items()):
            if seen.alive(now):
                views[service].instances.append(seen)
        for name, view in views.items():
            view.last_seen = self._last_seen.get(name)
            metrics.SERVICE_INSTANCES.labels(name).set(len(view.instances))
        return views
