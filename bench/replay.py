"""`python -m bench.replay`: how fast a session replays, and what tracing costs the chat round trip.

Part 1, replay: a real nats-server gets one session of N events (chat, plans, tool runs and
results, job logs, answers, in realistic sizes) interleaved with as many events of other sessions,
so the filtered consumer has to pick the session out. Timed: reading and decoding the session
(`pagi.replay.timeline`), the same plus the printed timeline lines, plus `--json`, and the whole
`pagi replay SESSION > /dev/null` command (a new Python process: start-up, connect, read, print).

Part 2, tracing overhead: the WebSocket chat round trip (bench.roundtrip's client) against a
planner and an edge started with tracing off (no OTLP endpoint: W3C propagation only, the default)
and on (every span exported over OTLP/HTTP to a local collector stand-in that accepts and counts
them), and on with the SDK's sampler keeping one trace in ten. They run in turns, several rounds,
each on a fresh nats-server, compared by medians; besides latency and saturation throughput, the
CPU time of the planner and edge processes per answered message, which a busy machine disturbs far
less than latency.

Part 3, the same three modes on the planner's path in one process (the planner's consumers and a
client publishing chat.in and waiting for chat.out), switched every block of messages so the
machine's drift falls on all of them alike: CPU per message, the steadiest figure on a shared
machine. Each block's spans are flushed to the collector inside the block's time (their export is
counted, one POST per block: more often than a busy service's 512-span batches, so an upper
bound); a few untimed messages after each switch absorb its cost; the modes run in a shuffled
order each cycle, and "off" runs twice ("off, again": the noise floor, what two identical modes
differ by on this machine in this run).

Parts 2 and 3 run on each nats-server configuration `--nats-config` asks for (bench.stack: bare,
pagi up's nats.conf, or both, the default); parts 1 and 4 on a bare server.

Wire formats (`--wire-format`, default both): part 1 runs once per format (the session stored in
JSON, then in msgpack, each on a fresh nats-server), and part 4 is part 3's planner path with the
bus publishing JSON and msgpack in turn every block: CPU per message and latency by format, and the
ratio json/msgpack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import psutil

from bus_schemas import (
    ActionResponse,
    ActionTool,
    ChatIn,
    ChatOut,
    Envelope,
    JobLog,
    PlanAction,
    ToolResult,
    ToolRun,
)
from bus_schemas.codec import FORMATS, Format
from bus_schemas.subjects import one_session
from pagi import tracing
from pagi.bus import Bus
from pagi.service import start_routes
from pagi.timeline import as_json, line
from pagi_cli.replay import timeline
from planner.__main__ import PlannerService

from .roundtrip import ChatClient, latency, saturation
from .stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_nats, running_stack

SESSION = "bench-replay"


# --- part 1: replay -----------------------------------------------------------------------------


def job_events(session_id: str, n: int) -> list[Envelope[Any]]:
    """One tool-using job: 10 events, a few hundred bytes to a few KiB each."""
    job = f"{session_id}-job{n}"
    chat = Envelope[Any](
        id=job, type="chat.in", session_id=session_id, job_id=job, body=ChatIn(message=f"list the files, take {n}")
    )
    tool = ActionTool(tool_name="list_files", args={"path": "."})
    listing = "\n".join(f"file_{i:04d}.txt" for i in range(120))
    answer = ActionResponse(content=f"Here are the files:\n{listing}")
    log = "planner"
    raw = json.dumps(tool.model_dump())
    result = ToolResult(
        request_id=f"r{n}", tool_name="list_files", exit_code=0, stdout=listing, duration_ms=12.5, isolation="bwrap"
    )
    final = ChatOut(content=answer.content, actions_taken=["ActionTool", "ActionResponse"])
    done = JobLog(level="plan", service=log, message="job completed", status="completed", progress=1.0)
    return [
        chat,
        chat.caused("p1", "plan.action", PlanAction(action=tool, raw_decision=raw, decided_by="deterministic")),
        chat.caused("l1", "job.log", JobLog(level="plan", service=log, message="decided ActionTool", status="running")),
        chat.caused("run", "tool.run", ToolRun(request_id=f"r{n}", tool_name="list_files", args={"path": "."})),
        chat.caused("l2", "job.log", JobLog(level="tool", service="tool_worker", message="running list_files")),
        chat.caused("res", "tool.result", result),
        chat.caused(
            "p2", "plan.action", PlanAction(action=answer, raw_decision="{}", decided_by="deterministic", step=2)
        ),
        chat.caused("chunk", "chat.out", ChatOut(content="Here are", is_final=False)),
        chat.caused("out", "chat.out", final),
        chat.caused("l3", "job.log", done),
    ]


async def fill(bus: Bus, events: int) -> int:
    """The session's events interleaved with as many of other sessions'; returns bytes stored."""
    jobs = events // 10
    pending: list[asyncio.Future[Any]] = []
    for n in range(jobs):
        for event in (*job_events(SESSION, n), *job_events(f"other-{n % 50}", n)):
            pending.append(asyncio.ensure_future(bus.publish(event)))
        if len(pending) >= 400:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    state = await bus.stream_state("PAGI_EVENTS")
    return state.bytes if state else 0


@dataclass
class ReplayFigures:
    events: int
    stream_messages: int
    stream_mib: float
    read_s: list[float]
    lines_s: list[float]
    json_s: list[float]
    cli_s: list[float]


async def time_replay(bus: Bus, mode: str) -> tuple[float, int]:
    sink = io.StringIO()
    start = time.perf_counter()
    count = 0
    async for entry in timeline(bus, SESSION):
        count += 1
        if mode == "lines":
            sink.write(line(entry) + "\n")
        elif mode == "json":
            sink.write(json.dumps(as_json(entry)) + "\n")
    return time.perf_counter() - start, count


def time_cli(url: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pagi_cli", "replay", SESSION, "--nats-url", url],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


async def replay_part(events: int, rounds: int, formats: tuple[Format, ...]) -> dict[Format, ReplayFigures]:
    """The session stored once per format, each on its own nats-server; the rounds alternate the
    formats (each round starting with the other one), so neither is always the cold first."""
    async with contextlib.AsyncExitStack() as stack:
        stores: dict[Format, tuple[Bus, str, ReplayFigures]] = {}
        for fmt in formats:
            server = await stack.enter_async_context(running_nats())
            bus = await Bus.connect(server.url, "bench-replay", wire_format=fmt)
            stack.push_async_callback(bus.close)
            await bus.ensure_topology()
            stored = await fill(bus, events)
            state = await bus.stream_state("PAGI_EVENTS")
            figures = ReplayFigures(events, state.messages if state else 0, stored / 2**20, [], [], [], [])
            stores[fmt] = (bus, server.url, figures)
        for r in range(rounds):
            for fmt in formats[r % len(formats) :] + formats[: r % len(formats)]:
                bus, url, figures = stores[fmt]
                for mode, into in (("read", figures.read_s), ("lines", figures.lines_s), ("json", figures.json_s)):
                    seconds, count = await time_replay(bus, mode)
                    assert count == events, f"replayed {count} of {events}"
                    into.append(seconds)
                figures.cli_s.append(await asyncio.to_thread(time_cli, url))
        return {fmt: figures for fmt, (_, _, figures) in stores.items()}


# --- part 2: tracing overhead ---------------------------------------------------------------------


class Collector:
    """Stands in for an OTLP/HTTP collector on a free port: keeps every request body (tests read them,
    this bench counts them). Its own thread, so it answers while the benchmark's event loop waits for
    processes to stop."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def requests(self) -> int:
        return len(self.bodies)

    @property
    def bytes(self) -> int:
        return sum(len(b) for b in self.bodies)


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# Without an OTLP endpoint PAGI builds no spans (W3C propagation only), so "off" is the default.
_ALL: Final = {"OTEL_SDK_DISABLED": None, "OTEL_TRACES_SAMPLER": None, "OTEL_TRACES_SAMPLER_ARG": None}
MODES: dict[str, dict[str, str | None]] = {
    "off": {**_ALL, "OTEL_EXPORTER_OTLP_ENDPOINT": None},
    "on": dict(_ALL),  # the endpoint is added once the collector listens
    "on, 10 %": {**_ALL, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
}


@dataclass
class Round:
    p50_ms: float
    p99_ms: float
    saturation_per_s: float
    # CPU time of the planner and edge processes per answered message at saturation: the cost
    # tracing adds, and far less disturbed than latency by whatever else the machine runs.
    cpu_ms_per_msg: float


async def chat_round(count: int, seconds: float, window: int, config: NatsConfig) -> Round:
    # A fresh server each time: jobs left by one round must not slow the planner of the next.
    result: Round | None = None
    processes: list[subprocess.Popen[bytes]] = []
    try:
        async with running_nats(config) as server:
            with running_stack(server) as stack:
                processes = stack.processes
                async with ChatClient(stack.edge_url, 20) as chat:
                    lat = await latency(chat.send, count)
                    services = [psutil.Process(p.pid) for p in stack.processes]
                    before = sum(_cpu_s(p) for p in services)
                    sat = await saturation(chat.send, window, seconds)
                    cpu_s = sum(_cpu_s(p) for p in services) - before
                result = Round(lat.p50_ms, lat.p99_ms, sat.per_second, cpu_s * 1000 / sat.answered)
    except subprocess.TimeoutExpired as exc:
        # Measured already; a service slow to stop on this busy machine must not lose the round.
        print(f"  (note: {' '.join(map(str, exc.cmd))} took over {exc.timeout:.0f} s to stop; killed)")
        for process in processes:
            process.kill()
    assert result is not None
    return result


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def tracing_part(
    rounds: int, count: int, seconds: float, window: int, config: NatsConfig
) -> tuple[dict[str, list[Round]], Collector]:
    collector = Collector()
    for mode in ("on", "on, 10 %"):
        MODES[mode]["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.endpoint
    results: dict[str, list[Round]] = {mode: [] for mode in MODES}
    try:
        names = list(MODES)
        for r in range(rounds):
            # Each round starts with another mode, so none always runs first (or last) on a drifting machine.
            for mode in names[r % len(names) :] + names[: r % len(names)]:
                with environment(**MODES[mode]):
                    results[mode].append(await chat_round(count, seconds, window, config))
    finally:
        collector.server.shutdown()
    return results, collector


# --- part 3: the planner's path in one process, alternating -------------------------------------


def serve_collector() -> None:
    """`--collector`: an OTLP/HTTP sink in a process of its own, so its CPU is not counted."""
    collector = Collector()
    print(collector.endpoint, flush=True)
    threading.Event().wait()


class PlannerPath:
    """The planner's consumers and a client on one bus in this process: `one()` publishes a chat.in
    and waits for its chat.out, one message at a time."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.answered = asyncio.Event()

    async def __aenter__(self) -> PlannerPath:
        await self.bus.ensure_topology()
        self.service = PlannerService()
        self.consumers = await start_routes(self.bus, await self.service.routes(self.bus))

        async def on_event(event: Envelope[Any]) -> None:
            if event.type == "chat.out":
                self.answered.set()

        self.observer = await self.bus.observe(one_session(SESSION), on_event)
        for _ in range(50):  # warm up
            await self.one()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.observer.stop()
        for consumer in self.consumers:
            await consumer.stop()
        await self.service.close()

    async def one(self) -> None:
        self.answered.clear()
        chat = Envelope[Any](type="chat.in", session_id=SESSION, body=ChatIn(message="ping"))
        with tracing.job_span(SESSION, chat.id):
            await self.bus.publish(chat)
        await asyncio.wait_for(self.answered.wait(), 30)


# The switch to a mode (a new tracer, or none) is followed by a few untimed messages, so what the
# switch leaves behind (the previous pipeline's shutdown, a first message on new code paths) falls
# on no mode's figure.
_WARM_UP: Final = 5
ALTERNATING_MODES: Final = ("off", "off, again", "on", "on, 10 %")


async def alternating_part(blocks: int, per_block: int, config: NatsConfig) -> dict[str, list[float]]:
    """The planner's path in this process; tracing off, on (OTLP export to a collector process) and
    on with 10 % sampling, switched every block of messages, one message at a time, each block's
    spans exported (flushed) inside its time. This process's CPU per message, the modes interleaved
    in a shuffled order each cycle, so the machine's drift and each switch fall on all alike; "off,
    again" is the noise floor."""
    sink = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.replay", "--collector", stdout=asyncio.subprocess.PIPE
    )
    assert sink.stdout is not None
    endpoint = (await sink.stdout.readline()).decode().strip()
    cpu: dict[str, list[float]] = {mode: [] for mode in ALTERNATING_MODES}
    ten_percent: dict[str, str | None] = {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    samplers: dict[str, dict[str, str | None]] = {"on": {"OTEL_TRACES_SAMPLER": None}, "on, 10 %": ten_percent}
    draw = random.Random(23)
    order: list[str] = []
    while len(order) < blocks:
        cycle = list(ALTERNATING_MODES)
        draw.shuffle(cycle)
        order += cycle
    try:
        async with running_nats(config) as server:
            with environment(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint):
                bus = await Bus.connect(server.url, "bench-alternating")
                try:
                    async with PlannerPath(bus) as path:
                        for mode in order[:blocks]:
                            tracing.shutdown_tracing(30)
                            provider = None
                            if mode in samplers:
                                with environment(**samplers[mode]):  # the SDK reads its sampler from here
                                    provider = tracing.setup_tracing("bench")
                            for _ in range(_WARM_UP):
                                await path.one()
                            if provider is not None:
                                provider.force_flush()
                            start = time.process_time()
                            for _ in range(per_block):
                                await path.one()
                            if provider is not None:
                                provider.force_flush()  # the block's spans exported, counted
                            cpu[mode].append((time.process_time() - start) * 1000 / per_block)
                        tracing.shutdown_tracing(30)
                finally:
                    await bus.close()
    finally:
        sink.terminate()
        await sink.wait()
    return cpu


# --- part 4: the wire formats on the planner's path, alternating ------------------------------------


@dataclass
class FormatBlocks:
    cpu_ms: list[float]  # this process's CPU time per message, one figure per block
    wall_ms: list[float]  # round trip per message (publish chat.in -> chat.out observed)


async def formats_part(blocks: int, per_block: int, formats: tuple[Format, ...]) -> dict[Format, FormatBlocks]:
    """Part 3's planner path, tracing off, with everything it publishes (chat.in, plan.action,
    chat.out, job.log, the job record's events) in JSON or msgpack, switched every block."""
    figures: dict[Format, FormatBlocks] = {fmt: FormatBlocks([], []) for fmt in formats}
    with environment(OTEL_EXPORTER_OTLP_ENDPOINT=None, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=None):
        tracing.shutdown_tracing(30)
        async with running_nats() as server:
            bus = await Bus.connect(server.url, "bench-formats")
            try:
                async with PlannerPath(bus) as path:
                    for block in range(blocks):
                        fmt = formats[block % len(formats)]
                        bus.wire_format = fmt  # the planner's consumers publish through this bus too
                        start, wall = time.process_time(), time.perf_counter()
                        for _ in range(per_block):
                            await path.one()
                        figures[fmt].cpu_ms.append((time.process_time() - start) * 1000 / per_block)
                        figures[fmt].wall_ms.append((time.perf_counter() - wall) * 1000 / per_block)
            finally:
                await bus.close()
    return figures


# --- report -------------------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"


async def tracing_parts(args: argparse.Namespace, config: NatsConfig) -> None:
    """Parts 2 and 3 on one nats-server configuration."""
    print(config_heading(config) + f" (load {os.getloadavg()[0]:.2f})")
    if args.rounds:
        results, collector = await tracing_part(args.rounds, args.count, args.seconds, args.window, config)
        print(f"\nchat round trip, tracing off / on (OTLP export) / on 10 % sampled, {args.rounds} rounds, medians:")
        base = results["off"]
        for mode, rounds in results.items():
            p50 = statistics.median(r.p50_ms for r in rounds)
            p99 = statistics.median(r.p99_ms for r in rounds)
            sat = statistics.median(r.saturation_per_s for r in rounds)
            d50 = (p50 / statistics.median(r.p50_ms for r in base) - 1) * 100
            dsat = (1 - sat / statistics.median(r.saturation_per_s for r in base)) * 100
            cpu = statistics.median(r.cpu_ms_per_msg for r in rounds)
            dcpu = (cpu / statistics.median(r.cpu_ms_per_msg for r in base) - 1) * 100
            print(
                f"  {mode:9} CPU {cpu:5.2f} ms/msg ({dcpu:+5.1f} %)  p50 {p50:6.2f} ms ({d50:+5.1f} %)  "
                f"p99 {p99:6.2f} ms  saturation {sat:6.0f} msg/s ({dsat:+5.1f} % fewer)"
            )
        print(f"  collector received {collector.requests} OTLP requests, {collector.bytes / 1024:.0f} KiB")
    if args.blocks:
        blocks = await alternating_part(args.blocks, args.per_block, config)
        off = statistics.median(blocks["off"])
        print(
            f"\nplanner path in one process, modes shuffled every {args.per_block} messages, {args.blocks} blocks, "
            "each block's spans exported in its time:"
        )
        for mode, values in blocks.items():
            cpu = statistics.median(values)
            print(f"  {mode:10} CPU {cpu:.3f} ms/msg ({(cpu / off - 1) * 100:+.1f} %)  [{len(values)} blocks]")
    print(f"  (load {os.getloadavg()[0]:.2f} at the end)")


async def run(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
    formats: tuple[Format, ...] = FORMATS if args.wire_format == "both" else (args.wire_format,)
    if args.events:
        replays = await replay_part(args.events, args.replay_rounds, formats)
        for fmt, figures in replays.items():
            print(
                f"\nreplay of one {figures.events:,}-event session out of {figures.stream_messages:,} stored events "
                f"({figures.stream_mib:.1f} MiB, {fmt}), median of {args.replay_rounds}:"
            )
            print(f"  read + decode               {ms(figures.read_s)}")
            print(f"  + timeline lines            {ms(figures.lines_s)}")
            print(f"  + --json lines              {ms(figures.json_s)}")
            print(f"  pagi replay > /dev/null     {ms(figures.cli_s)}  (new process: start-up, connect, read, print)")
            rate = figures.events / statistics.median(figures.lines_s)
            print(f"  timeline rate               {rate:,.0f} events/s")
        if len(replays) == 2:
            j, m = replays["json"], replays["msgpack"]
            print(
                "  json/msgpack: "
                + ", ".join(
                    f"{name} {statistics.median(getattr(j, attr)) / statistics.median(getattr(m, attr)):.3f}"
                    for name, attr in (("read", "read_s"), ("lines", "lines_s"), ("--json", "json_s"), ("cli", "cli_s"))
                )
                + f"; stored bytes {j.stream_mib / m.stream_mib:.3f}"
            )
    for config in chosen_configs(args) if args.rounds or args.blocks else ():
        await tracing_parts(args, config)
    if args.format_blocks:
        by_format = await formats_part(args.format_blocks, args.per_block, formats)
        print(
            f"\nplanner path in one process, wire formats in turn every {args.per_block} messages, "
            f"{args.format_blocks} blocks (tracing off), medians:"
        )
        for fmt, f in by_format.items():
            print(
                f"  {fmt:8} CPU {statistics.median(f.cpu_ms):.3f} ms/msg  "
                f"round trip {statistics.median(f.wall_ms):.3f} ms"
            )
        if len(by_format) == 2:
            fj, fm = by_format["json"], by_format["msgpack"]
            cpu_ratio = statistics.median(fj.cpu_ms) / statistics.median(fm.cpu_ms)
            wall_ratio = statistics.median(fj.wall_ms) / statistics.median(fm.wall_ms)
            print(f"  json/msgpack: CPU {cpu_ratio:.3f}, round trip {wall_ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events in the replayed session (0: skip)")
    parser.add_argument("--replay-rounds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each tracing mode (0: skip)")
    parser.add_argument("--count", type=int, default=300, help="sequential messages per latency measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of saturation per round")
    parser.add_argument("--window", type=int, default=100, help="messages in flight at saturation")
    parser.add_argument("--blocks", type=int, default=48, help="alternating blocks in one process (0: skip)")
    parser.add_argument("--per-block", type=int, default=40, help="messages per alternating block")
    parser.add_argument("--wire-format", choices=[*FORMATS, "both"], default="both", help="format(s) for parts 1 and 4")
    parser.add_argument("--format-blocks", type=int, default=40, help="wire-format blocks in one process (0: skip)")
    parser.add_argument("--collector", action="store_true", help=argparse.SUPPRESS)
    add_config_argument(parser)  # parts 2 and 3
    args = parser.parse_args()
    if args.collector:
        serve_collector()
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
