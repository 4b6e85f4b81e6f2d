"""A real PAGI stack for benchmarks: nats-server, planner and edge as separate processes."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pagi import credentials
from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer
from pagi_cli.up import nats_server, service_urls

# Every bench reports both: "bare" is nats-server with no config file (the default lazy fsync, no
# users); "pagi" is the server `pagi up` runs (nats.conf: `sync_interval: always`, a user per service
# with its permissions), the figure a user of `pagi up` gets.
NatsConfig = Literal["bare", "pagi"]
NATS_CONFIGS: tuple[NatsConfig, ...] = get_args(NatsConfig)
CONFIG_LABELS: dict[NatsConfig, str] = {
    "bare": "bare nats-server (no config: lazy fsync, no users)",
    "pagi": "pagi up's nats.conf (sync_interval: always, a user and permissions per service)",
}


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nats-config",
        choices=(*NATS_CONFIGS, "both"),
        default="both",
        help="the nats-server to measure on: bare (no config), pagi (pagi up's nats.conf) or both (default)",
    )


def chosen_configs(args: argparse.Namespace) -> tuple[NatsConfig, ...]:
    """The configurations `--nats-config` asks for, in the order the bench runs them."""
    return NATS_CONFIGS if args.nats_config == "both" else (args.nats_config,)


def config_heading(config: NatsConfig) -> str:
    return f"\n=== nats config {config}: {CONFIG_LABELS[config]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BenchNats:
    """A running nats-server in one configuration and the URL each party connects with: `url` is the
    bench's own (the operator user under "pagi", who may use every subject and stream, so a bench's
    bare-JetStream baseline runs on the same server), `url_for(service)` a service's, as `pagi up`
    gives it."""

    server: NatsServer
    config: NatsConfig
    urls: dict[str, str]

    @property
    def url(self) -> str:
        return self.urls["pagi-up"]

    def url_for(self, service: str) -> str:
        return self.urls[service]

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The server's process (benches meter its CPU)."""
        return self.server.proc


@dataclass
class Stack:
    nats: BenchNats
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
async def running_nats(config: NatsConfig = "bare", base: Path | None = None) -> AsyncIterator[BenchNats]:
    """A nats-server on a store of its own (under `base`, default the temp dir), bootstrapped as
    `pagi init` does (no service creates the streams); "pagi" starts it as `pagi up` does (the same
    nats.conf, generated passwords, bootstrap as the operator). Async, since every bench runs inside
    an event loop."""
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        passwords = credentials.load_or_create(Path(tmp)) if config == "pagi" else None
        server = nats_server(Path(tmp), -1, passwords) if passwords is not None else NatsServer(Path(tmp) / "nats")
        server.start()
        try:
            nats = BenchNats(server, config, service_urls(server.url, passwords))
            await bootstrap_url(nats.url)
            yield nats
        finally:
            server.stop()


@contextmanager
def running_stack(nats: BenchNats, planners: int = 1) -> Iterator[Stack]:
    port = free_port()
    env = {**os.environ, "PAGI_PORT": str(port), "LOG_LEVEL": "WARNING"}

    def start(service: str) -> subprocess.Popen[bytes]:
        service_env = {**env, "NATS_URL": nats.url_for(service)}
        return subprocess.Popen([sys.executable, "-m", service], env=service_env, stdout=subprocess.DEVNULL)

    procs = [start("planner") for _ in range(planners)]
    procs.append(start("edge"))
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
async def running_pagi(
    data_dir: Path, env: Mapping[str, str] | None = None, config: NatsConfig = "pagi"
) -> AsyncIterator[tuple[str, int]]:
    """`pagi up` from this checkout (every service, the deterministic planner) with `env` over this
    process's environment (no NATS_URL, no PAGI_ settings of its own): the edge's URL and nats-server's
    port, once the stack says it is up. Its output goes to `pagi-up.log` beside `data_dir`. "pagi" is
    its embedded server (nats.conf); "bare" gives it a bare server by NATS_URL, every service on it
    with no user, as `pagi up` does with a NATS_URL."""
    async with AsyncExitStack() as servers:
        bare = await servers.enter_async_context(running_nats("bare")) if config == "bare" else None
        nats_port = bare.server.port if bare is not None else free_port()
        full_env = {k: v for k, v in os.environ.items() if k != "NATS_URL" and not k.startswith("PAGI_")}
        # LOG_LEVEL stays at info: `pagi up` waits for each service's "service ready" line.
        full_env |= env or {}
        if bare is not None:
            full_env["NATS_URL"] = bare.url
        async with _pagi_up(data_dir, full_env, nats_port) as url:
            yield url, nats_port


@asynccontextmanager
async def _pagi_up(data_dir: Path, full_env: dict[str, str], nats_port: int) -> AsyncIterator[str]:
    port = free_port()
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
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
