"""`python -m bench.mcp`: MCP call overhead through PAGI next to a bare `mcp` SDK client, in the same run.

Three paths call `get_current_time` of the real `mcp-server-time` (the one `make setup` installs):

- `bare`: the official SDK's own stdio client talking to the server started as a plain subprocess;
- `bare in sandbox`: the same client, the server started by the tool worker's own pieces
  (`sandbox.server.start_process`: bubblewrap, seccomp, the sandbox uid, rlimits; the binds
  `tool_worker.mcp_host.program` computes; its stdio transport), so the sandbox's cost is separate;
- `PAGI`: a chat message `/tool time__get_current_time {...}` as `POST /v1/chat` to a real `pagi up`
  (deterministic planner, always-allow already granted, so no human in the loop), timed until the
  answer: edge, planner, policy check, `tool.run`, the tool worker's MCP host, the result back.

Every session is opened once before timing: the figures are per call on a running server. The paths
alternate call by call so machine noise hits them alike. Goal: PAGI's p50 at most 1.5 times the bare p50.
The whole run goes once per nats-server configuration (`--nats-config`, default both): `pagi up`'s own
server (nats.conf: fsync on every write, a user per service), and `pagi up` given a bare server by
NATS_URL; the bare paths use no bus and are measured again beside each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_pagi
from bus_schemas.mcp import McpServer, pagi_tool_name
from sandbox import Sandbox, SandboxConfig
from sandbox.limits import Limits
from sandbox.server import start_process
from sandbox.workspace import traversable_by_others
from tool_worker.mcp_host.program import program_binds, resolve_command
from tool_worker.mcp_host.transport import process_streams

GOAL_RATIO = 1.5
TIMEZONE = "Asia/Tokyo"
CALL_TIMEOUT_S = 30.0
START_TIMEOUT_S = 180.0
SERVER = "time"
TOOL = "get_current_time"
SERVER_ARGS = ["-m", "mcp_server_time", "--local-timezone", "UTC"]

Call = Callable[[], Awaitable[float]]


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def line(name: str, values: list[float], baseline: list[float] | None = None) -> str:
    text = f"{name:<16} p50 {statistics.median(values):7.2f} ms   p99 {percentile(values, 0.99):7.2f} ms"
    if baseline:
        text += f"   ratio p50 {statistics.median(values) / statistics.median(baseline):5.2f}"
    return text


def server_program() -> Path:
    """The venv's interpreter running `mcp_server_time` (as `make setup` installed it), resolved as the
    tool worker resolves a command. (`-m` rather than the `mcp-server-time` script: the same server,
    and the host binds an interpreter's install, not yet a script's `#!` interpreter.)"""
    return resolve_command(sys.executable)


@asynccontextmanager
async def bare_session(errlog: Path) -> AsyncIterator[ClientSession]:
    """The SDK's own stdio client, the server a plain subprocess."""
    server = StdioServerParameters(command=str(server_program()), args=SERVER_ARGS)
    async with AsyncExitStack() as stack:
        err = stack.enter_context(errlog.open("w"))
        read, write = await stack.enter_async_context(stdio_client(server, errlog=err))
        session = await stack.enter_async_context(ClientSession(read, write))
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await session.initialize()
        yield session


@asynccontextmanager
async def sandboxed_session(root: Path) -> AsyncIterator[tuple[ClientSession, str]]:
    """The same client over the tool worker's own pieces: the server started by `sandbox.server`
    (bubblewrap, seccomp, the sandbox uid, rlimits) with the binds the MCP host computes."""
    sandbox = Sandbox(SandboxConfig(state_dir=root / "sandbox", warm_slots=0))
    isolation = sandbox.start()
    program = server_program()
    registration = McpServer(
        name=SERVER, transport="stdio", command=str(program), args=SERVER_ARGS, created_by="bench",
        created_at=datetime.now(UTC),
    )  # fmt: skip
    state = sandbox.workspaces.root / "mcp" / SERVER
    state.mkdir(parents=True, mode=0o700)
    binds = program_binds(registration, program, None)
    # As the MCP host does: a bind under a private folder (a pyenv under /root) makes bwrap run as the worker.
    hidden = any(not traversable_by_others(b.source.parent) for b in binds)
    process = await start_process(
        sandbox, [str(program), *SERVER_ARGS], state, limits=Limits(), binds=binds, as_worker_user=hidden
    )
    ended = asyncio.Event()

    async def stderr(text: str) -> None:
        print(f"[{SERVER} in the sandbox] {text}", file=sys.stderr)

    try:
        async with AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(process_streams(process.proc, stderr, ended))
            session = await stack.enter_async_context(ClientSession(read, write))
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await session.initialize()
            yield session, isolation
    finally:
        await process.kill()
        await sandbox.close()


def bare_call(session: ClientSession) -> Call:
    async def call() -> float:
        started = time.perf_counter()
        async with asyncio.timeout(CALL_TIMEOUT_S):
            result = await session.call_tool(TOOL, {"timezone": TIMEZONE})
        elapsed = (time.perf_counter() - started) * 1000.0
        if result.is_error or TIMEZONE not in str(result.content):
            raise SystemExit(f"the bare call failed: {result}")
        return elapsed

    return call


# --- through PAGI ---------------------------------------------------------------------------------


class Edge:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.request(method, self.url + path, json=body) as reply:
            text = await reply.text()
            if reply.status != expect:
                raise SystemExit(f"{method} {path}: {reply.status} {text}")
            return json.loads(text) if text else None

    async def until(self, what: str, probe: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await probe():
            if time.monotonic() > deadline:
                raise SystemExit(f"PAGI: {what} did not happen in {START_TIMEOUT_S}s")
            await asyncio.sleep(0.2)  # polling a stack that is starting: bounded by the deadline


def _message() -> str:
    return f"/tool {pagi_tool_name(SERVER, TOOL)} {json.dumps({'timezone': TIMEZONE})}"


@asynccontextmanager
async def pagi_path(root: Path, config: NatsConfig) -> AsyncIterator[Call]:
    """The time server registered, the default twin allowed it, one call approved with "always":
    afterwards a chat message is answered with no human in the loop."""
    async with running_pagi(root / "data", config=config) as (url, _), aiohttp.ClientSession() as http:
        edge = Edge(http, url)

        async def healthy() -> bool:
            try:
                async with http.get(url + "/health") as reply:
                    return reply.status == 200
            except aiohttp.ClientError:
                return False

        await edge.until("the stack up", healthy)
        await edge.json(
            "POST", "/v1/mcp/servers",
            {"name": SERVER, "transport": "stdio", "command": str(server_program()), "args": SERVER_ARGS}, expect=201,
        )  # fmt: skip
        twin = await edge.json("GET", "/v1/twins/orchestrator")
        served = {"id", "has_api_key", "owner", "status", "created_at", "updated_at", "mcp_unknown_servers"}
        body = {k: v for k, v in twin.items() if k not in served} | {"mcp_tools": [f"{SERVER}/*"]}
        await edge.json("PUT", "/v1/twins/orchestrator", body)
        name = pagi_tool_name(SERVER, TOOL)

        async def listed() -> bool:
            tools = await edge.json("GET", "/v1/tools?twin=orchestrator")
            return any(t["name"] == name for t in tools["tools"])

        await edge.until(f"{name} listed", listed)
        asked = await edge.json("POST", "/v1/chat", {"session_id": "bench-mcp", "message": _message()})
        if asked["status"] != "awaiting_approval":
            raise SystemExit(f"PAGI did not ask for approval first: {asked}")
        [approval] = (await edge.json("GET", "/v1/approvals?session=bench-mcp"))["approvals"]
        await edge.json(
            "POST", f"/v1/approvals/{approval['approval_id']}", {"approved": True, "always": True}, expect=202
        )

        async def approved_answer() -> bool:
            history = await edge.json("GET", "/v1/sessions/bench-mcp/history")
            last = history["messages"][-1]
            return bool(last["job_id"] == asked["job_id"] and last["status"] != "awaiting_approval")

        await edge.until("the approved call answered", approved_answer)

        async def call() -> float:
            started = time.perf_counter()
            answer = await edge.json("POST", "/v1/chat", {"session_id": "bench-mcp", "message": _message()})
            elapsed = (time.perf_counter() - started) * 1000.0
            if answer["status"] != "completed" or "+09:00" not in answer["response"]:
                raise SystemExit(f"the PAGI call did not answer with Tokyo's time: {answer}")
            return elapsed

        yield call
        print(await stages(edge, "bench-mcp"))


async def stages(edge: Edge, session: str) -> str:
    """Where a PAGI call's time goes: per job, each event type's first time after its `chat.in`
    (the events stream is the audit log), medians over the always-allowed calls."""
    events: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = await edge.json("GET", f"/v1/audit?session={session}&limit=1000&after_seq={after}")
        events += page["events"]
        after = page["next_after_seq"]
    jobs: dict[str, dict[str, datetime]] = {}
    for event in events:
        job_id = (event.get("event") or {}).get("job_id")
        if job_id:  # the time the stream stored it: one clock for every service
            jobs.setdefault(job_id, {}).setdefault(event["type"], datetime.fromisoformat(event["time"]))
    offsets: dict[str, list[float]] = {}
    for seen in jobs.values():
        if "chat.in" not in seen or "approve.request" in seen:  # the first, approved call is not one of them
            continue
        for kind, at in seen.items():
            offsets.setdefault(kind, []).append((at - seen["chat.in"]).total_seconds() * 1000.0)
    order = sorted(offsets, key=lambda k: statistics.median(offsets[k]))
    return "PAGI stages, median ms after chat.in: " + ", ".join(
        f"{k} +{statistics.median(offsets[k]):.1f}" for k in order if k != "chat.in"
    )


# --- the run --------------------------------------------------------------------------------------


async def measure(paths: dict[str, Call], runs: int, warmup: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        for call in paths.values():
            await call()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, call in paths.items():
            times[name].append(await call())
    return times


def report(times: dict[str, list[float]], runs: int, isolation: str) -> None:
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, uid {os.geteuid()}"
    )
    print(
        f"server: {server_program()} {' '.join(SERVER_ARGS)}   call: {TOOL} {{timezone: {TIMEZONE}}}   "
        f"runs: {runs} each, interleaved   sandbox isolation: {isolation}"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    bare = times["bare"]
    for name, values in times.items():
        print(line(name, values, None if name == "bare" else bare))
    if "PAGI" in times:
        ratio = statistics.median(times["PAGI"]) / statistics.median(bare)
        print(f"goal: PAGI p50 <= {GOAL_RATIO} x bare p50: {'hit' if ratio <= GOAL_RATIO else 'MISS'} ({ratio:.2f})")


async def main(root: Path, runs: int, warmup: int, with_pagi: bool, config: NatsConfig) -> None:
    async with AsyncExitStack() as stack:
        bare = await stack.enter_async_context(bare_session(root / "bare.log"))
        boxed, isolation = await stack.enter_async_context(sandboxed_session(root))
        paths: dict[str, Call] = {"bare": bare_call(bare), "bare in sandbox": bare_call(boxed)}
        if with_pagi:
            paths["PAGI"] = await stack.enter_async_context(pagi_path(root, config))
        times = await measure(paths, runs, warmup)
    report(times, runs, isolation)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--bare-only", action="store_true", help="the two bare baselines, no PAGI stack")
    add_config_argument(parser)
    args = parser.parse_args()
    bench_root = Path(tempfile.mkdtemp(prefix="pagi-bench-mcp-", dir="/tmp"))
    bench_root.chmod(0o711)  # the sandbox uid must reach its state directory
    try:
        for nats_config in chosen_configs(args) if not args.bare_only else ("bare",):
            if not args.bare_only:
                print(config_heading(nats_config), flush=True)
            config_root = bench_root / nats_config
            config_root.mkdir()
            config_root.chmod(0o711)  # as bench_root (mkdir's mode is cut by the umask)
            asyncio.run(main(config_root, args.runs, args.warmup, not args.bare_only, nats_config))
    finally:
        shutil.rmtree(bench_root, ignore_errors=True)
