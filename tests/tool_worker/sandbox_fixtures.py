"""Fixtures for everything that runs the real sandbox: a state directory the sandbox uid can reach."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from records.stores import DirBlobs, MemoryKV
from records.tools import ToolRegistry
from sandbox.limits import Limits
from sandbox.sandbox import Sandbox, SandboxConfig
from tool_worker.artifacts import ArtifactCache
from tool_worker.builtins import BUILTIN_RECORDS
from tool_worker.runner import ToolRunner

# Small enough that hostile cases end fast, large enough for a Python start on a busy 2-core machine.
TEST_LIMITS = Limits(timeout_s=6.0, cpu_s=1, address_space_bytes=512 * 1024 * 1024, nproc=32)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # pytest's tmp_path is private to root (0700); the sandbox runs as nobody and must traverse to its workspace.
    root = Path(tempfile.mkdtemp(prefix="pagi-sandbox-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def sandbox(state_dir: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(SandboxConfig(state_dir=state_dir / "state", limits=TEST_LIMITS))
    assert box.start() == "bwrap", f"bubblewrap must work on the test machine: {box.warning}"
    yield box
    await box.close()


@pytest.fixture
def blobs(state_dir: Path) -> DirBlobs:
    return DirBlobs(state_dir / "objects")


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(MemoryKV(), BUILTIN_RECORDS)


@pytest.fixture
def runner(sandbox: Sandbox, registry: ToolRegistry, blobs: DirBlobs, state_dir: Path) -> ToolRunner:
    return ToolRunner(sandbox, registry, ArtifactCache(blobs, sandbox.root / "artifacts"))


@pytest.fixture
def sid() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"
