"""One registered server on this host: its link (a sandboxed stdio process, or a Streamable HTTP
connection), its MCP session, made again with backoff when it ends, its tools listed into KV after
`initialize` and on `tools/list_changed`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import mcp_types as types
from mcp import ClientSession
from mcp.shared.exceptions import MCPError

from bus_schemas.mcp import McpNamed, McpServer, McpServerStatus
from bus_schemas.tool import Isolation
from pagi.backoff import Backoff
from pagi.stores import KVStore
from sandbox import Limits, Sandbox, SandboxUnavailable, traversable_by_others
from sandbox.server import SandboxedProcess, start_process

from .link import Link, LinkFailed
from .listing import publish_tools, put_status
from .program import ProgramError, program_binds, resolve_command
from .remote import http_link
from .transport import StderrSink, process_streams

log = logging.getLogger("pagi.tool_worker.mcp")

MAX_PAGES = 50
STDERR_KEPT = 20
# Per process: a chatty or garbage-spewing server cannot flood the worker's log.
LOGGED_LINES = 1000
# A call fails at once (rather than waiting for a restart) once this many starts in a row failed.
FAIL_FAST_AFTER = 2
ProgressSink = Callable[[float, float | None, str | None], Awaitable[None]]


class ServerUnavailable(RuntimeError):
    """The server is not running (did not start, or died mid-call); the message says why."""


SERVER_LIMITS: Final = Limits(timeout_s=0, cpu_s=3600, address_space_bytes=8 * 1024**3)
RESTART_BACKOFF: Final = Backoff(0.5, 30.0)


@dataclass(frozen=True)
class HostLimits:
    init_timeout_s: float = 20.0
    # How long a call waits for a server that is (re)starting.
    ready_wait_s: float = 20.0
    backoff: Backoff = RESTART_BACKOFF
    # rlimits of a server's whole life: its CPU time is hours, not a tool run's seconds.
    limits: Limits = SERVER_LIMITS


class ServerRunner:
    def __init__(
        self, server: McpServer, sandbox: Sandbox, kv: KVStore, state_dir: Path, data_dir: Path | None,
        limits: HostLimits,
    ) -> None:  # fmt: skip
        self.server = server
        self.sandbox = sandbox
        self.kv = kv
        self.state_dir = state_dir
        self.data_dir = data_dir
        self.limits = limits
        self.session: ClientSession | None = None
        self.ready = asyncio.Event()
        self.died = asyncio.Event()
        self.last_error: str | None = None
        self.restarts = 0
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_KEPT)
        self.stderr_sinks: set[StderrSink] = set()
        self.resources: list[McpNamed] = []
        self.prompts: list[McpNamed] = []
        self.tool_count = 0
        self.warning: str | None = None
        self.process: SandboxedProcess | None = None
        # Set when an http server fails under a call: the link is over and is made again.
        self.broken = asyncio.Event()
        self.last_refusal: str | None = None  # an http server's last error status
        self._logged = 0
        # Starts in a row that never got through initialize.
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.server.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # --- the process and its session ----------------------------------------------------------

    async def _supervise(self) -> None:
        while True:
            initialized = await self._serve_once()
            self.failures = 0 if initialized else self.failures + 1
            self.restarts += 1
            await self._put_status()
            delay = self.limits.backoff.delay(self.failures + 1)
            log.warning("MCP server %s: %s; restarting in %.1f s", self.server.name, self.last_error, delay)
            await asyncio.sleep(delay)

    async def _serve_once(self) -> bool:
        initialized = False
        self._logged = 0
        try:
            async with (
                self._link() as link,
                ClientSession(*link.streams, message_handler=self._on_message) as session,
            ):
                try:
                    async with asyncio.timeout(self.limits.init_timeout_s):
                        await session.initialize()
                except TimeoutError:
                    self.last_error = (
                        f"MCP server {self.server.name} did not answer initialize within "
                        f"{self.limits.init_timeout_s:g} s{self._stderr_hint()}"
                    )
                    return False
                initialized = True
                self.session = session
                await self._refresh(session)
                self.last_error = None
                self.ready.set()
                await self._put_status()
                self.last_error = await link.over()
        except LinkFailed as exc:
            self.last_error = str(exc)
        except Exception as exc:  # the SDK's task group: a broken stream, a protocol error
            self.last_error = f"MCP server {self.server.name} failed: {_brief(exc)}{self._stderr_hint()}"
        finally:
            self.session = None
            self.ready.clear()
            self.died.set()
            self.died = asyncio.Event()
            self.broken = asyncio.Event()
            self.last_refusal = None
        return initialized

    def _link(self) -> AbstractAsyncContextManager[Link]:
        if self.server.transport == "http":
            return http_link(self.server, self.broken, self._refused)
        return self._stdio_link()

    def _refused(self, status: str) -> None:
        self.last_refusal = status

    @asynccontextmanager
    async def _stdio_link(self) -> AsyncIterator[Link]:
        try:
            process = await self._start()
        except (ProgramError, SandboxUnavailable, OSError, ValueError) as exc:
            raise LinkFailed(f"MCP server {self.server.name} could not start: {exc}") from exc
        ended = asyncio.Event()

        async def over() -> str:
            await _first(process.proc.wait(), ended.wait())
            return self._exit_error(process)

        try:
            async with process_streams(process.proc, self._stderr, ended) as streams:
                yield Link(streams, over)
        finally:
            await process.kill()

    async def _start(self) -> SandboxedProcess:
        command = resolve_command(self.server.command or "")
        binds = program_binds(self.server, command, self.data_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state_dir.chmod(0o700)
        hidden = [str(b.source) for b in binds if not traversable_by_others(b.source.parent)]
        self.warning = None
        as_worker = bool(hidden or self.server.paths) and self.sandbox.config.host_user is not None
        if hidden:
            # bwrap, run as the sandbox's host uid, could not bind them; run as the worker, the server
            # inside is still the unprivileged sandbox user, but without the host uid's process limit.
            self.warning = (
                f"{', '.join(hidden)} is not reachable by the sandbox uid (a parent folder without the x bit "
                "for others): bwrap runs as the worker's uid for this server"
            )
        elif as_worker:
            # The operator's folders: what the server writes there is theirs (the worker's uid), as a
            # program they ran themselves would leave it, not a sandbox uid's they cannot even name.
            self.warning = "bwrap runs as the worker's uid for this server, so it can use the folders in its paths"
        if self.warning:
            log.warning("MCP server %s: %s", self.server.name, self.warning)
        self.process = await start_process(
            self.sandbox, [str(command), *self.server.args], self.state_dir, limits=self.limits.limits,
            binds=binds, network=self.server.network, as_worker_user=as_worker,
        )  # fmt: skip
        return self.process

    def _exit_error(self, process: SandboxedProcess) -> str:
        code = process.proc.returncode
        how = "stopped answering" if code is None else f"exited with code {code}"
        return f"MCP server {self.server.name} {how}{self._stderr_hint()}"

    def _stderr_hint(self) -> str:
        """The server's last words: a stdio server's last stderr line, an http server's last error status."""
        if self.server.transport == "http":
            return f" (it answered {self.last_refusal})" if self.last_refusal else ""
        return f" (its last stderr line: {self.stderr_tail[-1][:500]!r})" if self.stderr_tail else ""

    def _log(self, level: int, text: str) -> None:
        self._logged += 1
        if self._logged <= LOGGED_LINES:
            log.log(level, "MCP server %s: %s", self.server.name, text)
        elif self._logged == LOGGED_LINES + 1:
            log.warning("MCP server %s: more than %d lines; the rest is not logged", self.server.name, LOGGED_LINES)

    async def _stderr(self, line: str) -> None:
        self.stderr_tail.append(line)
        if not self.stderr_sinks:
            self._log(logging.INFO, line)
        for sink in list(self.stderr_sinks):
            await sink(line)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            self._log(logging.WARNING, _brief(message))
            self.stderr_tail.append(f"[pagi] {_brief(message)}")
        elif isinstance(message, types.ToolListChangedNotification) and self.session is not None:
            # Not awaited here: the listing is a request whose answer this very handler's loop reads.
            session = self.session
            self._refreshing = asyncio.create_task(self._refresh_logged(session))

    async def _refresh_logged(self, session: ClientSession) -> None:
        try:
            await self._refresh(session)
            await self._put_status()
        except Exception as exc:
            log.warning("MCP server %s: listing its tools again failed: %s", self.server.name, _brief(exc))

    # --- what it offers -----------------------------------------------------------------------

    async def _refresh(self, session: ClientSession) -> None:
        async with asyncio.timeout(self.limits.init_timeout_s):
            tools: list[types.Tool] = []
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
                tools += page.tools
                cursor = page.next_cursor
                if not cursor:
                    break
            self.tool_count = len(await publish_tools(self.kv, self.server, tools))
            caps = session.server_capabilities
            if caps is not None and caps.resources is not None:
                with contextlib.suppress(MCPError):
                    listed = await session.list_resources()
                    self.resources = [
                        McpNamed(name=r.name[:200], description=(r.description or "")[:2000], uri=str(r.uri)[:2000])
                        for r in listed.resources[:200]
                    ]
            if caps is not None and caps.prompts is not None:
                with contextlib.suppress(MCPError):
                    prompts = await session.list_prompts()
                    self.prompts = [
                        McpNamed(name=p.name[:200], description=(p.description or "")[:2000])
                        for p in prompts.prompts[:200]
                    ]

    async def _put_status(self) -> None:
        session = self.session
        info = session.server_info if session is not None else None
        status = McpServerStatus(
            server=self.server.name,
            host=socket.gethostname(),
            running=self.ready.is_set(),
            isolation=self.isolation,
            network=self.server.network or self.server.transport == "http",
            protocol_version=session.protocol_version if session is not None else None,
            server_info=f"{info.name} {info.version}"[:400] if info is not None else None,
            tools=self.tool_count,
            resources=self.resources,
            prompts=self.prompts,
            restarts=self.restarts,
            last_error=self.last_error[:4000] if self.last_error else None,
            warning=self.warning[:2000] if self.warning else None,
            updated_at=datetime.now(UTC),
        )
        try:
            await put_status(self.kv, status)
        except Exception as exc:
            log.warning("MCP server %s: status not written: %s", self.server.name, _brief(exc))

    # --- a call -------------------------------------------------------------------------------

    async def call(
        self, tool: str, args: dict[str, Any], timeout_s: float, on_progress: ProgressSink | None,
        on_stderr: StderrSink | None,
    ) -> types.CallToolResult:  # fmt: skip
        """Raises `ServerUnavailable` (not running, died mid-call), `TimeoutError` (cancelled at the
        server with `notifications/cancelled`), `MCPError` (the server's own error answer)."""
        if not self.ready.is_set() and self.failures >= FAIL_FAST_AFTER:
            # Not restarting after a crash but failing to start at all: say so now, not after a wait.
            raise ServerUnavailable(f"MCP server {self.server.name} is not running: {self.last_error}")
        if not self.ready.is_set():
            try:
                async with asyncio.timeout(self.limits.ready_wait_s):
                    await self.ready.wait()
            except TimeoutError:
                why = self.last_error or f"still starting after {self.limits.ready_wait_s:g} s"
                raise ServerUnavailable(f"MCP server {self.server.name} is not running: {why}") from None
        session, died = self.session, self.died
        assert session is not None
        if on_stderr is not None:
            self.stderr_sinks.add(on_stderr)

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            if on_progress is not None:
                await on_progress(progress, total, message)

        calling = asyncio.ensure_future(
            session.call_tool(tool, args, read_timeout_seconds=timeout_s, progress_callback=progress)
        )
        dying = asyncio.ensure_future(died.wait())
        try:
            # The SDK times the call out itself (and tells the server); this is the backstop.
            await asyncio.wait([calling, dying], timeout=timeout_s + 5, return_when="FIRST_COMPLETED")
            if calling.done():
                try:
                    answer: types.CallToolResult = calling.result()
                    return answer
                except MCPError as exc:
                    if exc.error.code == types.REQUEST_TIMEOUT:
                        raise TimeoutError(str(exc)) from None
                    if exc.error.code == types.CONNECTION_CLOSED:
                        self.broken.set()
                        raise ServerUnavailable(self._died_message(exc.error.message)) from None
                    raise
            if dying.done():
                raise ServerUnavailable(self._died_message())
            raise TimeoutError(f"no answer within {timeout_s + 5:g} s")
        finally:
            for task in (calling, dying):
                task.cancel()
            if on_stderr is not None:
                self.stderr_sinks.discard(on_stderr)

    def _died_message(self, detail: str | None = None) -> str:
        why = self.last_error or f"MCP server {self.server.name} stopped" + (f" ({detail})" if detail else "")
        again = "PAGI connects to it again" if self.server.transport == "http" else "the server is being restarted"
        return f"{why}; the call did not complete ({again})"

    @property
    def isolation(self) -> Isolation:
        return "remote" if self.server.transport == "http" else self.sandbox.isolation


async def _first(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when="FIRST_COMPLETED")
    finally:
        for task in tasks:
            task.cancel()


def _brief(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_brief(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
