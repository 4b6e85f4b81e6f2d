"""`python -m bench.roundtrip`: the chat round trip WebSocket -> edge -> planner -> edge -> WebSocket,
next to a bare nats-py JetStream round trip (publish -> pull consumer -> publish reply -> receive)
in the same run.

Prints latency p50/p99 (one message at a time), sustained throughput at a steady rate with loss,
throughput at saturation and the planner's and edge's CPU per message there, for both paths, and
the ratios. The chat path runs with the services on each wire format (`--wire-format`, default
both: JSON and msgpack in turn, `--rounds` times, each on a fresh nats-server; medians, and the
ratio json/msgpack). Both on each nats-server configuration (`--nats-config`, default both: bare,
and `pagi up`'s nats.conf with fsync on every write and a user per service); the bare round trip
runs on the same server as the chat path it is printed beside, as the operator user there (allowed
every subject, so its permission check is the cheapest one; its stream is fsynced like PAGI's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import nats
import psutil
from nats.aio.msg import Msg
from nats.js import api

from bus_schemas.codec import FORMATS, Format

from .stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_nats, running_stack

BARE_STREAM = "BENCH_BARE"


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float


@dataclass
class Rate:
    offered: int
    answered: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the bare baseline ----------------------------------------------------------------------------


async def bare_worker(url: str) -> None:
    """Consume each request, publish a reply to the stream, ack: the least a JetStream service does."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    tasks: set[asyncio.Task[None]] = set()

    async def reply(msg: Msg) -> None:
        await js.publish("bare.rep." + msg.subject.rsplit(".", 1)[1], msg.data)
        await msg.ack()

    async def on_request(msg: Msg) -> None:
        # Replies run concurrently, as in our consume loop.
        task = asyncio.create_task(reply(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await js.subscribe(
        "bare.req.*",
        durable="bare-worker",
        stream=BARE_STREAM,
        cb=on_request,
        manual_ack=True,
        config=api.ConsumerConfig(max_ack_pending=1000),
    )
    print("ready", flush=True)
    await asyncio.Event().wait()


class BareClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def __aenter__(self) -> BareClient:
        self.nc = await nats.connect(self.url)
        self.js = self.nc.jetstream()

        async def on_reply(msg: Msg) -> None:
            future = self.waiting.pop(msg.data.decode(), None)
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

        await self.nc.subscribe("bare.rep.*", cb=on_reply)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.close()

    async def send(self) -> float:
        key = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        start = time.perf_counter()
        await self.js.publish(f"bare.req.{key[:8]}", key.encode(), headers={"Nats-Msg-Id": key})
        done: float = await asyncio.wait_for(future, 10)
        return done - start


# --- the PAGI path -------------------------------------------------------------------------------


class ChatClient:
    """One WebSocket per session, like a browser tab."""

    def __init__(self, url: str, sockets: int) -> None:
        self.url = url
        self.count = sockets
        self.waiting: dict[str, list[asyncio.Future[float]]] = {}

    async def __aenter__(self) -> ChatClient:
        self.http = aiohttp.ClientSession()
        ws_url = self.url.replace("http", "ws")
        self.sockets = [await self.http.ws_connect(f"{ws_url}/ws/chat/bench{i}") for i in range(self.count)]
        self.readers = [asyncio.create_task(self._read(i, ws)) for i, ws in enumerate(self.sockets)]
        self.next = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        for reader in self.readers:
            reader.cancel()
        for ws in self.sockets:
            await ws.close()
        await self.http.close()

    async def _read(self, index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            frame = json.loads(msg.data)
            if frame["type"] == "complete_message":
                queue = self.waiting.get(frame["session_id"])
                if queue:
                    future = queue.pop(0)
                    if not future.done():
                        future.set_result(time.perf_counter())

    async def send(self) -> float:
        index = self.next % self.count
        self.next += 1
        session = f"bench-{index}"
        future = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(session, []).append(future)
        start = time.perf_counter()
        frame = {"session_id": session, "user_id": f"bench{index}", "timestamp": 0, "message": "ping"}
        await self.sockets[index].send_str(json.dumps(frame))
        done: float = await asyncio.wait_for(future, 30)
        return done - start


# --- measurements -------------------------------------------------------------------------------


async def latency(send: Callable[[], Coroutine[Any, Any, float]], count: int) -> Latency:
    for _ in range(20):
        await send()  # warm up
    samples = [await send() * 1000 for _ in range(count)]
    return Latency(statistics.median(samples), percentile(samples, 0.99))


async def steady(send: Callable[[], Coroutine[Any, Any, float]], rate: int, seconds: float) -> Rate:
    """Offer `rate` messages a second for `seconds`, each on its own task; count every answer."""
    interval = 1 / rate
    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send()))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - start
    ok = [r * 1000 for r in results if isinstance(r, float)]
    return Rate(len(tasks), len(ok), elapsed, statistics.median(ok), percentile(ok, 0.99))


async def saturation(send: Callable[[], Coroutine[Any, Any, float]], window: int, seconds: float) -> Rate:
    """Keep `window` messages in flight for `seconds`."""
    deadline = time.perf_counter() + seconds
    samples: list[float] = []
    offered = 0

    async def lane() -> None:
        nonlocal offered
        while time.perf_counter() < deadline:
            offered += 1
            samples.append(await send() * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(window)))
    return Rate(
        offered, len(samples), time.perf_counter() - start, statistics.median(samples), percentile(samples, 0.99)
    )


@dataclass
class ChatFigures:
    latency: Latency
    steady: Rate
    saturation: Rate
    cpu_ms_per_msg: float  # planner + edge CPU time per answered message at saturation


@contextlib.contextmanager
def wire_format(fmt: Format) -> Iterator[None]:
    """The services started inside publish in `fmt` (they read PAGI_WIRE_FORMAT at start)."""
    saved = os.environ.get("PAGI_WIRE_FORMAT")
    os.environ["PAGI_WIRE_FORMAT"] = fmt
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PAGI_WIRE_FORMAT", None)
        else:
            os.environ["PAGI_WIRE_FORMAT"] = saved


def _cpu_s(processes: list[psutil.Process]) -> float:
    return sum(float(p.cpu_times().user + p.cpu_times().system) for p in processes)


async def chat_path(args: argparse.Namespace, fmt: Format, config: NatsConfig) -> ChatFigures:
    # A fresh server each time: jobs left by one format's run must not slow the next one's planner.
    figures: ChatFigures | None = None
    processes: list[subprocess.Popen[bytes]] = []
    async with running_nats(config) as server:
        try:
            with wire_format(fmt), running_stack(server) as stack:
                processes = stack.processes
                services = [psutil.Process(p.pid) for p in stack.processes]
                async with ChatClient(stack.edge_url, args.sockets) as chat:
                    lat = await latency(chat.send, args.count)
                    rate = await steady(chat.send, args.rate, args.seconds)
                    before = _cpu_s(services)
                    sat = await saturation(chat.send, args.window, args.seconds)
                    cpu_ms = (_cpu_s(services) - before) * 1000 / sat.answered
                figures = ChatFigures(lat, rate, sat, cpu_ms)
        except subprocess.TimeoutExpired as exc:
            # Measured already; a service slow to stop on a busy machine must not lose the run (or
            # outlive it, holding this process's stderr).
            print(f"  (note: {' '.join(map(str, exc.cmd))} took over {exc.timeout:.0f} s to stop; killed)")
            for process in processes:
                process.kill()
    assert figures is not None
    return figures


def _median_figures(runs: list[ChatFigures]) -> dict[str, float]:
    def med(pick: Callable[[ChatFigures], float]) -> float:
        return statistics.median(pick(r) for r in runs)

    return {
        "latency p50 ms": med(lambda r: r.latency.p50_ms),
        "latency p99 ms": med(lambda r: r.latency.p99_ms),
        "steady answered/s": med(lambda r: r.steady.per_second),
        "steady p50 ms": med(lambda r: r.steady.p50_ms),
        "steady p99 ms": med(lambda r: r.steady.p99_ms),
        "saturation msgs/s": med(lambda r: r.saturation.per_second),
        "saturation p50 ms": med(lambda r: r.saturation.p50_ms),
        "CPU ms/msg (planner+edge)": med(lambda r: r.cpu_ms_per_msg),
    }


async def run(args: argparse.Namespace) -> None:
    for config in chosen_configs(args):
        print(config_heading(config), flush=True)
        await run_config(args, config)


async def run_config(args: argparse.Namespace, config: NatsConfig) -> None:
    formats: tuple[Format, ...] = FORMATS if args.wire_format == "both" else (args.wire_format,)
    async with running_nats(config) as server:
        nc = await nats.connect(server.url)
        await nc.jetstream().add_stream(
            api.StreamConfig(name=BARE_STREAM, subjects=["bare.>"], storage=api.StorageType.FILE)
        )
        await nc.close()
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.roundtrip", "--bare-worker", server.url, stdout=asyncio.subprocess.PIPE
        )
        assert worker.stdout is not None
        await worker.stdout.readline()
        try:
            async with BareClient(server.url) as bare:
                bare_latency = await latency(bare.send, args.count)
                bare_steady = await steady(bare.send, args.rate, args.seconds)
                bare_saturation = await saturation(bare.send, args.window, args.seconds)
        finally:
            worker.terminate()
            await worker.wait()
    runs: dict[Format, list[ChatFigures]] = {fmt: [] for fmt in formats}
    for r in range(args.rounds):
        # Each round starts with the other format, so neither always runs first on a drifting machine.
        for fmt in formats[r % len(formats) :] + formats[: r % len(formats)]:
            runs[fmt].append(await chat_path(args, fmt, config))
    chat = {fmt: _median_figures(figures) for fmt, figures in runs.items()}
    floor = {
        "latency p50 ms": bare_latency.p50_ms,
        "latency p99 ms": bare_latency.p99_ms,
        "steady answered/s": bare_steady.per_second,
        "steady p50 ms": bare_steady.p50_ms,
        "steady p99 ms": bare_steady.p99_ms,
        "saturation msgs/s": bare_saturation.per_second,
        "saturation p50 ms": bare_saturation.p50_ms,
    }

    print(
        f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; count={args.count} rate={args.rate}/s "
        f"seconds={args.seconds} window={args.window} sockets={args.sockets} rounds={args.rounds} (medians)"
    )
    head = f"{'':28}{'bare JetStream':>16}" + "".join(f"{'PAGI ' + fmt:>14}{'/bare':>7}" for fmt in formats)
    print(head + (f"{'json/msgpack':>14}" if len(formats) == 2 else ""))
    for name in chat[formats[0]]:
        base = floor.get(name)
        row = f"{name:28}" + (f"{base:16.2f}" if base is not None else f"{'':16}")
        for fmt in formats:
            value = chat[fmt][name]
            row += f"{value:14.2f}" + (f"{value / base:7.2f}" if base else f"{'':7}")
        if len(formats) == 2:
            row += f"{chat['json'][name] / chat['msgpack'][name]:14.3f}"
        print(row)
    lost = ", ".join(
        f"PAGI {fmt} {sum(r.steady.offered - r.steady.answered for r in runs[fmt])}/"
        f"{sum(r.steady.offered for r in runs[fmt])}"
        for fmt in formats
    )
    print(f"steady loss: bare {bare_steady.offered - bare_steady.answered}/{bare_steady.offered}, {lost}")
    for fmt in formats:  # the spread the medians hide, run by run
        per_run = ", ".join(
            f"{r.latency.p50_ms:.2f} ms / {r.saturation.per_second:.0f}/s / {r.cpu_ms_per_msg:.2f} ms"
            for r in runs[fmt]
        )
        print(f"  {fmt} runs (p50 / saturation / CPU per msg): {per_run}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.roundtrip", description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="sequential messages for latency")
    parser.add_argument("--rate", type=int, default=500, help="steady offered rate, messages/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=200, help="messages in flight at saturation")
    parser.add_argument("--sockets", type=int, default=20, help="WebSocket connections (sessions)")
    parser.add_argument(
        "--wire-format", choices=[*FORMATS, "both"], default="both", help="what the services publish in"
    )
    parser.add_argument("--rounds", type=int, default=1, help="runs of the chat path per wire format")
    parser.add_argument("--bare-worker", metavar="NATS_URL", help=argparse.SUPPRESS)
    add_config_argument(parser)
    args = parser.parse_args()
    if args.bare_worker:
        asyncio.run(bare_worker(args.bare_worker))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
