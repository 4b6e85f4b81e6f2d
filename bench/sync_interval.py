"""`python -m bench.sync_interval`: what `sync_interval: always` (fsync before every ack) costs on
this disk, and what `pagi up`'s users and permissions cost on top.

Three nats-servers in turn, each on a fresh store in the same directory (so on the same disk):
"default" and "always" are identical but for JetStream's `sync_interval` (the default lazy fsync
every 2 minutes, then `always`), with no users; "pagi" is the server `pagi up` runs (its nats.conf:
`always` plus a user and permissions per service; the bench as the operator, the planner as its own
user). Each measures:

- JetStream publish latency, one 1 KiB event at a time (p50/p99);
- publish throughput with 256 publishes in flight;
- the chat round trip through the real planner (chat.in -> planner -> chat.out), one at a time,
  which writes chat.in, plan.action, chat.out, job.log and the job's KV records; and chat
  throughput with 64 messages in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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

from .stack import running_nats

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


async def measure(url: str, planner_url: str, count: int, chats: int) -> dict[str, float]:
    bus = await Bus.connect(url, "bench-sync", connect_timeout_s=10)
    await bus.ensure_topology()
    planner_bus = await Bus.connect(planner_url, "bench-sync-planner", connect_timeout_s=10)
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
    consumers = await start_routes(planner_bus, await service.routes(planner_bus))
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
    await planner_bus.close()
    await bus.close()
    return {
        "publish_p50_ms": statistics.median(latencies),
        "publish_p99_ms": pct(latencies, 0.99),
        "publish_per_s": throughput,
        "chat_p50_ms": statistics.median(chat_ms),
        "chat_p99_ms": pct(chat_ms, 0.99),
        "chat_per_s": chat_per_s,
    }


SETTINGS = ("default", "always", "pagi")


async def run_pagi(base: Path, count: int, chats: int) -> dict[str, float]:
    async with running_nats("pagi", base) as nats:
        return await measure(nats.url, nats.url_for("planner"), count, chats)


def run_one(base: Path, sync: str, count: int, chats: int) -> dict[str, float]:
    if sync == "pagi":
        return asyncio.run(run_pagi(base, count, chats))
    store = Path(tempfile.mkdtemp(dir=base))
    config = store / "nats.conf"
    config.write_text(CONF.format(sync=f"sync_interval: {sync}" if sync != "default" else ""))
    server = NatsServer(store / "nats", config=config)
    server.start()
    try:
        return asyncio.run(measure(server.url, server.url, count, chats))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_interval", description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="sequential publishes")
    parser.add_argument("--chats", type=int, default=200, help="sequential chat round trips")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the stores go")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each setting")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {sync: [] for sync in SETTINGS}
    for _ in range(args.rounds):
        for sync in SETTINGS:
            results[sync].append(run_one(args.dir, sync, args.count, args.chats))
    load = os.getloadavg()[0]
    print(f"stores in {args.dir} ({filesystem(args.dir)}); load average {load:.2f}; medians of {args.rounds} rounds")
    print(f"{'sync_interval':<14}" + "".join(f"{k:>16}" for k in results["default"][0]))
    medians = {sync: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for sync, rows in results.items()}
    for sync, row in medians.items():
        print(f"{sync:<14}" + "".join(f"{v:>16.2f}" for v in row.values()))

    def ratio(over: str, under: str, key: str) -> str:
        return f"{medians[over][key] / medians[under][key]:.2f}x"

    extra_ms = medians["always"]["publish_p50_ms"] - medians["default"]["publish_p50_ms"]
    print(
        f"fsync on this disk (always vs default): publish p50 +{extra_ms:.2f} ms "
        f"({ratio('always', 'default', 'publish_p50_ms')}), publish throughput "
        f"{ratio('always', 'default', 'publish_per_s')}, chat p50 {ratio('always', 'default', 'chat_p50_ms')}, "
        f"chat throughput {ratio('always', 'default', 'chat_per_s')}"
    )
    print(
        f"users and permissions on top (pagi vs always): publish p50 {ratio('pagi', 'always', 'publish_p50_ms')}, "
        f"publish throughput {ratio('pagi', 'always', 'publish_per_s')}, "
        f"chat p50 {ratio('pagi', 'always', 'chat_p50_ms')}, "
        f"chat throughput {ratio('pagi', 'always', 'chat_per_s')}"
    )


def filesystem(path: Path) -> str:
    """The device and filesystem type `path` is on (the mount with the longest matching prefix)."""
    best = ("?", "?", "")
    resolved = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, fstype = line.split()[:3]
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[2]):
            best = (device, fstype, mount)
    return f"{best[0]} {best[1]} on {best[2]}"


if __name__ == "__main__":
    main()
