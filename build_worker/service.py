"""Wiring of the build worker onto the bus."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence

from bus_schemas.heartbeat import SANDBOX, SANDBOX_REQUIRED
from bus_schemas.streams import APPROVALS, ARTIFACTS, BUILD_WORKER, DONE, TOOLS, TWINS
from pagi import heartbeat
from pagi.bus import Bus
from pagi.service import Route
from records.stores import Blobs
from records.tools import ToolRegistry
from sandbox.sandbox import Sandbox, SandboxConfig
from tool_worker.settings import ToolSettings

from .build_queue import BuildQueue
from .build_req import BuildReqHandler
from .builder import Builder
from .rust_build import find_toolchain
from .settings import BuildSettings

log = logging.getLogger("pagi.build_worker")


def make_builder(tools: ToolSettings, builds: BuildSettings, registry: ToolRegistry, artifacts: Blobs) -> Builder:
    host_user = (tools.sandbox_uid, tools.sandbox_uid) if os.geteuid() == 0 else None
    sandbox = Sandbox(
        SandboxConfig(
            state_dir=(tools.data_dir / "build_worker").resolve(),
            require_sandbox=tools.require_sandbox,
            bwrap=tools.bwrap or shutil.which("bwrap"),
            host_user=host_user,
            limits=tools.limits(),
            python=tools.python,
        )
    )
    sandbox.start()
    toolchain = find_toolchain(builds.rust_toolchain)
    heartbeat.report(SANDBOX, sandbox.isolation)
    heartbeat.report(SANDBOX_REQUIRED, tools.require_sandbox)
    heartbeat.report("rust_toolchain", str(toolchain) if toolchain else None)
    log.info(
        "builds run with isolation %s; Rust: %s", sandbox.isolation, toolchain or "cargo not found, Rust builds refused"
    )
    return Builder(
        sandbox,
        registry,
        artifacts,
        BuildQueue(builds.max_concurrent, builds.max_pending),
        timeout_s=builds.timeout_ms / 1000.0,
        rust_toolchain=toolchain,
    )


async def build_routes(
    bus: Bus, tools: ToolSettings | None = None, builds: BuildSettings | None = None
) -> Sequence[Route]:
    tools = tools or ToolSettings()
    builds = builds or BuildSettings()
    registry = ToolRegistry(await bus.kv(TOOLS))
    builder = make_builder(tools, builds, registry, await bus.object_store(ARTIFACTS))
    handler = BuildReqHandler(
        bus,
        builder,
        done=await bus.kv(DONE),
        twins=await bus.kv(TWINS),
        approvals=await bus.kv(APPROVALS),
        check_policy=tools.check_policy,
    )
    # Room beyond the queue, so a request over the limit reaches the handler and is refused at once.
    in_flight = builds.max_concurrent + builds.max_pending + 4
    return [Route(BUILD_WORKER, handler, max_in_flight=in_flight)]
