"""A Streamable HTTP MCP server of the test's own, built with the official `mcp` SDK (`MCPServer`, the
SDK 2.x name of FastMCP), run as a separate process on a free loopback port.

Every call it receives is appended to a calls log (one JSON line per call) before it answers, so a
test can tell that a denied call never reached it. With `--token`, a request without
`Authorization: Bearer <token>` is answered 401 before MCP sees it (the registration's sealed header
is what lets the tool worker in).

Run alone: `python -m tests.mcp.http_server --port 8931 --calls-log /tmp/calls.jsonl [--token T]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.ports import free_port

SERVER_NAME = "pagi-test-http"
START_TIMEOUT_S = 30.0
CHECKOUT = Path(__file__).resolve().parents[2]


def build(calls_log: Path) -> MCPServer:
    server: MCPServer = MCPServer(SERVER_NAME, instructions="A test server: adds numbers and echoes text.")

    def record(tool: str, arguments: dict[str, Any]) -> None:
        with calls_log.open("a") as log:
            log.write(json.dumps({"tool": tool, "arguments": arguments, "at": time.time()}) + "\n")

    @server.tool(description="Add two integers and return their sum.")
    def add(a: int, b: int) -> int:
        record("add", {"a": a, "b": b})
        return a + b

    @server.tool(description="Echo the text back, prefixed with the server's name.")
    def echo(text: str) -> str:
        record("echo", {"text": text})
        return f"{SERVER_NAME} says: {text}"

    return server


class BearerOnly:
    """401 for any request without the expected bearer token: the sealed header must reach us."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and Request(scope).headers.get("authorization") != self.expected:
            response: Response = JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def serve(port: int, calls_log: Path, token: str | None) -> None:
    app: ASGIApp = build(calls_log).streamable_http_app(streamable_http_path="/mcp")
    if token:
        app = BearerOnly(app, token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


@dataclass
class HttpServer:
    url: str
    calls_log: Path
    process: asyncio.subprocess.Process

    def calls(self) -> list[dict[str, Any]]:
        if not self.calls_log.exists():
            return []
        return [json.loads(line) for line in self.calls_log.read_text().splitlines() if line.strip()]


async def _wait_listening(port: int, proc: asyncio.subprocess.Process, deadline: float) -> None:
    while True:
        if proc.returncode is not None:
            raise RuntimeError(f"the test MCP http server exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the test MCP http server did not listen on {port} in {START_TIMEOUT_S}s") from None
            await asyncio.sleep(0.05)  # polling a port that is not open yet: a bounded wait, not a fixed one
            continue
        writer.close()
        await writer.wait_closed()
        return


@asynccontextmanager
async def running_http_server(
    folder: Path, token: str | None = None, port: int | None = None
) -> AsyncIterator[HttpServer]:
    """The server in a process of its own on a free port (or `port`, to start it again where it was);
    its URL (`http://127.0.0.1:N/mcp`)."""
    port = port or free_port()
    calls_log = folder / "http-server-calls.jsonl"
    args = ["--port", str(port), "--calls-log", str(calls_log), *(["--token", token] if token else [])]
    stderr = (folder / "http-server.stderr").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.mcp.http_server", *args, cwd=CHECKOUT, stdout=stderr, stderr=stderr
    )
    try:
        await _wait_listening(port, proc, asyncio.get_running_loop().time() + START_TIMEOUT_S)
        yield HttpServer(f"http://127.0.0.1:{port}/mcp", calls_log, proc)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        stderr.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls-log", type=Path, required=True)
    parser.add_argument("--token", default=None)
    options = parser.parse_args()
    serve(options.port, options.calls_log, options.token)
