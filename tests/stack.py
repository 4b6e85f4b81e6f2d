"""The real stack as separate processes on loopback, for fault cases: a nats-server with
`sync_interval: always` (from a config file) and each service as `python -m <name>`, each of which
a test may kill with SIGKILL and start again. Output goes to log files (a pipe nobody reads would
block a chatty child); readiness is the service's "service ready" line, or the edge's HTTP port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pagi.service import READY_LINE
from pagi_cli.nats_server import NatsServer
from pagi_cli.process import parent_death_signal

from .ports import free_port
from .support import eventually_sync

WORKERS = ("planner", "memory_worker", "tool_worker", "build_worker")
NATS_CONF = "jetstream {\n  sync_interval: always\n}\nmax_payload: 1MB\n"


class StackError(Exception):
    """The stack would not start or a service died. Not an AssertionError: `eventually` retries on
    those, and a service that exited will not come back by waiting."""


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")
        self._offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal,
            start_new_session=True,
        )
        log.close()

    def wait_line(self, text: str, timeout_s: float) -> None:
        def logged() -> bool:
            self.check_running()
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                return text.encode() in f.read()

        try:
            eventually_sync(logged, timeout_s, 0.05, f"{self.name} logging {text!r}")
        except AssertionError as exc:
            raise StackError(f"{exc}:\n{self.tail()}") from None

    def check_running(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise StackError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def kill(self) -> None:
        """kill -9: no drain, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Stack:
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None
    # One service's own settings on top of extra_env, e.g. {"planner": {"PAGI_WIRE_FORMAT": "msgpack"}}.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    nats: NatsServer = field(init=False)
    services: dict[str, Service] = field(init=False, default_factory=dict)
    edge_port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        conf = self.root / "nats.conf"
        conf.write_text(NATS_CONF)
        self.data = self.data_dir or self.root / "data"
        self.nats = NatsServer(self.data / "nats", config=conf, log_file=self.root / "nats.log")

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_URL", "QDRANT_", "LLM_", "OTEL_"))}
        return {
            **base,
            "NATS_URL": self.nats.url,
            "PAGI_DATA_DIR": str(self.data),
            "PAGI_PORT": str(self.edge_port),
            "LOG_LEVEL": "INFO",
            "PAGI_METRICS_PORT": "off",
            # Sweeps often enough that a job whose worker died is noticed within the test.
            "PAGI_SWEEP_INTERVAL_S": "0.5",
            "PAGI_WORKER_WARN_S": "3",
            "PAGI_WORKER_TIMEOUT_S": "90",
            "PAGI_CHAT_TIMEOUT_S": "30",
            "PAGI_HEARTBEAT_S": "1",
            **self.extra_env,
        }

    def bootstrap(self) -> None:
        """`pagi init`, as compose runs it before the services: no service creates the streams."""
        done = subprocess.run(
            [sys.executable, "-m", "pagi_cli", "init", "--nats-url", self.nats.url],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise StackError(f"pagi init failed ({done.returncode}): {done.stderr.strip()}")

    def start(self, names: tuple[str, ...] = (*WORKERS, "edge"), timeout_s: float = 60.0) -> None:
        self.nats.start()
        self.bootstrap()
        self.edge_port = free_port()
        for name in names:
            env = {**self.env(), **self.service_env.get(name, {})}
            self.services[name] = Service(name, [sys.executable, "-m", name], env, self.root / f"{name}.log")
            self.services[name].start()
        for name in names:
            self.wait_ready(name, timeout_s)

    def wait_ready(self, name: str, timeout_s: float = 60.0) -> None:
        service = self.services[name]
        if name != "edge":
            service.wait_line(READY_LINE, timeout_s)
            return

        def answering() -> bool:
            service.check_running()
            try:
                with urllib.request.urlopen(f"{self.edge_url}/v1/tools", timeout=1):
                    return True
            except OSError:
                return False

        try:
            eventually_sync(answering, timeout_s, 0.1, "the edge answering")
        except AssertionError as exc:
            raise StackError(f"{exc}:\n{service.tail()}") from None

    def restart(self, name: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> None:
        service = self.services[name]
        service.stop()
        if env is not None:
            service.env = {**service.env, **env}
        service.start()
        self.wait_ready(name, timeout_s)

    def kill(self, name: str) -> None:
        self.services[name].kill()

    def stop(self) -> None:
        for name in ("edge", *WORKERS):
            if name in self.services:
                self.services[name].stop()
        self.nats.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.tail()}" for s in self.services.values())


# No rate limit in the way: the bad-input suites test what the handlers do with what gets through.
UNTHROTTLED = {"PAGI_RATE_LIMIT_RPS": "100000", "PAGI_RATE_LIMIT_BURST": "100000"}


@contextlib.contextmanager
def unthrottled_stack(prefix: str) -> Iterator[Stack]:
    """The stack in a fresh directory the sandbox's uid can traverse, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)
    running = Stack(root / "stack", extra_env=UNTHROTTLED)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)
