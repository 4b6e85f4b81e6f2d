"""The agent's loop: one sample per interval onto `telemetry.host.<host>`, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bus_schemas import Envelope
from bus_schemas.subjects import TELEMETRY_HOST
from bus_schemas.telemetry import TelemetrySample
from pagi.bus import Bus, BusUnavailable

from .sampler import Sampler

log = logging.getLogger(__name__)


def sample_event(sampler: Sampler) -> Envelope[TelemetrySample]:
    taken_at = datetime.now(UTC)
    return Envelope[TelemetrySample](
        type=TELEMETRY_HOST, session_id=sampler.host_id, ts=taken_at, body=sampler.sample()
    )


@dataclass
class AgentStats:
    """Running counts, readable while the loop runs (health checks, tests)."""

    published: int = 0
    failed_publishes: int = 0
    failed_samples: int = 0


class _FailureStreak:
    """Reports the first failure of a run and the recovery, not every failed second in between."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0

    def failed(self, exc: BaseException, with_traceback: bool) -> None:
        self.count += 1
        if self.count == 1:
            log.warning("%s failed: %s; retrying every interval", self.what, exc, exc_info=with_traceback)

    def succeeded(self) -> None:
        if self.count:
            log.info("%s works again after %d failed interval(s)", self.what, self.count)
            self.count = 0


async def publish_samples(
    bus: Bus,
    stopping: asyncio.Event,
    sampler: Sampler,
    interval_s: float,
    stats: AgentStats | None = None,
) -> AgentStats:
    """Publish until `stopping` is set; returns the counts (also kept up to date in `stats`)."""
    loop = asyncio.get_running_loop()
    stats = stats if stats is not None else AgentStats()
    publishing = _FailureStreak("publishing telemetry")
    sampling = _FailureStreak("sampling")
    next_at = loop.time()
    while not stopping.is_set():
        try:
            event = sample_event(sampler)
        except Exception as exc:
            # psutil can fail on a half-gone /proc entry; the next interval is a fresh try.
            stats.failed_samples += 1
            sampling.failed(exc, with_traceback=True)
        else:
            sampling.succeeded()
            try:
                # Retry no longer than one interval: a stale sample is worth less than the next one.
                await bus.publish(event, retry_for_s=interval_s)
            except BusUnavailable as exc:
                stats.failed_publishes += 1
                publishing.failed(exc, with_traceback=False)
            else:
                publishing.succeeded()
                stats.published += 1
        next_at += interval_s
        now = loop.time()
        if next_at <= now:
            # Fell behind (slow bus, suspended host): skip the missed ticks instead of bursting.
            next_at = now + interval_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), next_at - now)
    return stats
