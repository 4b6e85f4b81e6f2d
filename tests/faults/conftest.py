"""The real stack as processes, and a bus client for the workload."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pagi.bus import Bus

from ..stack import Stack


@pytest.fixture
def stack_root() -> Iterator[Path]:
    """Outside pytest's private tmp dirs: the sandbox uid must reach the tool workspaces, and the test
    reads what the tools wrote there."""
    root = Path(tempfile.mkdtemp(prefix="pagi-faults-"))
    root.chmod(0o711)
    yield root
    if not os.environ.get("PAGI_FAULTS_KEEP"):  # set it to keep the logs and stores of a failed case
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack(stack_root: Path) -> Iterator[Stack]:
    running = Stack(stack_root / "stack")
    running.root.chmod(0o711)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Bus]:
    bus = await Bus.connect(stack.nats.url, "fault-suite", connect_timeout_s=10)
    yield bus
    await bus.close()
