from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from build_worker.build_queue import BuildQueue
from build_worker.builder import Builder
from build_worker.rust_build import find_toolchain
from build_worker.service import build_routes
from build_worker.settings import BuildSettings
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from records.tools import ToolRegistry
from sandbox import Sandbox
from tests.fakes import DirBlobs
from tests.workers_support import blobs, registry, runner, sandbox, sandbox_env, sid, start_worker, state_dir

__all__ = [
    "blobs",
    "builder",
    "registry",
    "runner",
    "sandbox",
    "sid",
    "start_builder",
    "start_worker",
    "state_dir",
    "toolchain",
]

StartBuilder = Callable[..., Any]


@pytest.fixture(scope="session")
def toolchain() -> Path | None:
    return find_toolchain(None)


@pytest.fixture
def builder(sandbox: Sandbox, registry: ToolRegistry, blobs: DirBlobs, toolchain: Path | None) -> Builder:
    return Builder(sandbox, registry, blobs, BuildQueue(1, 4), timeout_s=60.0, rust_toolchain=toolchain)


@pytest.fixture
async def start_builder(bus: Bus, state_dir: Path) -> AsyncIterator[StartBuilder]:
    """Start a build worker on the bus (call again for another copy sharing the durable consumer)."""
    running: list[PullConsumer] = []

    async def start(**build_env: Any) -> None:
        settings = BuildSettings.model_validate({**sandbox_env(state_dir), "BUILD_TIMEOUT_MS": 20_000, **build_env})
        running.extend(await start_routes(bus, await build_routes(bus, settings)))

    yield start
    for consumer in running:
        await consumer.stop()
