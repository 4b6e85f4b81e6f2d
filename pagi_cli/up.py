"""`pagi up`: the whole stack on one machine, stopped cleanly by Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import Field, SecretStr, ValidationError

from pagi import credentials
from pagi.backoff import Backoff
from pagi.bus import Bus
from pagi.nats_users import (
    OPERATOR,
    TELEMETRY_SUBJECT_ENV,
    agent_callers,
    password_env,
    render_conf,
    user_for_service,
)
from pagi.secrets import MCP_SECRET_KEY_ENV, SECRET_KEY_ENV, new_secret_key
from pagi.settings import BusSettings, settings_problem
from pagi_cli import personas
from pagi_cli.personas import import_persona, persona_folders
from sandbox.settings import SandboxSettings
from telemetry_agent.config import default_host_id

from .child_env import child_env
from .layout import shared_disk_warning
from .nats_server import NatsServer, NatsServerError
from .nats_watch import keep_nats_up
from .options import StackEnv, add_data_dir_option
from .options import data_dir as data_dir_of
from .report import SupervisorReport
from .supervisor import Child, ChildSpec, RestartPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
NATS_CONF = REPO_ROOT / "nats.conf"
# In a checkout, knowledge_bases/; in an installed wheel, the copy setup.py puts in the pagi_cli package.
PERSONAS = next(
    (p for p in (REPO_ROOT / "knowledge_bases", Path(personas.__file__).parent / "knowledge_bases") if p.is_dir()),
    REPO_ROOT / "knowledge_bases",
)
WORKERS = ("planner", "memory_worker", "tool_worker", "build_worker", "telemetry_agent")
READY_TIMEOUT_S = 120.0
HEALTH_TIMEOUT_S = 20.0


class UpError(RuntimeError):
    pass


class UpSettings(StackEnv):
    """What `pagi up` reads from the environment; its flags win over it. With `NATS_URL` set it uses
    that server instead of starting one."""

    host: str = Field(default="127.0.0.1", alias="PAGI_HOST")
    port: int = Field(default=8181, alias="PAGI_PORT")
    secret_key: SecretStr | None = Field(default=None, alias=SECRET_KEY_ENV)
    mcp_secret_key: SecretStr | None = Field(default=None, alias=MCP_SECRET_KEY_ENV)
    required_services: str | None = Field(default=None, alias="PAGI_REQUIRED_SERVICES")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir_option(parser, "where the stack keeps its state (bus store, memory, credentials, pagi.env)")
    parser.add_argument("--nats-port", type=int, default=4222, help="port of the embedded nats-server")
    parser.add_argument("--host", help="address of the web UI/API (default: $PAGI_HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port of the web UI/API (default: $PAGI_PORT, else 8181)")
    parser.add_argument(
        "--with-personas", action="store_true", help="import the starter personas of knowledge_bases/ once up"
    )
    parser.add_argument(
        "--ready-timeout",
        type=_positive_seconds,
        default=READY_TIMEOUT_S,
        help="stop again unless every service is ready within this many seconds of the start "
        f"(default {READY_TIMEOUT_S:g}); once up, a service that dies is restarted, never given up on",
    )
    default = RestartPolicy()
    parser.add_argument(
        "--restart-delay",
        type=_positive_seconds,
        default=default.backoff.base_s,
        help=f"seconds before restarting a child that crashed, doubled for each crash in a row "
        f"(default {default.backoff.base_s:g})",
    )
    parser.add_argument(
        "--restart-delay-max",
        type=_positive_seconds,
        default=default.backoff.cap_s,
        help=f"at most this many seconds between restarts of a crash-looping child (default {default.backoff.cap_s:g})",
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give more than 0 and at most 3600 seconds")
    return value


def _check_port_free(host: str, port: int, flag: str) -> None:
    with socket.socket() as probe:
        # As the servers bind: a port left with only TIME_WAIT connections by an earlier run is free
        # (Ctrl-C and start again with a browser still open); one something listens on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UpError(f"{host}:{port} is taken ({exc.strerror}); choose another port with {flag}") from exc


def _check_exposure(host: str) -> None:
    """The edge refuses a non-loopback address without API keys; say so before starting anything."""
    from edge.front.auth import ApiKeys
    from edge.front.hosts import is_loopback
    from edge.settings import EdgeSettings

    try:
        BusSettings()
        keys = ApiKeys.from_settings(EdgeSettings())
    except ValidationError as exc:
        raise UpError(settings_problem(exc)) from None
    except ValueError as exc:  # the message names the entry, never the key
        raise UpError(str(exc)) from None
    if not is_loopback(host) and not keys.enabled:
        raise UpError(f"--host {host} is reachable from other machines: set PAGI_API_KEYS (or PAGI_API_KEY) first")


def _warn_about_layout(data_dir: Path) -> None:
    try:
        workspaces = SandboxSettings().workspaces_dir
    except ValidationError:
        return  # the tool worker says what is wrong with its settings when it starts
    shared = shared_disk_warning(data_dir, workspaces)
    if shared:
        print(f"pagi: warning: {shared}", flush=True)


def _secret_key(data_dir: Path, name: str = "secret.key") -> str:
    """A sealing key (provider API keys, or MCP server headers): generated on first start, kept private."""
    path = data_dir / name
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(new_secret_key())
    return path.read_text().strip()


def _nats_conf(data_dir: Path) -> Path:
    """The checkout's nats.conf; an installed package renders the same file from its user table, and so
    does a checkout whose operator names agent callers (PAGI_NATS_AGENT_CALLERS: a NATS user each)."""
    if NATS_CONF.exists() and not agent_callers():
        return NATS_CONF
    rendered = data_dir / "nats.conf"
    rendered.write_text(render_conf())
    return rendered


def nats_server(data_dir: Path, port: int, passwords: dict[str, str]) -> NatsServer:
    """The embedded nats-server as `pagi up` runs it (nats.conf, each user's password), not started;
    bench/stack.py starts the same one (port -1: a free port)."""
    # nats.conf's users: each service's password, and the one host this telemetry agent speaks for.
    env = {**passwords, TELEMETRY_SUBJECT_ENV: f"telemetry.host.{default_host_id()}"}
    return NatsServer(
        store_dir=data_dir / "nats",
        port=port,
        config=_nats_conf(data_dir),
        log_file=data_dir / "nats-server.log",
        env=env,
    )


def start_nats(data_dir: Path, port: int, passwords: dict[str, str]) -> NatsServer:
    _check_port_free("127.0.0.1", port, "--nats-port")
    server = nats_server(data_dir, port, passwords)
    try:
        server.start()
    except NatsServerError as exc:
        raise UpError(f"{exc}; see {data_dir / 'nats-server.log'}") from exc
    print(f"pagi: nats-server with JetStream on {server.url} (store {data_dir / 'nats'})", flush=True)
    return server


def service_urls(nats_url: str, passwords: dict[str, str] | None) -> dict[str, str]:
    """The NATS URL each child connects with (its own user), and the operator's under "pagi-up"."""
    names = (*WORKERS, "edge")
    if passwords is None:  # NATS_URL given: the user's server, the user's credentials
        return {n: nats_url for n in (*names, "pagi-up")}
    urls = {}
    for name in names:
        user = user_for_service(name).name
        urls[name] = credentials.url_with_user(nats_url, user, passwords[password_env(user)])
    urls["pagi-up"] = credentials.url_with_user(nats_url, OPERATOR, passwords[password_env(OPERATOR)])
    return urls


def _policy(args: argparse.Namespace) -> RestartPolicy:
    return RestartPolicy(Backoff(base_s=args.restart_delay, cap_s=max(args.restart_delay, args.restart_delay_max)))


async def up(
    args: argparse.Namespace, settings: UpSettings, data_dir: Path, urls: dict[str, str], nats: NatsServer | None
) -> int:
    nats_url = urls["pagi-up"]
    # Kept open while the stack runs: the supervisor's heartbeat (pagi_cli.report) goes on it.
    bus = await Bus.connect(nats_url, "pagi-up", connect_timeout_s=15)
    watching = asyncio.Event()
    watchdog = asyncio.create_task(keep_nats_up(nats, _policy(args), watching)) if nats is not None else None
    try:
        await bus.ensure_topology()
        return await _serve(args, settings, data_dir, urls, bus)
    finally:
        watching.set()
        if watchdog is not None:
            await watchdog
        await bus.close()


async def _serve(args: argparse.Namespace, settings: UpSettings, data_dir: Path, urls: dict[str, str], bus: Bus) -> int:
    url = f"http://{args.host}:{args.port}"
    env_file = data_dir / "pagi.env"
    # The operator's credentials: for people with the nats CLI and for `pagi replay`.
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"NATS_URL={urls['pagi-up']}\nPAGI_URL={url}\n")
    env_file.chmod(0o600)
    return await _run_children(args, settings, data_dir, urls, url, SupervisorReport(bus))


async def _run_children(
    args: argparse.Namespace, settings: UpSettings, data_dir: Path, urls: dict[str, str], url: str,
    report: SupervisorReport,
) -> int:  # fmt: skip
    stopping = asyncio.Event()
    failure: list[str] = []

    def give_up(reason: str) -> None:
        failure.append(reason)
        stopping.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    env = {
        "PAGI_DATA_DIR": str(data_dir),
        "PAGI_HOST": args.host,
        "PAGI_PORT": str(args.port),
        SECRET_KEY_ENV: settings.secret_key.get_secret_value() if settings.secret_key else _secret_key(data_dir),
        MCP_SECRET_KEY_ENV: (
            settings.mcp_secret_key.get_secret_value()
            if settings.mcp_secret_key
            else _secret_key(data_dir, "mcp-secret.key")
        ),
        # The edge's /health is unhealthy until every worker started here has a live instance.
        "PAGI_REQUIRED_SERVICES": settings.required_services or ",".join(WORKERS),
    }
    names = (*WORKERS, "edge")
    width = max(len(n) for n in names)
    policy = _policy(args)
    children = {}
    for n in names:
        # Each child sees only what its own settings read: no provider key or sealing key where
        # untrusted code runs (pagi_cli.child_env).
        spec = ChildSpec(n, [sys.executable, "-m", n], child_env(n, {**os.environ, **env, "NATS_URL": urls[n]}))
        children[n] = Child(spec, width, policy, on_change=report.changed)
    try:
        await report.start()
        for child in children.values():
            await child.start()
        ready = asyncio.ensure_future(asyncio.gather(*(c.ready.wait() for c in children.values())))
        waiters: set[asyncio.Future[Any]] = {ready, asyncio.ensure_future(stopping.wait())}
        await asyncio.wait(waiters, timeout=args.ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.is_set():
            if not all(c.ready.is_set() for c in children.values()):
                late = [n for n, c in children.items() if not c.ready.is_set()]
                give_up(f"not ready within {args.ready_timeout:g}s: {', '.join(late)}")
            else:
                problems = await _wait_healthy(url, stopping)
                for problem in problems:
                    print(f"pagi: warning: {problem}", flush=True)
                bus_url = urls["pagi-up"].rsplit("@", 1)[-1]
                print(f"\npagi: PAGI is up at {url}  (bus: {bus_url}; env for clients: {data_dir / 'pagi.env'})")
                if args.with_personas:
                    await _import_personas(urls["pagi-up"])
                print("pagi: press Ctrl-C to stop\n", flush=True)
        await stopping.wait()
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
    finally:
        print("pagi: stopping: edge first, then the workers drain their in-flight messages", flush=True)
        await children["edge"].stop()
        await asyncio.gather(*(children[n].stop() for n in WORKERS))
        await report.stop()
    if failure:
        print(f"pagi: stopped because {failure[0]}", file=sys.stderr, flush=True)
        return 1
    return 0


async def _import_personas(nats_url: str) -> None:
    """The starter personas as twins with their knowledge (idempotent: safe on every start)."""
    bus = await Bus.connect(nats_url, "pagi-up-personas", connect_timeout_s=10)
    try:
        for folder in persona_folders(PERSONAS):
            try:
                await import_persona(bus, folder, sys.stdout)
            except Exception as exc:
                print(f"pagi: warning: persona {folder.name} not imported: {exc}", flush=True)
    finally:
        await bus.close()


async def _wait_healthy(url: str, stopping: asyncio.Event, timeout_s: float = HEALTH_TIMEOUT_S) -> list[str]:
    """Wait until the edge's /health says every service is up (heartbeats take a moment after
    "ready"); the problems it still reports after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    problems = ["the edge's /health did not answer"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline and not stopping.is_set():
            try:
                async with http.get(f"{url}/health") as response:
                    body = await response.json()
                    if response.status == 200:
                        return []
                    problems = list(body.get("problems") or [f"/health answered {response.status}"])
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                problems = [f"the edge's /health did not answer: {exc}"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.25)
    return problems


def run(args: argparse.Namespace) -> int:
    settings = UpSettings()
    args.host = settings.host if args.host is None else args.host
    args.port = settings.port if args.port is None else args.port
    data_dir = data_dir_of(args).resolve()
    nats: NatsServer | None = None
    try:
        _check_port_free(args.host, args.port, "--port")
        _check_exposure(args.host)
        data_dir.mkdir(parents=True, exist_ok=True)
        _warn_about_layout(data_dir)
        nats_url = settings.nats_url
        passwords: dict[str, str] | None = None
        if nats_url is None:
            # First start generates one password per service user (nats.conf), kept private.
            passwords = credentials.load_or_create(data_dir)
            nats = start_nats(data_dir, args.nats_port, passwords)
            nats_url = nats.url
        else:
            print("pagi: using the NATS server from NATS_URL", flush=True)
        return asyncio.run(up(args, settings, data_dir, service_urls(nats_url, passwords), nats))
    except UpError as exc:
        print(f"pagi: {exc}", file=sys.stderr)
        return 2
    finally:
        if nats is not None:
            nats.stop()
            print("pagi: nats-server stopped", flush=True)
