"""`python -m bench.load`: a mixed workload through the browser path, ramped until the edge or the
planner saturates.

The whole stack runs as processes on one nats-server (planner, memory, tool and build workers, the
edge). Browsers are WebSocket clients, one session each; the mix is greetings, memory queries and
tool runs (each approved over `POST /v1/approvals/{id}` as soon as its approval request arrives) and
a few builds. The offered rate doubles every step; each step reports per action type the answered
count and latency percentiles (send -> final `complete_message`, approval round trip included), and
every process's CPU (% of one core) and RSS. Saturation: the first step that answers less than 90 %
of what it offered within the step, or whose greeting p95 exceeds 1 s. After the ramp every message
still open gets a grace period, then the zero-loss check counts what never came back. The ramp runs
on each nats-server configuration (`--nats-config`, default both: bare, and `pagi up`'s nats.conf,
each service as its own user), each on a fresh server and stack.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bus_schemas.web import VERBOSE_FRAMES_PROTOCOL

from .stack import (
    BenchNats,
    NatsConfig,
    add_config_argument,
    chosen_configs,
    config_heading,
    free_port,
    running_nats,
)

SERVICES = ("planner", "memory_worker", "tool_worker", "build_worker", "edge")
MIX = ("greeting", "greeting", "memory", "tool", "greeting", "memory", "tool", "greeting", "greeting", "build")
# The workloads `--mix` names: the mix; the mix without its builds (each a sandboxed check and import,
# one at a time per build worker by default: BUILD_MAX_CONCURRENT), to show what builds cost it;
# greetings alone (the edge and the planner).
MIXES: dict[str, tuple[str, ...]] = {
    "mixed": MIX,
    "no-builds": tuple(kind for kind in MIX if kind != "build"),
    "greetings": ("greeting",),
}
BUILD_CODE = "def main(args):\n    return 1\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Pending:
    kind: str
    sent: float
    step: int
    done: float | None = None


@dataclass
class Browser:
    http: aiohttp.ClientSession
    url: str
    index: int
    pending: dict[str, Pending] = field(default_factory=dict)  # by job id, once "queued" names it
    unnamed: list[Pending] = field(default_factory=list)  # sent, not yet "queued"
    early: dict[str, float] = field(default_factory=dict)
    approved: set[str] = field(default_factory=set)
    done: list[Pending] = field(default_factory=list)
    ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def user(self) -> str:
        return f"load{self.index}"

    @property
    def session(self) -> str:
        return f"load-{self.index}"

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(
            f"{self.url.replace('http', 'ws')}/ws/chat/{self.user}", protocols=(VERBOSE_FRAMES_PROTOCOL,)
        )
        asyncio.get_running_loop().create_task(self._read(self.ws))

    async def send(self, kind: str, step: int, n: int) -> None:
        assert self.ws is not None
        text = {
            "greeting": f"hello {n}",
            "memory": f"/memory load test {n}",
            "tool": '/tool command_exec {"cmd": "echo load"}',
            "build": f"/build load{uuid.uuid4().hex[:10]} python\n{BUILD_CODE}",
        }[kind]
        self.unnamed.append(Pending(kind, time.perf_counter(), step))
        frame = {"session_id": self.session, "user_id": self.user, "timestamp": 0, "message": text}
        await self.ws.send_str(json.dumps(frame))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame: dict[str, Any] = json.loads(msg.data)
            kind = frame.get("type")
            if kind == "status_update" and frame.get("status") == "queued" and self.unnamed:
                item = self.unnamed.pop(0)  # frames of one socket stay in order
                if frame["job_id"] in self.early:  # the answer overtook the "queued" notice
                    item.done = self.early.pop(frame["job_id"])
                    self.done.append(item)
                else:
                    self.pending[frame["job_id"]] = item
            elif kind == "event" and frame.get("event_type") == "approve.request":
                approval = frame["body"]["approval_id"]
                if approval not in self.approved:
                    self.approved.add(approval)
                    asyncio.get_running_loop().create_task(self._approve(approval))
            elif kind == "complete_message" and frame.get("issued_command") is None:
                found = self.pending.pop(frame.get("job_id") or "", None)
                if found is not None:
                    item = found
                    item.done = time.perf_counter()
                    self.done.append(item)
                else:
                    self.early[frame.get("job_id") or ""] = time.perf_counter()

    async def _approve(self, approval_id: str) -> None:
        for _ in range(5):
            async with self.http.post(f"{self.url}/v1/approvals/{approval_id}", json={"approved": True}) as response:
                if response.status < 500:
                    return
            await asyncio.sleep(0.2)


class Processes:
    """The stack's processes, for CPU and RSS per step."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.last = {name: self._cpu(p) for name, p in self.procs.items()}
        self.at = time.monotonic()

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        # Children too: the tool and build workers' sandboxes (bwrap, python) are theirs.
        times = proc.cpu_times()
        return float(times.user + times.system + times.children_user + times.children_system)

    def sample(self) -> dict[str, tuple[float, float]]:
        """name -> (% of one core since the last sample, RSS MiB)."""
        now, elapsed = time.monotonic(), time.monotonic() - self.at
        out = {}
        for name, proc in self.procs.items():
            cpu = self._cpu(proc)
            out[name] = (100 * (cpu - self.last[name]) / elapsed, proc.memory_info().rss / 2**20)
            self.last[name] = cpu
        self.at = now
        return out


def start_stack(
    root: Path, nats: BenchNats, skip: tuple[str, ...] = ()
) -> tuple[str, dict[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "QDRANT_", "OTEL_"))},
        "PAGI_DATA_DIR": str(root / "data"),
        "PAGI_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "PAGI_METRICS_PORT": "off",
        # The bench measures capacity; the per-user limiter (20/s) would measure itself.
        "PAGI_RATE_LIMIT_RPS": "100000",
        "PAGI_RATE_LIMIT_BURST": "100000",
        # /health waits only for the workers that run.
        "PAGI_REQUIRED_SERVICES": ",".join(n for n in SERVICES[:-1] if n not in skip),
    }
    procs = {}
    for name in (n for n in SERVICES if n not in skip):
        log = open(root / f"{name}.log", "ab")
        # Each service as its own user, as `pagi up` starts it.
        service_env = {**env, "NATS_URL": nats.url_for(name)}
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", name], env=service_env, stdout=log, stderr=subprocess.STDOUT
        )
    return f"http://127.0.0.1:{port}", procs


async def wait_healthy(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url}/health not 200 within {timeout_s}s")


async def ramp(url: str, pids: dict[str, int], args: argparse.Namespace) -> None:
    # No connection limit: the default (100) would queue the sockets past the hundredth.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), connector=connector) as http:
        browsers = [Browser(http, url, i) for i in range(args.sessions)]
        await asyncio.gather(*(b.connect() for b in browsers))
        procs = Processes({**pids, "nats-server": args.nats_pid, "load generator": os.getpid()})
        counter = itertools.count()
        mix = MIXES[args.mix]
        rate, saturated_at, peak = args.start_rate, None, 0.0
        print(
            f"machine: {os.cpu_count()} cores; {args.mix}; sessions {args.sessions}; steps of {args.step_s:.0f} s",
            flush=True,
        )
        for step in range(args.max_steps):
            interval, started = 1 / rate, time.perf_counter()
            sent = 0
            while time.perf_counter() - started < args.step_s:
                n = next(counter)
                await browsers[n % len(browsers)].send(mix[n % len(mix)], step, n)
                sent += 1
                delay = started + sent * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            usage = procs.sample()
            ended = time.perf_counter()
            done = [d for b in browsers for d in b.done if d.step == step]
            # Throughput: answers that arrived during the step, whichever step sent them.
            completed = sum(1 for b in browsers for d in b.done if started <= (d.done or 0) <= ended)
            report(step, rate, sent, ended - started, done, completed, usage)
            peak = max(peak, completed / (ended - started))
            greet = [(d.done or 0) - d.sent for d in done if d.kind == "greeting"]
            if completed < 0.9 * sent or percentile(greet, 0.95) > 1.0:
                saturated_at = rate
                print(f"saturated at {rate:.0f} msgs/s offered: {completed / (ended - started):.1f} answers/s, "
                      f"greeting p95 {1000 * percentile(greet, 0.95):.0f} ms")  # fmt: skip
                break
            rate *= args.factor
        print(f"peak: {peak:.1f} answers/s in one step (the figure to set beside bench.roundtrip's saturation)")
        deadline = time.monotonic() + args.grace_s
        while time.monotonic() < deadline and any(b.pending or b.unnamed for b in browsers):  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # polling many browsers' state; nothing to wait on in one place
        lost = sum(len(b.pending) + len(b.unnamed) for b in browsers)
        total = sum(len(b.done) for b in browsers) + lost
        print(f"zero-loss check: {total - lost} of {total} messages answered, {lost} lost (after {args.grace_s:.0f} s)")
        if saturated_at is None:
            print(f"not saturated up to {rate:.0f} msgs/s")
        for b in browsers:
            if b.ws is not None:
                await b.ws.close()


def report(
    step: int,
    rate: float,
    sent: int,
    elapsed: float,
    done: list[Pending],
    completed: int,
    usage: dict[str, tuple[float, float]],
) -> None:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for d in done:
        by_kind[d.kind].append(1000 * ((d.done or 0) - d.sent))
    load = os.getloadavg()[0]
    print(
        f"\nstep {step}: offered {rate:.0f}/s ({sent} in {elapsed:.1f} s); answers during the step "
        f"{completed / elapsed:.1f}/s; load average {load:.1f}"
    )
    for kind, values in sorted(by_kind.items()):
        p50, p95, p99 = (percentile(values, q) for q in (0.5, 0.95, 0.99))
        print(f"  {kind:9} n={len(values):5}  p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  p99 {p99:8.1f} ms")
    print("  " + "  ".join(f"{name} {cpu:.0f}% {rss:.0f}MiB" for name, (cpu, rss) in usage.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--sessions", type=int, default=40, help="WebSocket clients, one session each")
    parser.add_argument("--start-rate", type=float, default=10.0, help="messages/s of the first step")
    parser.add_argument("--step-s", type=float, default=10.0)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--factor", type=float, default=2.0, help="each step offers this many times the last")
    parser.add_argument("--mix", choices=tuple(MIXES), default="mixed",
                        help="the mix, the mix without builds, or greetings only (edge and planner)")  # fmt: skip
    parser.add_argument("--skip", action="append", default=[], choices=SERVICES[:-1],
                        help="a worker not to start (its jobs then wait); repeatable")  # fmt: skip
    parser.add_argument("--grace-s", type=float, default=60.0, help="wait for open messages after the ramp")
    add_config_argument(parser)
    args = parser.parse_args()
    for config in chosen_configs(args):
        asyncio.run(run_config(args, config))


async def run_config(args: argparse.Namespace, config: NatsConfig) -> None:
    print(config_heading(config), flush=True)
    with tempfile.TemporaryDirectory(prefix="pagi-load-") as tmp:
        os.chmod(tmp, 0o711)  # the sandbox uid reaches the tool workspaces under it
        root = Path(tmp)
        async with running_nats(config) as nats:  # bootstrapped as `pagi init`: no service creates the streams
            url, procs = start_stack(root, nats, tuple(args.skip))
            try:
                assert nats.proc is not None
                args.nats_pid = nats.proc.pid
                await wait_healthy(url)
                await ramp(url, {n: p.pid for n, p in procs.items()}, args)
            finally:
                for proc in procs.values():
                    proc.terminate()
                for proc in procs.values():
                    await asyncio.to_thread(proc.wait, 20)


if __name__ == "__main__":
    main()
