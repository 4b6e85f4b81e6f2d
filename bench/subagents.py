"""`python -m bench.subagents`: a sub-agent question's overhead with the deterministic planner. The
same question asked directly of a twin (`hello`, to reviewer) and through another twin (`/ask
reviewer hello`, to ops: a second job, its policy worked out from both twins, its answer fed back as
the first job's observation and answered), each from the chat.in message's bytes in hand to the final
answer of the job the person started published. Goal: the sub-agent question <= 1.5x the direct one
at p50. On both nats-server configurations (bench/stack.py): bare, and `pagi up`'s nats.conf, as
the planner's own user."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from bus_schemas import ChatIn, Envelope, decode, encode, new_id
from bus_schemas.subjects import CHAT_OUT
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus, Delivery
from planner.__main__ import build_planner
from planner.chat_in import ChatInHandler
from planner.settings import PlannerSettings

from .planner import percentile
from .stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_nats


class AnswerClock(Bus):
    """The real bus, noting when each job's final answer publish was acknowledged."""

    def __init__(self, inner: Bus) -> None:
        super().__init__(inner.nc, inner.name, inner.user, inner.wire_format)
        self.answered: dict[str, float] = {}

    async def publish(self, event: Envelope[Any], fmt: Any = None, retry_for_s: float = 10.0) -> int:
        seq = await super().publish(event, fmt, retry_for_s)
        self._note(event)
        return seq

    def _note(self, event: Envelope[Any]) -> None:
        if event.type == CHAT_OUT and event.job_id is not None and event.body.is_final:
            self.answered.setdefault(event.job_id, time.perf_counter())


def chat_in_bytes(session: str, twin_id: str, message: str) -> tuple[str, bytes, dict[str, str]]:
    job_id = new_id()
    event = Envelope[ChatIn](
        id=job_id, type="chat.in", session_id=session, job_id=job_id, twin_id=twin_id,
        body=ChatIn(message=message, twin_id=twin_id),
    )  # fmt: skip
    data, headers = encode(event)
    return job_id, data, headers


async def run(count: int, config: NatsConfig) -> None:
    async with running_nats(config) as server:
        # The streams are there (running_nats bootstraps them); the planner's user may not create them.
        bus = await Bus.connect(server.url_for("planner"), "bench-subagents")
        clock = AnswerClock(bus)
        planner = await build_planner(clock, PlannerSettings())
        await planner.twins.create("reviewer", TwinWrite(codename="Reviewer"))
        await planner.twins.create("ops", TwinWrite(codename="Ops", may_ask=["reviewer"]))
        handler = ChatInHandler(planner)
        delivery = Delivery(clock, "bench", 1, 0, None)  # type: ignore[arg-type]

        def step(session: str, twin_id: str, message: str) -> Any:
            async def one() -> float:
                job_id, data, headers = chat_in_bytes(session, twin_id, message)
                start = time.perf_counter()
                await handler(decode(f"chat.in.{session}", data, headers), delivery)
                return (clock.answered[job_id] - start) * 1000

            return one

        cases = {
            "direct": step("bench-direct", "reviewer", "hello"),
            "sub-agent": step("bench-ask", "ops", "/ask reviewer hello"),
        }
        results = {}
        for name, one in cases.items():
            for _ in range(30):
                await one()  # warm up
            results[name] = [await one() for _ in range(count)]
        await bus.close()

    print(config_heading(config))
    print(f"machine: {os.cpu_count()} cores; {count} sequential questions each")
    print(f"{'':12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, samples in results.items():
        print(f"{name:12}{statistics.median(samples):10.3f}{percentile(samples, 0.99):10.3f}")
    ratio = statistics.median(results["sub-agent"]) / statistics.median(results["direct"])
    print(f"ratio p50: {ratio:.2f}  (goal: <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.subagents", description=__doc__)
    parser.add_argument("--count", type=int, default=300)
    add_config_argument(parser)
    args = parser.parse_args()
    for config in chosen_configs(args):
        asyncio.run(run(args.count, config))


if __name__ == "__main__":
    main()
