"""A connection to one MCP server, whatever carries it: the streams a `ClientSession` speaks over,
and a wait that ends when the connection is over (saying why), so the runner restarts it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mcp.client._transport import TransportStreams


class LinkFailed(RuntimeError):
    """The server could not be started or reached at all; the message says why."""


@dataclass(frozen=True)
class Link:
    streams: TransportStreams
    over: Callable[[], Awaitable[str]]
