"""A real PAGI stack for benchmarks: nats-server, planner and edge as separate processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
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
