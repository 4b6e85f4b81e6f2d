"""MCP's stdio transport over a process PAGI started itself (in the sandbox, as its own uid, with
the seccomp filter passed as a descriptor: the SDK's `stdio_client` spawns its own process and
can do none of that). Newline-delimited JSON-RPC on stdin/stdout; stderr goes line by line to
`on_stderr`, each line bounded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import mcp_types as types
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

log = logging.getLogger("pagi.tool_worker.mcp")

READ_CHUNK = 64 * 1024
# One JSON-RPC message may be this long; a longer one ends the connection (the server is restarted).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
STDERR_LINE_CHARS = 2000
StderrSink = Callable[[str], Awaitable[None]]


class MessageTooLarge(ValueError):
    pass


def parse_line(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        # Garbage is handed to the session as a value (its message handler sees it), like the SDK's.
        return ValueError(f"the server wrote something that is not a JSON-RPC message: {line[:200]!r} ({exc})")


@asynccontextmanager
async def process_streams(
    proc: asyncio.subprocess.Process, on_stderr: StderrSink, ended: asyncio.Event
) -> AsyncIterator[TransportStreams]:
    """`ended` is set once the server's stdout is closed or it broke the protocol for good."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](16)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](16)

    async def reader() -> None:
        try:
            await read_lines()
        finally:
            ended.set()
            await read_writer.aclose()

    async def read_lines() -> None:
        buffer = b""
        while chunk := await stdout.read(READ_CHUNK):
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    await read_writer.send(parse_line(line))
            if len(buffer) > MAX_MESSAGE_BYTES:
                await read_writer.send(
                    MessageTooLarge(f"the server sent a message over {MAX_MESSAGE_BYTES} bytes; disconnected")
                )
                return

    async def writer() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, anyio.ClosedResourceError):
            async with write_reader:
                async for message in write_reader:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    stdin.write(data.encode() + b"\n")
                    await stdin.drain()

    async def errors() -> None:
        buffer = b""
        while chunk := await stderr.read(READ_CHUNK):
            *lines, buffer = (buffer + chunk).split(b"\n")
            buffer = buffer[-STDERR_LINE_CHARS:]
            for line in lines:
                with contextlib.suppress(Exception):
                    await on_stderr(line.decode("utf-8", "replace")[:STDERR_LINE_CHARS])

    tasks = [asyncio.create_task(t()) for t in (reader, writer, errors)]
    try:
        yield read_stream, write_stream
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in (read_stream, write_stream, read_writer, write_reader):
            await stream.aclose()
