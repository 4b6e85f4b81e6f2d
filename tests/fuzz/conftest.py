"""The real stack as processes (as in tests/faults) for bad-input cases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pagi.bus import Bus

from ..stack import Stack, unthrottled_stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    with unthrottled_stack("pagi-fuzz-") as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Bus]:
    bus = await Bus.connect(stack.nats.url, "fuzz", connect_timeout_s=10)
    yield bus
    await bus.close()
