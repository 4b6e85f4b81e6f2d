"""A real PAGI stack for benchmarks: nats-server, planner and edge as separate processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    nats: NatsServer
    edge_url: str
    processes: list[subprocess.Popen[bytes]]


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout_s}s")


@asynccontextmanager
async def running_nats() -> AsyncIterator[NatsServer]:
    """A nats-server on a store of its own, bootstrapped as `pagi init` does (no service creates the
    streams); async, since every bench runs inside an event loop."""
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(Path(tmp) / "nats")
        server.start()
        try:
            await bootstrap_url(server.url)
            yield server
        finally:
            server.stop()


@contextmanager
def running_stack(nats: NatsServer, planners: int = 1) -> Iterator[Stack]:
    port = free_port()
    env = {**os.environ, "NATS_URL": nats.url, "PAGI_PORT": str(port), "LOG_LEVEL": "WARNING"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "planner"], env=env, stdout=subprocess.DEVNULL) for _ in range(planners)
    ]
    procs.append(subprocess.Popen([sys.executable, "-m", "edge"], env=env, stdout=subprocess.DEVNULL))
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", 30)
        yield Stack(nats, f"http://127.0.0.1:{port}", procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)


CHECKOUT = Path(__file__).resolve().parent.parent
PAGI_UP_TIMEOUT_S = 180.0


@asynccontextmanager
async def running_pagi(data_dir: Path, env: Mapping[str, str] | None = None) -> AsyncIterator[tuple[str, int]]:
    """`pagi up` from this checkout (every service, the deterministic planner) with `env` over this
    process's environment (no NATS_URL, no PAGI_ settings of its own): the edge's URL and nats-server's
    port, once the stack says it is up. Its output goes to `pagi-up.log` beside `data_dir`."""
    port, nats_port = free_port(), free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "NATS_URL" and not k.startswith("PAGI_")}
    # LOG_LEVEL stays at info: `pagi up` waits for each service's "service ready" line.
    full_env |= env or {}
    log_path = data_dir.parent / "pagi-up.log"
    log = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pagi_cli", "up", "--data-dir", str(data_dir), "--port", str(port),
        "--nats-port", str(nats_port), cwd=CHECKOUT, env=full_env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + PAGI_UP_TIMEOUT_S
        while b"PAGI is up at" not in log_path.read_bytes():
            if proc.returncode is not None or time.monotonic() > deadline:
                raise SystemExit(f"pagi up did not come up:\n{log_path.read_text(errors='replace')[-3000:]}")
            await asyncio.sleep(0.2)  # polling a stack that is starting: bounded by the deadline
        yield f"http://127.0.0.1:{port}", nats_port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
