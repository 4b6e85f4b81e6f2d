from pathlib import Path

import pytest

from build_worker.build_queue import BuildQueue
from build_worker.builder import Builder
from build_worker.rust_build import find_toolchain
from records.stores import DirBlobs
from records.tools import ToolRegistry
from sandbox.sandbox import Sandbox
from tests.tool_worker.sandbox_fixtures import blobs, registry, runner, sandbox, sid, state_dir

__all__ = ["blobs", "builder", "registry", "runner", "sandbox", "sid", "state_dir", "toolchain"]


@pytest.fixture(scope="session")
def toolchain() -> Path | None:
    return find_toolchain(None)


@pytest.fixture
def builder(sandbox: Sandbox, registry: ToolRegistry, blobs: DirBlobs, toolchain: Path | None) -> Builder:
    return Builder(sandbox, registry, blobs, BuildQueue(1, 4), timeout_s=60.0, rust_toolchain=toolchain)
