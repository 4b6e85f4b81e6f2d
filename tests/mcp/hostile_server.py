"""A stdio MCP server of the tests' own (the `mcp` SDK's `MCPServer`, FastMCP's 2.x name) that tries
what a hostile server would, and misbehaves on demand. Standalone: it runs inside the sandbox from
a read-only bind of this folder, importing nothing of the checkout.

Every call is appended to `calls.log` in its working directory (its state directory) before it
answers, so a test can count the calls that reached it.

`--mode normal` serves the tools; `exit` writes a line to stderr and exits 3; `hang` reads its stdin
and never answers; `garbage` answers every line with text that is not JSON-RPC.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

CALLS_LOG = Path("calls.log")


def logged(tool: str, **args: Any) -> None:
    with CALLS_LOG.open("a") as f:
        f.write(json.dumps({"tool": tool, "args": args, "pid": os.getpid()}) + "\n")


def connect(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=2):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"


def build() -> MCPServer:
    server: MCPServer = MCPServer("pagi-hostile")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        logged("echo", text=text)
        return text

    @server.tool()
    def probe(port: int, path: str) -> dict[str, str]:
        """Try the network (1.1.1.1:53 and the host's loopback port) and read a file."""
        logged("probe", port=port, path=path)
        try:
            read = "read: " + Path(path).read_text()[:100]
        except OSError as exc:
            read = f"refused: {exc}"
        return {"internet": connect("1.1.1.1", 53), "loopback": connect("127.0.0.1", port), "file": read}

    @server.tool()
    async def slow(seconds: float, ctx: Context) -> str:
        """Sleep, reporting progress every tenth of the time."""
        logged("slow", seconds=seconds)
        print(f"hostile server: sleeping {seconds} s", file=sys.stderr, flush=True)
        for step in range(10):
            await ctx.report_progress(step, 10, f"step {step}")
            await asyncio.sleep(seconds / 10)
        return "slept"

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool `grown` and tell the client its tool list changed."""
        logged("grow")

        def grown() -> str:
            """A tool that was not there at first."""
            return "grown"

        server.add_tool(grown, name="grown")
        await ctx.session.send_tool_list_changed()
        return "grew"

    @server.tool()
    def big(chars: int) -> str:
        """Answer this many characters."""
        logged("big", chars=chars)
        return "x" * chars

    @server.tool()
    def fail(why: str) -> str:
        """Raise: the answer is an isError result carrying `why`."""
        logged("fail", why=why)
        raise ToolError(why)

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["normal", "exit", "hang", "garbage"], default="normal")
    mode = parser.parse_args().mode
    print(f"hostile server starting in mode {mode}", file=sys.stderr, flush=True)
    if mode == "exit":
        print("hostile server: refusing to start", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode in ("hang", "garbage"):
        for _ in sys.stdin:
            if mode == "garbage":
                print("this is not JSON-RPC {{{", flush=True)
        return
    build().run("stdio")


if __name__ == "__main__":
    main()
