"""`python -m bench.sync_interval`: what `sync_interval: always` (fsync before every ack) costs.

Two nats-servers in turn, identical but for JetStream's `sync_interval` (the default lazy fsync
every 2 minutes, then `always`), each on a fresh store in the same directory (so on the same disk):

- JetStream publish latency, one 1 KiB event at a time (p50/p99);
- publish throughput with 256 publishes in flight;
- the chat round trip through the real planner (chat.in -> planner -> chat.out), one at a time,
  which writes chat.in, plan.action, chat.out, job.log and the job's KV records; and chat
  throughput with 64 messages in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bus_schemas import Envelope
from bus_schemas.chat import ChatIn, ChatOut
from pagi.bus import Bus
from pagi.service import start_routes
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService

CONF = """
jetstream {{
  max_memory_store: 256MB
  max_file_store: 4GB
  {sync}
}}
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, count: int, chats: int) -> dict[str, float]:
    bus = await Bus.connect(url, "bench-sync", connect_timeout_s=10)
    await bus.ensure_topology()
    js = bus.nc.jetstream(timeout=10)
    await js.add_stream(name="BENCH_SYNC", subjects=["bench.sync.>"])
    payload = b"x" * 1024
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        await js.publish(f"bench.sync.{i % 16}", payload)
        latencies.append((time.perf_counter() - started) * 1000)
    window = asyncio.Semaphore(256)

    async def one(i: int) -> None:
        async with window:
            await js.publish(f"bench.sync.{i % 16}", payload)

    burst = count * 4
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(burst)))
    throughput = burst / (time.perf_counter() - started)

    service = PlannerService()
    consumers = await start_routes(bus, await service.routes(bus))
    answers: dict[str, asyncio.Future[None]] = {}

    async def on_out(event: Envelope[Any]) -> None:
        if isinstance(event.body, ChatOut) and event.body.is_final and event.job_id in answers:
            if not answers[event.job_id].done():
                answers[event.job_id].set_result(None)

    observer = await bus.observe("chat.out.*", on_out)
    await bus.nc.flush()
    chat_ms = []
    for i in range(chats):
        event: Envelope[Any] = Envelope(type="chat.in", session_id=f"sync-{i % 8}", body=ChatIn(message=f"hello {i}"))
        event = event.model_copy(update={"job_id": event.id})
        answers[event.id] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        await bus.publish(event)
        await asyncio.wait_for(answers[event.id], 30)
        chat_ms.append((time.perf_counter() - started) * 1000)
    # Chat throughput: `chats` messages with up to 64 in flight.
    flight = asyncio.Semaphore(64)

    async def chat_one(i: int) -> None:
        async with flight:
            event: Envelope[Any] = Envelope(type="chat.in", session_id=f"sat-{i % 32}", body=ChatIn(message=f"hi {i}"))
            event = event.model_copy(update={"job_id": event.id})
            answers[event.id] = asyncio.get_running_loop().create_future()
            await bus.publish(event)
            await asyncio.wait_for(answers[event.id], 60)

    started = time.perf_counter()
    await asyncio.gather(*(chat_one(i) for i in range(chats)))
    chat_per_s = chats / (time.perf_counter() - started)
    await observer.stop()
    for consumer in consumers:
        await consumer.stop()
    await service.close()
    await bus.close()
    return {
        "publish_p50_ms": statistics.median(latencies),
        "publish_p99_ms": pct(latencies, 0.99),
        "publish_per_s": throughput,
        "chat_p50_ms": statistics.median(chat_ms),
        "chat_p99_ms": pct(chat_ms, 0.99),
        "chat_per_s": chat_per_s,
    }


def run_one(base: Path, sync: str, count: int, chats: int) -> dict[str, float]:
    store = Path(tempfile.mkdtemp(dir=base))
    config = store / "nats.conf"
    config.write_text(CONF.format(sync=f"sync_interval: {sync}" if sync != "default" else ""))
    server = NatsServer(store / "nats", config=config)
    server.start()
    try:
        return asyncio.run(measure(server.url, count, chats))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_interval", description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="sequential publishes")
    parser.add_argument("--chats", type=int, default=200, help="sequential chat round trips")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the stores go")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each setting")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"default": [], "always": []}
    for _ in range(args.rounds):
        for sync in ("default", "always"):
            results[sync].append(run_one(args.dir, sync, args.count, args.chats))
    print(f"{'sync_interval':<14}" + "".join(f"{k:>16}" for k in results["default"][0]))
    for sync, rows in results.items():
        medians = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{sync:<14}" + "".join(f"{v:>16.2f}" for v in medians.values()))


if __name__ == "__main__":
    main()
