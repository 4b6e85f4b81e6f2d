"""The event loop a service runs on: uvloop by default (its socket writes and callbacks cost less than
asyncio's own, measured in bench/README.md "Round trip"), asyncio's own with PAGI_EVENT_LOOP=asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

import uvloop

T = TypeVar("T")
EventLoop = Literal["uvloop", "asyncio"]
EVENT_LOOPS: tuple[EventLoop, ...] = ("uvloop", "asyncio")


def run(main: Coroutine[Any, Any, T], loop: EventLoop = "uvloop") -> T:
    if loop == "uvloop":
        return uvloop.run(main)
    return asyncio.run(main)
