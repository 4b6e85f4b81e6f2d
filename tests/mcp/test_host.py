"""The tool worker's MCP host against a real nats-server and real bubblewrap: registered stdio
servers (`mcp-server-time`, server-everything, and the tests' own hostile server) start in the
sandbox, their tools are listed into KV `pagi_mcp_tools`, a `tool.run` naming one is a call that
comes back as a `tool.result` with isolation, and a bad server gets a clear failed result while the
others keep working. One tool worker (one host) for the module."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bus_schemas import Envelope
from bus_schemas.mcp import McpServer, McpServerStatus, McpTool, pagi_tool_name, status_key
from bus_schemas.streams import MCP_SERVERS, MCP_TOOLS, TWINS
from bus_schemas.subjects import JOB_LOG, TOOL_RESULT, TOOL_RUN, one_session
from bus_schemas.tool import ToolResult, ToolRun
from bus_schemas.twin import Twin
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from pagi.stores import KVStore
from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer
from tool_worker.mcp_host import McpHost
from tool_worker.service import ToolWorker, open_tool_worker
from tool_worker.settings import ToolSettings

from ..support import EventCollector, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile_server.py"
NODE_BIN = HERE.parent / "clients" / "node_modules" / ".bin"
START_S = 30.0
TWIN = "mcp-twin"
OTHER_TWIN = "other-twin"


@dataclass
class World:
    bus: Bus
    worker: ToolWorker
    tools: KVStore
    servers: KVStore
    events: EventCollector
    session: str
    secret_file: Path

    @property
    def host(self) -> McpHost:
        assert self.worker.mcp is not None
        return self.worker.mcp

    async def register(self, name: str, command: str, *args: str, network: bool = False) -> None:
        server = McpServer(
            name=name, transport="stdio", command=command, args=list(args), network=network,
            created_by="test", created_at=datetime.now(UTC),
        )  # fmt: skip
        await self.servers.put(name, server.model_dump_json().encode())
        await self.host.sync()

    async def tool(self, server: str, tool: str) -> McpTool:
        name = pagi_tool_name(server, tool)
        found = await eventually(lambda: self.tools.get_model(name, McpTool), timeout=START_S, what=f"{name} in KV")
        assert isinstance(found, McpTool)
        return found

    async def status(self, server: str) -> McpServerStatus | None:
        return await self.tools.get_model(status_key(server), McpServerStatus)

    async def allow(self, *tools: McpTool, twin_id: str = TWIN) -> None:
        """The twin may use every tool of these servers and runs these tools without asking."""
        now = datetime.now(UTC)
        twin = Twin(
            id=twin_id, codename=twin_id, created_at=now, updated_at=now,
            mcp_tools=sorted({f"{t.server}/*" for t in tools}), always_allow_pins={t.name: t.digest for t in tools},
        )  # fmt: skip
        await (await self.bus.kv(TWINS)).put(f"twin.{twin_id}", twin.model_dump_json().encode())

    def calls(self, server: str) -> list[dict[str, Any]]:
        log = self.host.state_dir(server) / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    async def run(
        self, tool: str, args: dict[str, Any], *, request_id: str | None = None, twin_id: str = TWIN,
        timeout_s: float | None = None, event_id: str | None = None,
    ) -> tuple[ToolResult, Envelope[Any]]:  # fmt: skip
        request_id = request_id or uuid.uuid4().hex[:16]
        body = ToolRun(request_id=request_id, tool_name=tool, args=args, timeout_s=timeout_s)
        event = Envelope[ToolRun](type=TOOL_RUN, session_id=self.session, job_id="job-1", twin_id=twin_id, body=body)
        if event_id is not None:
            event = event.model_copy(update={"id": event_id})
        await self.bus.publish(event)
        return await self.result(request_id), event

    async def result(self, request_id: str, count: int = 1, timeout: float = 60) -> ToolResult:
        found = await self.events.wait_for_count(
            lambda e: e.type == TOOL_RESULT and e.body.request_id == request_id, count, timeout=timeout
        )
        body = found[-1].body
        assert isinstance(body, ToolResult)
        return body

    def log_lines(self) -> list[str]:
        return [e.body.message for e in self.events.events if e.type == JOB_LOG]


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    # pytest's tmp_path is private to root (0700); the sandbox uid must traverse to its state.
    root = Path(tempfile.mkdtemp(prefix="pagi-mcp-host-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def nats(state_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=state_dir / "nats", log_file=state_dir / "nats.log")
    server.start()
    asyncio.run(bootstrap_url(server.url))
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(nats: NatsServer, state_dir: Path) -> AsyncIterator[World]:
    bus = await Bus.connect(nats.url, "test-mcp-host", connect_timeout_s=10)
    settings = ToolSettings.model_validate(
        {"PAGI_DATA_DIR": str(state_dir / "data"), "PAGI_MCP_INIT_TIMEOUT_S": 5.0, "PAGI_MCP_POLL_S": 0.5}
    )
    worker = await open_tool_worker(bus, settings)
    consumers: list[PullConsumer] = await start_routes(bus, worker.routes)
    session = f"s-{uuid.uuid4().hex[:10]}"
    events = EventCollector()
    observer = await bus.observe(one_session(session), events)
    await bus.nc.flush()
    secret = state_dir / "secret.txt"
    secret.write_text("the host's secret")
    secret.chmod(0o644)
    world = World(bus, worker, await bus.kv(MCP_TOOLS), await bus.kv(MCP_SERVERS), events, session, secret)
    await world.register("hostile", sys.executable, str(HOSTILE))
    yield world
    await observer.stop()
    for consumer in consumers:
        await consumer.stop()
    await worker.close()
    await bus.close()


async def test_time_server_tools_listed_and_called_through_tool_run(world: World) -> None:
    await world.register("time", sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC")
    tool = await world.tool("time", "get_current_time")
    assert (tool.server, tool.tool, len(tool.digest)) == ("time", "get_current_time", 64)
    assert "timezone" in json.dumps(tool.input_schema)
    await world.allow(tool)
    result, _ = await world.run(tool.name, {"timezone": "Asia/Tokyo"})
    assert result.exit_code == 0 and result.reason is None, result
    assert result.isolation == "bwrap"
    assert "Asia/Tokyo" in result.stdout
    status = await eventually(lambda: world.status("time"), what="status")
    assert status is not None and status.running and status.isolation == "bwrap"
    assert status.tools >= 2 and not status.network
    assert any(
        m.startswith("calling get_current_time on MCP server time (isolation: bwrap)") for m in world.log_lines()
    )


async def hostile_tools(world: World) -> dict[str, McpTool]:
    tools = {name: await world.tool("hostile", name) for name in ("echo", "probe", "slow", "big", "fail", "grow")}
    await world.allow(*tools.values())
    return tools


async def test_a_stdio_server_cannot_reach_the_network_or_host_files(world: World) -> None:
    tools = await hostile_tools(world)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        result, _ = await world.run(tools["probe"].name, {"port": port, "path": str(world.secret_file)})
    finally:
        listener.close()
    assert result.exit_code == 0 and result.isolation == "bwrap", result
    assert world.secret_file.read_text() == "the host's secret"  # readable by anyone on the host
    probe = json.loads(result.stdout)
    assert probe["internet"].startswith("refused"), probe
    assert probe["loopback"].startswith("refused"), probe
    assert probe["file"].startswith("refused") and "the host's secret" not in probe["file"], probe
    status = await world.status("hostile")
    assert status is not None and status.network is False and status.isolation == "bwrap"


async def test_another_twin_and_bad_arguments_never_reach_the_server(world: World) -> None:
    tools = await hostile_tools(world)
    now = datetime.now(UTC)
    other = Twin(id=OTHER_TWIN, codename=OTHER_TWIN, created_at=now, updated_at=now)
    await (await world.bus.kv(TWINS)).put(f"twin.{OTHER_TWIN}", other.model_dump_json().encode())
    before = len(world.calls("hostile"))
    refused, _ = await world.run(tools["echo"].name, {"text": "from the other twin"}, twin_id=OTHER_TWIN)
    assert refused.reason == "not_allowed" and "hostile/echo" in (refused.error or ""), refused
    bad, _ = await world.run(tools["echo"].name, {"text": 5})
    assert bad.exit_code != 0 and "text" in (bad.error or ""), bad
    assert len(world.calls("hostile")) == before


async def test_a_redelivered_tool_run_calls_the_server_once(world: World) -> None:
    tools = await hostile_tools(world)
    text = f"once-{uuid.uuid4().hex[:8]}"
    first, event = await world.run(tools["echo"].name, {"text": text}, request_id=f"r-{text}")
    assert first.exit_code == 0 and first.stdout == text
    await world.bus.publish(event.model_copy(update={"id": "again-" + event.id[:20]}))
    again = await world.result(f"r-{text}", count=2)
    assert again == first
    assert [c for c in world.calls("hostile") if c["args"] == {"text": text}] == [
        {"tool": "echo", "args": {"text": text}, "pid": 1}
    ]


async def test_server_errors_and_oversize_results(world: World) -> None:
    tools = await hostile_tools(world)
    failed, _ = await world.run(tools["fail"].name, {"why": "the disk is on fire"})
    assert failed.exit_code == 1 and "the disk is on fire" in (failed.error or ""), failed
    assert failed.isolation == "bwrap"
    big, _ = await world.run(tools["big"].name, {"chars": 3_000_000})
    assert big.exit_code == 0 and big.truncated, (big.exit_code, big.truncated, big.error)
    assert len(big.model_dump_json()) < 1024 * 1024 and big.stdout.startswith("xxxx")


async def test_a_call_past_its_timeout_is_cancelled_and_the_server_keeps_working(world: World) -> None:
    tools = await hostile_tools(world)
    slow, _ = await world.run(tools["slow"].name, {"seconds": 20}, timeout_s=1.5)
    assert slow.reason == "timeout" and "cancelled" in (slow.error or ""), slow
    assert any("[progress" in line for line in world.log_lines())
    echo, _ = await world.run(tools["echo"].name, {"text": "still here"})
    assert echo.stdout == "still here"


async def test_kill_9_mid_call_gives_a_clear_failure_and_the_next_call_works(world: World) -> None:
    tools = await hostile_tools(world)
    runner = world.host.runners["hostile"]
    before = len(world.calls("hostile"))
    request_id = uuid.uuid4().hex[:16]
    body = ToolRun(request_id=request_id, tool_name=tools["slow"].name, args={"seconds": 20})
    await world.bus.publish(
        Envelope[ToolRun](type=TOOL_RUN, session_id=world.session, job_id="job-1", twin_id=TWIN, body=body)
    )
    await eventually(lambda: len(world.calls("hostile")) > before, timeout=20, what="the slow call reached the server")
    process = runner.process
    assert process is not None and process.info is not None
    pid = process.info.child_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    result = await world.result(request_id)
    assert result.reason == "unavailable" and "restarted" in (result.error or ""), result
    echo, _ = await world.run(tools["echo"].name, {"text": "after the kill"})
    assert echo.exit_code == 0 and echo.stdout == "after the kill", echo
    assert runner.restarts >= 1


async def test_bad_servers_get_clear_errors_and_block_nothing(world: World) -> None:
    await world.register("broken", sys.executable, str(HOSTILE), "--mode", "exit")
    await world.register("hangs", sys.executable, str(HOSTILE), "--mode", "hang")
    await world.register("garbage", sys.executable, str(HOSTILE), "--mode", "garbage")
    await world.register("missing", "/nonexistent/mcp-server")

    async def error_of(name: str) -> str | None:
        status = await world.status(name)
        return status.last_error if status is not None and not status.running else None

    broken = str(await eventually(lambda: error_of("broken"), timeout=START_S, what="broken's error"))
    assert "refusing to start" in broken or "exited" in broken, broken
    hangs = str(await eventually(lambda: error_of("hangs"), timeout=START_S, what="hangs' error"))
    assert "did not answer initialize within 5 s" in hangs
    garbage = str(await eventually(lambda: error_of("garbage"), timeout=START_S, what="garbage's error"))
    assert "initialize" in garbage or "JSON-RPC" in garbage, garbage
    missing = str(await eventually(lambda: error_of("missing"), timeout=START_S, what="missing's error"))
    assert "could not start" in missing and "does not exist" in missing
    # A call to a tool of a server that keeps failing to start: a clear failed result, at once.
    await eventually(lambda: world.host.runners["broken"].failures >= 2, timeout=START_S, what="broken failing")
    echo = await world.tool("hostile", "echo")
    stale = echo.model_copy(update={"name": "broken__echo", "server": "broken"})
    await world.tools.put(stale.name, stale.model_dump_json().encode())
    await world.allow(stale)
    dead, _ = await world.run(stale.name, {"text": "anyone?"})
    assert dead.reason == "unavailable" and "MCP server broken is not running" in (dead.error or ""), dead
    assert "refusing to start" in (dead.error or ""), dead
    # Meanwhile a good server answers at once.
    tools = await hostile_tools(world)
    answered, _ = await world.run(tools["echo"].name, {"text": "unblocked"})
    assert answered.stdout == "unblocked"
    # Removed from the registry: stopped, and its status goes.
    for name in ("broken", "hangs", "garbage", "missing"):
        await world.servers.delete(name)
    await world.host.sync()
    assert not {"broken", "hangs", "garbage", "missing"} & set(world.host.runners)
    assert await world.status("broken") is None


async def test_server_everything_from_node_modules(world: World) -> None:
    await world.register("everything", str(NODE_BIN / "mcp-server-everything"), "stdio")
    echo = await world.tool("everything", "echo")
    await world.allow(echo)
    result, _ = await world.run(echo.name, {"message": "hello from PAGI"})
    assert result.exit_code == 0 and "hello from PAGI" in result.stdout, result
    status = await eventually(lambda: world.status("everything"), what="everything's status")
    assert status is not None and status.running and (status.resources or status.prompts)


async def test_a_removed_server_withdraws_its_tools(world: World) -> None:
    await world.register("time2", sys.executable, "-m", "mcp_server_time")
    await world.tool("time2", "get_current_time")
    await world.servers.delete("time2")
    await world.host.sync()
    assert await world.tools.get(pagi_tool_name("time2", "get_current_time")) is None
    assert await world.status("time2") is None


async def test_progress_and_stderr_of_a_call_reach_its_job_log(world: World) -> None:
    tools = await hostile_tools(world)
    result, _ = await world.run(tools["slow"].name, {"seconds": 0.5})
    assert result.stdout == "slept"
    lines = world.log_lines()
    assert any("hostile server: sleeping 0.5 s" in line for line in lines), lines[-20:]
    assert any("[progress 9/10] step 9" in line for line in lines), lines[-20:]


async def test_tools_listed_again_on_list_changed(world: World) -> None:
    tools = await hostile_tools(world)
    assert await world.tools.get(pagi_tool_name("hostile", "grown")) is None
    grew, _ = await world.run(tools["grow"].name, {})
    assert grew.stdout == "grew"
    grown = await world.tool("hostile", "grown")
    assert grown.description == "A tool that was not there at first."


async def test_a_server_registered_with_network_has_one(world: World) -> None:
    await world.register("netty", sys.executable, str(HOSTILE), network=True)
    probe = await world.tool("netty", "probe")
    await world.allow(probe)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        result, _ = await world.run(probe.name, {"port": listener.getsockname()[1], "path": "/etc/resolv.conf"})
    finally:
        listener.close()
    answer = json.loads(result.stdout)
    assert answer["loopback"] == "connected", result
    # Its resolver is the host's (a server with a network can look names up), nothing else of /etc.
    host_resolv = await asyncio.to_thread(Path("/etc/resolv.conf").read_text)
    assert answer["file"] == "read: " + host_resolv[:100], answer
    status = await world.status("netty")
    assert status is not None and status.network is True


async def test_filesystem_server_confined_to_its_paths(world: World, state_dir: Path) -> None:
    notes = state_dir / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("buy rice")
    server = McpServer(
        name="files", transport="stdio", command=str(NODE_BIN / "mcp-server-filesystem"), args=[str(notes)],
        paths=[str(notes)], created_by="test", created_at=datetime.now(UTC),
    )  # fmt: skip
    await world.servers.put("files", server.model_dump_json().encode())
    await world.host.sync()
    read = await world.tool("files", "read_text_file")
    write = await world.tool("files", "write_file")
    await world.allow(read, write)
    result, _ = await world.run(read.name, {"path": str(notes / "todo.txt")})
    assert result.exit_code == 0 and "buy rice" in result.stdout, result
    wrote, _ = await world.run(write.name, {"path": str(notes / "new.txt"), "content": "from the sandbox"})
    assert wrote.exit_code == 0, wrote
    assert (notes / "new.txt").read_text() == "from the sandbox"
    outside, _ = await world.run(read.name, {"path": str(world.secret_file)})
    assert outside.exit_code != 0 and "the host's secret" not in outside.stdout, outside


async def test_paths_are_validated(world: World) -> None:
    with pytest.raises(ValueError, match="must be an absolute folder path"):
        McpServer(
            name="x", transport="stdio", command="x", paths=["relative"], created_by="t", created_at=datetime.now(UTC)
        )
    with pytest.raises(ValueError, match="not / itself"):
        McpServer(name="x", transport="stdio", command="x", paths=["/"], created_by="t", created_at=datetime.now(UTC))
    data = world.host.data_dir
    assert data is not None
    for bad, why in ((data, "overlaps PAGI's data directory"), (Path("/nonexistent-folder"), "not an existing folder")):
        data.mkdir(parents=True, exist_ok=True)
        server = McpServer(
            name="badpath", transport="stdio", command=sys.executable, args=[str(HOSTILE)], paths=[str(bad)],
            created_by="test", created_at=datetime.now(UTC),
        )  # fmt: skip
        await world.servers.put("badpath", server.model_dump_json().encode())
        await world.host.sync()

        async def error(why: str = why) -> str | None:
            status = await world.status("badpath")
            found = status.last_error if status is not None else None
            return found if found is not None and why in found else None

        assert why in str(await eventually(error, timeout=START_S, what=why))
        await world.servers.delete("badpath")
        await world.host.sync()


async def test_a_host_starting_withdraws_tools_of_servers_removed_meanwhile(world: World) -> None:
    echo = await world.tool("hostile", "echo")
    ghost = echo.model_copy(update={"name": "ghost__echo", "server": "ghost"})
    await world.tools.put(ghost.name, ghost.model_dump_json().encode())
    await world.tools.put(status_key("ghost"), b"{}")
    await world.host.withdraw_unregistered()
    assert await world.tools.get("ghost__echo") is None and await world.tools.get(status_key("ghost")) is None
    assert await world.tools.get(echo.name) is not None


async def test_a_console_script_on_path_runs_with_its_interpreter(world: World) -> None:
    # `mcp-server-time` as `pip install` leaves it: a script whose #! names the venv's python.
    script = Path(sys.executable).parent / "mcp-server-time"
    assert script.exists(), f"{script} is missing: make setup installs mcp-server-time"
    await world.register("timescript", str(script))
    tool = await world.tool("timescript", "get_current_time")
    await world.allow(tool)
    result, _ = await world.run(tool.name, {"timezone": "Europe/Paris"})
    assert result.exit_code == 0 and "Europe/Paris" in result.stdout, result
