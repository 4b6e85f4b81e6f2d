"""`python -m bench.fanout`: one edge process fanning out to thousands of clients.

In one run on one nats-server: N WebSocket clients (each following its own session, as a browser
does) and M SSE telemetry clients on one edge process, with H simulated hosts publishing a sample
every second and a steady stream of session events. Measures delivery lag (publish -> client
receive) p50/p99 for both, and the edge's CPU and RSS. Then, on the same sockets at the same rate,
a bare loop of `send_str` inside the edge (no bus, no queues) as the floor, and the ratios.

Processes: nats-server, the edge (`python -m bench.fanout edge`: the real app plus one route that
runs the floor loop), two client processes (`python -m bench.fanout clients`), and this driver,
which publishes the telemetry and the session events. `BENCH_EDGE_PROFILE=<file>` writes a cProfile of
the edge process there; `BENCH_FANOUT_LAGS=<prefix>` writes every lag measured (and the phases' times) to
`<prefix>.<nats config>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import re
import resource
import signal
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import uvloop
from aiohttp import web

from bus_schemas import Envelope, JobLog
from bus_schemas.subjects import JOB_LOG, TELEMETRY_HOST
from bus_schemas.telemetry import TelemetrySample
from bus_schemas.web import VERBOSE_FRAMES_PROTOCOL
from pagi.bus import Bus

from .stack import NatsConfig, add_config_argument, chosen_configs, free_port, running_nats

# The edge's loop running this much later than asked counts as a stall (reported with its CPU time).
STALL_S = 0.1
MARK = "bench "
FLOOR_MARK = "floor "
_TS = re.compile(rb'"ts":"([^"]+)"')


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: array[float] | list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def session_of(i: int) -> str:
    return f"bench-{i}"


# --- the edge process ----------------------------------------------------------------------------


async def watch_stalls(stalls: list[dict[str, float]]) -> None:
    """Record each time this process's loop ran a tick more than STALL_S late: held by a callback
    (CPU spent meanwhile) or by the machine (the process did not run: no CPU spent)."""
    while True:
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(0.01)
        late = time.monotonic() - wall - 0.01
        if late > STALL_S:
            stalls.append({"at": time.time() - late, "s": late, "cpu_s": time.process_time() - cpu})


def run_edge(nats_url: str, port: int, queue_size: int) -> None:
    """The real edge app, plus POST /bench/floor: the same delivery as the session events, as a bare
    loop of `send_str` on the same sockets (one frame per tick, round robin)."""
    from edge.app import make_app
    from edge.appkeys import SOCKETS
    from edge.front.route_rules import RULES, Rule
    from edge.settings import EdgeSettings
    from pagi.settings import BusSettings

    raise_fd_limit()
    settings = EdgeSettings(PAGI_PORT=port, PAGI_WS_QUEUE_SIZE=queue_size)
    bus_settings = BusSettings(NATS_URL=nats_url)
    app = make_app(settings, bus_settings=bus_settings)
    # The loop `python -m edge` runs on (pagi/eventloop.py: uvloop unless PAGI_EVENT_LOOP=asyncio).
    loop = uvloop.new_event_loop() if bus_settings.event_loop == "uvloop" else asyncio.new_event_loop()

    async def floor(request: web.Request) -> web.Response:
        spec = await request.json()
        rate, seconds = float(spec["rate"]), float(spec["seconds"])
        sockets = [client.ws for client in request.app[SOCKETS]]
        loop = asyncio.get_running_loop()
        start, sent, i = loop.time(), 0, 0
        while (now := loop.time()) < start + seconds:
            due = start + i / rate
            if due > now:
                await asyncio.sleep(due - now)
            ws = sockets[i % len(sockets)]
            i += 1
            if not ws.closed:
                await ws.send_str(
                    f'{{"type":"status_update","status":"info","details":"{FLOOR_MARK}{time.time():.6f}",'
                    f'"session_id":"floor","job_id":"floor","seq":{i}}}'
                )
                sent += 1
        return web.json_response({"sent": sent, "sockets": len(sockets)})

    stalls: list[dict[str, float]] = []
    gc_pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif info["generation"] == 2:
            gc_pauses.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)

    async def watch_loop(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(watch_stalls(stalls))
        yield
        task.cancel()

    async def loop_stalls(request: web.Request) -> web.Response:
        tracked = len(gc.get_objects())
        return web.json_response(
            {
                "stalls": stalls,
                "gc2_pauses_s": gc_pauses,
                "gc_tracked": tracked,
                "gc_frozen": gc.get_freeze_count(),
                "event_loop": bus_settings.event_loop,
            }
        )

    app.cleanup_ctx.append(watch_loop)
    app.router.add_post("/bench/floor", floor)
    app.router.add_get("/bench/stalls", loop_stalls)
    # The front door serves no route without a rule (edge/front/route_rules.py): these are the bench's.
    RULES[("POST", "/bench/floor")] = Rule("user", "the benchmark's bare delivery loop")
    RULES[("GET", "/bench/stalls")] = Rule("user", "the benchmark's record of the edge's loop stalls")
    profile = os.environ.get("BENCH_EDGE_PROFILE")
    if profile:
        import cProfile

        with cProfile.Profile() as profiler:
            web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True, loop=loop)
        profiler.dump_stats(profile)
        return
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True, loop=loop)


# --- the client processes ------------------------------------------------------------------------


@dataclass
class Lags:
    ws: array[float]
    floor: array[float]
    # Receive times of the session events (for a timeline of their lags).
    ws_at: array[float]
    # (receive time, lag) of telemetry samples, split into phases by the driver.
    sse_at: array[float]
    sse: array[float]
    closed: int = 0


async def ws_client(
    session: aiohttp.ClientSession, base: str, i: int, lags: Lags, ready: asyncio.Event, count: list[int]
) -> None:
    user = f"user-{i}"
    async with session.ws_connect(
        f"{base}/ws/chat/{user}", heartbeat=None, max_msg_size=0, protocols=(VERBOSE_FRAMES_PROTOCOL,)
    ) as ws:
        await ws.send_json({"type": "resume", "session_id": session_of(i), "user_id": user})
        async for msg in ws:
            data = msg.data
            if not isinstance(data, str):
                continue
            now = time.time()
            at = data.find(MARK)
            if at >= 0:
                lags.ws.append(now - float(data[at + len(MARK) : data.index('"', at)]))
                lags.ws_at.append(now)
                continue
            at = data.find(FLOOR_MARK)
            if at >= 0:
                lags.floor.append(now - float(data[at + len(FLOOR_MARK) : data.index('"', at)]))
                continue
            if '"subscribed"' in data:
                count[0] += 1
                ready.set()
    lags.closed += 1


async def sse_client(
    session: aiohttp.ClientSession, base: str, lags: Lags, ready: asyncio.Event, count: list[int]
) -> None:
    async with session.get(f"{base}/v1/telemetry/stream?since=0") as response:
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            *messages, buffer = buffer.split(b"\n\n")
            now = time.time()
            for message in messages:
                if b"event: metrics" in message:
                    found = _TS.search(message)
                    if found:
                        lags.sse_at.append(now)
                        lags.sse.append(now - datetime.fromisoformat(found.group(1).decode()).timestamp())
                elif b"event: caught_up" in message:
                    count[0] += 1
                    ready.set()
    lags.closed += 1


async def run_clients(base: str, first: int, ws_count: int, sse_count: int, out: Path) -> None:
    raise_fd_limit()
    lags = Lags(array("d"), array("d"), array("d"), array("d"), array("d"))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    ws_ready, sse_ready = [0], [0]
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        changed = asyncio.Event()
        # Connect in waves, so the ramp measures nothing and overloads nobody.
        for i in range(first, first + ws_count):
            tasks.append(asyncio.create_task(ws_client(session, base, i, lags, changed, ws_ready)))
            if len(tasks) % 100 == 0:
                await wait_count(ws_ready, len(tasks), changed)
        await wait_count(ws_ready, ws_count, changed)
        for _ in range(sse_count):
            tasks.append(asyncio.create_task(sse_client(session, base, lags, changed, sse_ready)))
            if len(tasks) % 100 == 0:
                await wait_count(sse_ready, len(tasks) - ws_count, changed)
        await wait_count(sse_ready, sse_count, changed)
        print(f"ready {ws_ready[0]} {sse_ready[0]}", flush=True)
        await stopping.wait()
        result = {
            "ws": list(lags.ws),
            "floor": list(lags.floor),
            "ws_at": list(lags.ws_at),
            "sse_at": list(lags.sse_at),
            "sse": list(lags.sse),
            "closed": lags.closed,
        }
        await asyncio.to_thread(out.write_text, json.dumps(result))
        for task in tasks:
            task.cancel()


async def wait_count(count: list[int], wanted: int, changed: asyncio.Event) -> None:
    async with asyncio.timeout(120):
        while count[0] < wanted:
            changed.clear()
            await changed.wait()


# --- the driver ----------------------------------------------------------------------------------


def real_sample() -> TelemetrySample:
    from telemetry_agent.sampler import Sampler

    sampler = Sampler("probe")
    try:
        return sampler.sample()
    finally:
        sampler.close()


class Publisher:
    """Publishes without waiting for each ack before the next send, so an ack's round trip never delays
    (and never inflates the measured lag of) the events after it; at most `limit` in flight."""

    # The most publishes waiting for their acks at once, over all publishers: near `limit`, the
    # server's acks (not the edge) held the events back, and their lag counts that wait.
    peak_in_flight = 0

    def __init__(self, bus: Bus, limit: int = 512) -> None:
        self._bus = bus
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[int]] = set()

    async def send(self, event: Envelope[Any]) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._bus.publish(event))
        self._tasks.add(task)
        Publisher.peak_in_flight = max(Publisher.peak_in_flight, len(self._tasks))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)


async def publish_telemetry(bus: Bus, hosts: int, stop: asyncio.Event) -> int:
    """Each host one sample a second, spread evenly over the second."""
    sample = real_sample()
    bodies = [sample.model_copy(update={"host_id": f"host-{h:02d}"}) for h in range(hosts)]
    publisher = Publisher(bus)
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    while not stop.is_set():
        due = start + n / hosts
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        body = bodies[n % hosts]
        await publisher.send(Envelope[TelemetrySample](type=TELEMETRY_HOST, session_id=body.host_id, body=body))
        n += 1
    await publisher.drain()
    return n


async def publish_session_events(bus: Bus, sessions: int, rate: float, seconds: float) -> int:
    """`rate` job.log events a second, round robin over the sessions, each carrying its send time."""
    publisher = Publisher(bus)
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    while loop.time() < start + seconds:
        due = start + n / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        body = JobLog(level="info", message=f"{MARK}{time.time():.6f}", service="bench")
        await publisher.send(Envelope[JobLog](type=JOB_LOG, session_id=session_of(n % sessions), body=body))
        n += 1
    await publisher.drain()
    return n


class CpuMeter:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_rss = 0

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        rss = int(self.process.memory_info().rss)
        self.peak_rss = max(self.peak_rss, rss)
        return rss


async def watch_rss(meters: list[CpuMeter], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for meter in meters:
            meter.rss()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


@dataclass
class Phase:
    name: str
    started: float
    ended: float
    edge_cpu_s: float
    nats_cpu_s: float
    clients_cpu_s: float
    delivered: int

    measured_s: float = 0.0
    driver_cpu_s: float = 0.0

    @property
    def seconds(self) -> float:
        return self.measured_s or self.ended - self.started

    @staticmethod
    def total(parts: list[Phase]) -> Phase:
        return Phase(
            parts[0].name,
            parts[0].started,
            parts[-1].ended,
            sum(p.edge_cpu_s for p in parts),
            sum(p.nats_cpu_s for p in parts),
            sum(p.clients_cpu_s for p in parts),
            sum(p.delivered for p in parts),
            measured_s=sum(p.ended - p.started for p in parts),
            driver_cpu_s=sum(p.driver_cpu_s for p in parts),
        )


async def drive(args: argparse.Namespace, config: NatsConfig) -> dict[str, Any]:
    raise_fd_limit()
    Publisher.peak_in_flight = 0
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    async with running_nats(config) as server:
        with tempfile.TemporaryDirectory() as tmp:
            # Every bench client comes from 127.0.0.1, which the per-caller rate limit would count as one caller.
            edge_env = {**env, "PAGI_RATE_LIMIT_RPS": "1000000", "PAGI_RATE_LIMIT_BURST": "1000000"}
            edge = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.fanout",
                "edge",
                "--nats",
                server.url_for("edge"),
                "--port",
                str(port),
                env=edge_env,
            )
            clients: list[asyncio.subprocess.Process] = []
            base = f"http://127.0.0.1:{port}"
            try:
                await wait_http(f"{base}/health", 30)
                bus = await Bus.connect(server.url, "bench-fanout")
                edge_meter = CpuMeter(edge.pid)
                client_meters: list[CpuMeter] = []
                driver_meter = CpuMeter(os.getpid())
                assert server.proc is not None
                nats_meter = CpuMeter(server.proc.pid)
                stop_telemetry = asyncio.Event()
                telemetry = asyncio.create_task(publish_telemetry(bus, args.hosts, stop_telemetry))

                started = time.monotonic()
                per = [(args.ws // args.client_procs, args.sse // args.client_procs) for _ in range(args.client_procs)]
                outs = [Path(tmp) / f"clients-{i}.json" for i in range(args.client_procs)]
                first = 0
                for (ws_n, sse_n), out in zip(per, outs, strict=True):
                    command = ["-m", "bench.fanout", "clients", "--url", base, "--first", str(first)]
                    command += ["--ws", str(ws_n), "--sse", str(sse_n), "--out", str(out)]
                    clients.append(
                        await asyncio.create_subprocess_exec(
                            sys.executable, *command, stdout=asyncio.subprocess.PIPE, env=env
                        )
                    )
                    first += ws_n
                for proc in clients:
                    assert proc.stdout is not None
                    line = await asyncio.wait_for(proc.stdout.readline(), 300)
                    if not line.startswith(b"ready"):
                        raise RuntimeError(f"a client process failed to connect: {line!r}")
                client_meters = [CpuMeter(proc.pid) for proc in clients]
                ramp_s = time.monotonic() - started
                print(
                    f"connected {args.ws} WebSocket + {args.sse} SSE clients in {ramp_s:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                rss_after_connect = edge_meter.rss()

                driver_stalls: list[dict[str, float]] = []
                driver_watch = asyncio.create_task(watch_stalls(driver_stalls))
                stop_rss = asyncio.Event()
                rss_watch = asyncio.create_task(watch_rss([edge_meter, nats_meter], stop_rss))
                await asyncio.sleep(args.warmup)

                phases = []
                # Alternating short phases, so both see the same (shared, noisy) machine.
                for name in ("full", "floor") * args.rounds:
                    cpu0, ncpu0, t0 = edge_meter.cpu_s(), nats_meter.cpu_s(), time.time()
                    ccpu0 = sum(m.cpu_s() for m in client_meters)
                    dcpu0 = driver_meter.cpu_s()
                    if name == "full":
                        delivered = await publish_session_events(bus, args.ws, args.rate, args.seconds)
                    else:
                        async with aiohttp.ClientSession() as http:
                            spec = {"rate": args.rate, "seconds": args.seconds}
                            async with http.post(f"{base}/bench/floor", json=spec) as response:
                                delivered = int((await response.json())["sent"])
                    await asyncio.sleep(0.5)  # the last frames in flight
                    ccpu = sum(m.cpu_s() for m in client_meters) - ccpu0
                    edge_cpu, nats_cpu = edge_meter.cpu_s() - cpu0, nats_meter.cpu_s() - ncpu0
                    phase = Phase(name, t0, time.time(), edge_cpu, nats_cpu, ccpu, delivered)
                    phase.driver_cpu_s = driver_meter.cpu_s() - dcpu0
                    phases.append(phase)
                stop_rss.set()
                await rss_watch
                async with aiohttp.ClientSession() as http, http.get(f"{base}/bench/stalls") as response:
                    edge_stalls = await response.json()
                driver_watch.cancel()
                edge_stalls["driver_stalls"] = driver_stalls
                stop_telemetry.set()
                await telemetry

                for proc in clients:
                    proc.send_signal(signal.SIGTERM)
                for proc in clients:
                    await asyncio.wait_for(proc.wait(), 60)
                merged: dict[str, list[float]] = {"ws": [], "floor": [], "ws_at": [], "sse_at": [], "sse": []}
                closed = 0
                for out in outs:
                    data = json.loads(await asyncio.to_thread(out.read_text))
                    for key in merged:
                        merged[key].extend(data[key])
                    closed += data["closed"]
                await bus.close()
                dump = os.environ.get("BENCH_FANOUT_LAGS")
                if dump:
                    phase_times = [(p.name, p.started, p.ended) for p in phases]
                    text = json.dumps({"phases": phase_times, **merged})
                    await asyncio.to_thread(Path(f"{dump}.{config}.json").write_text, text)
                return report(
                    args, config, phases, merged, closed, ramp_s, rss_after_connect, edge_meter.peak_rss, edge_stalls
                )
            finally:
                for proc in [*clients, edge]:
                    if proc.returncode is None:
                        proc.terminate()
                for proc in [*clients, edge]:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), 15)


async def wait_http(url: str, timeout_s: float) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)


def stalls_in(stalls: list[dict[str, float]], phases: list[Phase]) -> list[dict[str, Any]]:
    """The edge's loop stalls during the measured phases: when (seconds into them), how long, and
    how much CPU the edge spent meanwhile (near the stall's length: its own work; near 0: the
    machine did not run it)."""
    t0 = phases[0].started
    return [
        {"at_s": round(s["at"] - t0, 2), "stall_ms": round(s["s"] * 1000), "edge_cpu_ms": round(s["cpu_s"] * 1000)}
        for s in stalls
        if any(p.started <= s["at"] < p.ended for p in phases)
    ]


def report(
    args: argparse.Namespace,
    config: NatsConfig,
    phases: list[Phase],
    lags: dict[str, list[float]],
    closed: int,
    ramp_s: float,
    rss_connected: int,
    rss_peak: int,
    edge_stalls: dict[str, Any],
) -> dict[str, Any]:
    full = Phase.total([p for p in phases if p.name == "full"])
    floor = Phase.total([p for p in phases if p.name == "floor"])

    def sse_in(name: str) -> list[float]:
        windows = [(p.started, p.ended) for p in phases if p.name == name]
        return [
            lag
            for at, lag in zip(lags["sse_at"], lags["sse"], strict=True)
            if any(start <= at < end for start, end in windows)
        ]

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "p50_ms": round(percentile(values, 0.5) * 1000, 2),
            "p99_ms": round(percentile(values, 0.99) * 1000, 2),
            "max_ms": round(max(values, default=float("nan")) * 1000, 2),
        }

    ws_full, ws_floor = stats(lags["ws"]), stats(lags["floor"])
    result = {
        "command": "python -m bench.fanout " + " ".join(sys.argv[1:]),
        "nats_config": config,
        "edge_event_loop": edge_stalls["event_loop"],
        "machine": f"{os.cpu_count()} CPU {platform.processor() or platform.machine()}, "
        f"{psutil.virtual_memory().total // 2**30} GiB, Linux {platform.release()}, Python {platform.python_version()}",
        "clients": {"ws": args.ws, "sse": args.sse, "hosts": args.hosts, "session_events_per_s": args.rate},
        "connect_s": round(ramp_s, 1),
        "ws_session_events": ws_full,
        "ws_floor_send_str": ws_floor,
        "sse_telemetry_full_phases": stats(sse_in("full")),
        "sse_telemetry_floor_phases": stats(sse_in("floor")),
        "ratio_ws_lag_p50": round(ws_full["p50_ms"] / ws_floor["p50_ms"], 2),
        "ratio_ws_lag_p99": round(ws_full["p99_ms"] / ws_floor["p99_ms"], 2),
        "edge_cpu_full_pct_of_core": round(full.edge_cpu_s / full.seconds * 100, 1),
        "edge_cpu_floor_pct_of_core": round(floor.edge_cpu_s / floor.seconds * 100, 1),
        "ratio_edge_cpu": round(full.edge_cpu_s / max(floor.edge_cpu_s, 1e-9), 2),
        "nats_cpu_full_pct_of_core": round(full.nats_cpu_s / full.seconds * 100, 1),
        "nats_cpu_floor_pct_of_core": round(floor.nats_cpu_s / floor.seconds * 100, 1),
        "driver_cpu_full_pct_of_core": round(full.driver_cpu_s / full.seconds * 100, 1),
        "driver_cpu_floor_pct_of_core": round(floor.driver_cpu_s / floor.seconds * 100, 1),
        "client_procs_cpu_full_pct_of_core": round(full.clients_cpu_s / full.seconds * 100, 1),
        "client_procs_cpu_floor_pct_of_core": round(floor.clients_cpu_s / floor.seconds * 100, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "edge_rss_mib_connected": round(rss_connected / 2**20, 1),
        "edge_rss_mib_peak": round(rss_peak / 2**20, 1),
        "delivered": {"session_events": full.delivered, "floor_frames": floor.delivered},
        "client_connections_closed_early": closed,
        "driver_publishes_awaiting_ack_peak": Publisher.peak_in_flight,
        "edge_loop_stalls": stalls_in(edge_stalls["stalls"], phases),
        "driver_loop_stalls": stalls_in(edge_stalls["driver_stalls"], phases),
        # The edge's full collections (Python's generation 2: every tracked object visited, the loop held).
        "edge_gc_full_collections": {
            "count": len(edge_stalls["gc2_pauses_s"]),
            "longest_ms": sorted(round(s * 1000, 1) for s in edge_stalls["gc2_pauses_s"])[-5:],
            "objects_tracked": edge_stalls["gc_tracked"],
            "objects_frozen": edge_stalls["gc_frozen"],
        },
    }
    if ws_full["n"] < full.delivered:
        result["ws_events_missing"] = full.delivered - ws_full["n"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    edge = commands.add_parser("edge")
    edge.add_argument("--nats", required=True)
    edge.add_argument("--port", type=int, required=True)
    edge.add_argument("--queue", type=int, default=256)
    clients = commands.add_parser("clients")
    clients.add_argument("--url", required=True)
    clients.add_argument("--first", type=int, default=0)
    clients.add_argument("--ws", type=int, required=True)
    clients.add_argument("--sse", type=int, required=True)
    clients.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ws", type=int, default=2000, help="WebSocket clients, each on its own session")
    parser.add_argument("--sse", type=int, default=1000, help="SSE telemetry clients")
    parser.add_argument("--hosts", type=int, default=10, help="simulated hosts, one sample a second each")
    parser.add_argument("--rate", type=float, default=200.0, help="session events a second, over all sessions")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--rounds", type=int, default=3, help="full/floor phase pairs, alternating")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--client-procs", type=int, default=2)
    add_config_argument(parser)
    args = parser.parse_args()
    if args.command == "edge":
        run_edge(args.nats, args.port, args.queue)
    elif args.command == "clients":
        # The load generator on uvloop too: less of the shared cores for it, more for the edge.
        uvloop.run(run_clients(args.url, args.first, args.ws, args.sse, args.out))
    else:
        # One JSON object per configuration, keyed by it; each run has its own server and edge.
        results = {config: uvloop.run(drive(args, config)) for config in chosen_configs(args)}
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
