"""Wiring of the build worker onto the bus."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bus_schemas.streams import APPROVALS, ARTIFACTS, BUILD_WORKER, DONE, SESSIONS, TOOLS, TWINS
from pagi import heartbeat
from pagi.bus import Bus
from pagi.service import Route
from records.sessions import SessionOwners
from records.stores import Blobs
from records.tools import ToolRegistry
from sandbox.settings import start_sandbox

from .build_queue import BuildQueue
from .build_req import BuildReqHandler
from .builder import Builder
from .rust_build import find_toolchain
from .settings import BuildSettings

log = logging.getLogger("pagi.build_worker")


def make_builder(settings: BuildSettings, registry: ToolRegistry, artifacts: Blobs) -> Builder:
    sandbox = start_sandbox(settings, "build_worker")
    toolchain = find_toolchain(settings.rust_toolchain)
    heartbeat.report("rust_toolchain", str(toolchain) if toolchain else None)
    log.info(
        "builds run with isolation %s; Rust: %s", sandbox.isolation, toolchain or "cargo not found, Rust builds refused"
    )
    return Builder(
        sandbox,
        registry,
        artifacts,
        BuildQueue(settings.max_concurrent, settings.max_pending),
        timeout_s=settings.timeout_ms / 1000.0,
        rust_toolchain=toolchain,
    )


async def build_routes(bus: Bus, settings: BuildSettings | None = None) -> Sequence[Route]:
    settings = settings or BuildSettings()
    registry = ToolRegistry(await bus.kv(TOOLS))
    builder = make_builder(settings, registry, await bus.object_store(ARTIFACTS))
    handler = BuildReqHandler(
        bus,
        builder,
        done=await bus.kv(DONE),
        twins=await bus.kv(TWINS),
        approvals=await bus.kv(APPROVALS),
        check_policy=settings.check_policy,
        owners=SessionOwners(await bus.kv(SESSIONS)),
    )
    # Room beyond the queue, so a request over the limit reaches the handler and is refused at once.
    in_flight = settings.max_concurrent + settings.max_pending + 4
    return [Route(BUILD_WORKER, handler, max_in_flight=in_flight)]
