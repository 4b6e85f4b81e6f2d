"""`python -m bench.planner`: the planner's overhead per step with the deterministic planner, from a
chat.in message's bytes in hand to its `plan.action` published (decode, job record, twin, decision,
publish), next to a bare handler on the same server that decodes the same bytes and publishes one
event (the floor any handler pays). On both nats-server configurations (bench/stack.py): bare, and
`pagi up`'s nats.conf, where both connect as the planner's own user."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from bus_schemas import ChatIn, Envelope, decode, encode, new_id
from bus_schemas.subjects import PLAN_ACTION
from pagi.bus import Bus, Delivery
from planner.__main__ import build_planner
from planner.chat_in import ChatInHandler
from planner.settings import PlannerSettings

from .stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_nats


class PlanClock(Bus):
    """The real bus, noting when each job's plan.action publish was acknowledged."""

    def __init__(self, inner: Bus) -> None:
        super().__init__(inner.nc, inner.name, inner.user, inner.wire_format)
        self.planned: dict[str, float] = {}

    async def publish(self, event: Envelope[Any], fmt: Any = None, retry_for_s: float = 10.0) -> int:
        seq = await super().publish(event, fmt, retry_for_s)
        if event.type == PLAN_ACTION and event.job_id is not None:
            self.planned.setdefault(event.job_id, time.perf_counter())
        return seq


def chat_in_bytes(session: str) -> tuple[str, bytes, dict[str, str]]:
    job_id = new_id()
    event = Envelope[ChatIn](
        id=job_id, type="chat.in", session_id=session, job_id=job_id, body=ChatIn(message="hello, how are you?")
    )
    data, headers = encode(event)
    return job_id, data, headers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(count: int, config: NatsConfig) -> None:
    async with running_nats(config) as server:
        # The streams are there (running_nats bootstraps them); the planner's user may not create them.
        bus = await Bus.connect(server.url_for("planner"), "bench-planner")
        clock = PlanClock(bus)
        planner = await build_planner(clock, PlannerSettings())
        handler = ChatInHandler(planner)
        delivery = Delivery(clock, "bench", 1, 0, None)  # type: ignore[arg-type]

        async def planner_step() -> float:
            job_id, data, headers = chat_in_bytes("bench-planner")
            start = time.perf_counter()
            await handler(decode("chat.in.bench-planner", data, headers), delivery)
            return (clock.planned[job_id] - start) * 1000

        async def bare_step() -> float:
            _, data, headers = chat_in_bytes("bench-bare")
            start = time.perf_counter()
            event = decode("chat.in.bench-bare", data, headers)
            await bus.publish(event.caused("echo", "job.log", _log()))
            return (time.perf_counter() - start) * 1000

        results = {}
        for name, step in (("bare handler", bare_step), ("planner step", planner_step)):
            for _ in range(50):
                await step()  # warm up
            results[name] = [await step() for _ in range(count)]
        await bus.close()

    print(config_heading(config))
    print(f"machine: {os.cpu_count()} cores; {count} sequential messages each")
    print(f"{'':16}{'p50 ms':>10}{'p99 ms':>10}")
    for name, samples in results.items():
        print(f"{name:16}{statistics.median(samples):10.3f}{percentile(samples, 0.99):10.3f}")
    bare, ours = results["bare handler"], results["planner step"]
    print(f"ratio p50: {statistics.median(ours) / statistics.median(bare):.2f}  (goal: planner p50 <= 2 ms)")


def _log() -> Any:
    from bus_schemas import JobLog

    return JobLog(level="info", service="bench", message="echo")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.planner", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    add_config_argument(parser)
    args = parser.parse_args()
    for config in chosen_configs(args):
        asyncio.run(run(args.count, config))


if __name__ == "__main__":
    main()
