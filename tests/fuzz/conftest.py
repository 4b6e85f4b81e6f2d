"""The real stack as processes (as in tests/faults) for bad-input cases."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pagi.bus import Bus

from ..stack import Stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="pagi-fuzz-"))
    root.chmod(0o711)
    # No rate limit in the way: the point is what the handlers do with what gets through.
    running = Stack(root / "stack", extra_env={"PAGI_RATE_LIMIT_RPS": "100000", "PAGI_RATE_LIMIT_BURST": "100000"})
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Bus]:
    bus = await Bus.connect(stack.nats.url, "fuzz", connect_timeout_s=10)
    yield bus
    await bus.close()
