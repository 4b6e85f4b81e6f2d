"""The real services' own start-up code, each as its own NATS user against the generated nats.conf,
after the operator's bootstrap: nothing they do at start is refused (a table narrower than the code
would stop a service in `pagi up` and in compose). The planner and the memory worker are started
this way in test_micro.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from build_worker.service import build_routes
from build_worker.settings import BuildSettings
from bus_schemas import Envelope
from bus_schemas import streams as st
from bus_schemas.chat import ChatIn
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, Tail
from pagi.service import Route, RouteFactory, start_routes
from pagi.settings import BusSettings
from tool_worker.service import ToolWorker, open_tool_worker

from ..support import eventually
from ..workers_support import sandbox_env, state_dir, tool_settings
from .conftest import HOST_ID, SecureBus

__all__ = ["state_dir"]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


async def start_and_stop_as(secure_server: SecureBus, user: str, service: str, routes: RouteFactory) -> None:
    """A worker's start-up as it runs in `pagi up`: find the topology, set up its routes, stop."""
    bus = await Bus.connect(secure_server.url(user), service, connect_timeout_s=5)
    try:
        await bus.wait_for_topology(timeout_s=5)
        consumers = await start_routes(bus, await routes(bus))
        await bus.flush()
        for consumer in consumers:
            await consumer.stop()
    finally:
        await bus.close()


async def test_the_tool_worker_starts_as_its_user(
    secure_server: SecureBus, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pagi.bus")
    workers: list[ToolWorker] = []

    async def routes(bus: Bus) -> Sequence[Route]:
        workers.append(await open_tool_worker(bus, tool_settings(state_dir)))  # publishes the built-ins' records
        return workers[0].routes

    await start_and_stop_as(secure_server, "tool", "tool_worker", routes)
    await workers[0].close()
    assert refusals(caplog) == []


async def test_the_build_worker_starts_as_its_user(
    secure_server: SecureBus, state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pagi.bus")
    settings = BuildSettings.model_validate(sandbox_env(state_dir))
    await start_and_stop_as(secure_server, "build", "build_worker", lambda bus: build_routes(bus, settings))
    assert refusals(caplog) == []


async def test_the_edge_starts_as_its_user(secure_server: SecureBus, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pagi.bus")
    app = make_app(EdgeSettings(), bus_settings=BusSettings(NATS_URL=secure_server.url("edge")))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/v1/tools")  # the tool registry, read through the bus
        assert response.status == 200, await response.text()
    assert refusals(caplog) == []


async def test_the_edges_tail_follows_a_session_and_changes_filters_as_its_user(
    secure_server: SecureBus, caplog: pytest.LogCaptureFixture
) -> None:
    """The ordered tail (live chat, SSE) names its consumer, so the edge needs no unnamed create."""
    caplog.set_level(logging.WARNING, logger="pagi.bus")
    edge = await Bus.connect(secure_server.url("edge"), "edge", connect_timeout_s=5)
    seen: list[int] = []

    async def on_event(seq: int, event: Envelope[Any]) -> None:
        seen.append(seq)

    tail = Tail(edge, st.EVENTS.name, ["chat.in.tail-a"], on_event)
    try:
        await tail.start("new")
        first = await edge.publish(Envelope(type="chat.in", session_id="tail-a", body=ChatIn(message="one")))
        await eventually(lambda: first in seen, 10, 0.02, "the tail delivering chat.in.tail-a")
        await tail.set_filters(["chat.in.tail-a", "chat.in.tail-b"])
        second = await edge.publish(Envelope(type="chat.in", session_id="tail-b", body=ChatIn(message="two")))
        await eventually(lambda: second in seen, 10, 0.02, "the tail delivering chat.in.tail-b")
    finally:
        await tail.stop()
        await edge.close()
    assert refusals(caplog) == []


def start_agent(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    # To a file: a pipe nobody reads could block a chatty child.
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "telemetry_agent", "--host-id", HOST_ID], env=env, stdout=log, stderr=log
        )


async def test_the_telemetry_agent_runs_as_its_user(secure_server: SecureBus, tmp_path: Path) -> None:
    """`python -m telemetry_agent` as the telemetry user: it finds its stream, publishes samples for
    its own host, and is refused nothing."""
    log_path = tmp_path / "telemetry.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "PAGI_", "OTEL_"))},
        "NATS_URL": secure_server.url("telemetry"),
        "TELEMETRY_INTERVAL_MS": "200",
        "PAGI_METRICS_PORT": "off",
    }
    proc = start_agent(env, log_path)
    operator = await Bus.connect(secure_server.url("operator"), "test-operator", connect_timeout_s=5)
    try:

        async def sampled() -> bool:
            assert proc.poll() is None, log_path.read_text()
            state = await operator.stream_state(st.TELEMETRY.name)
            return state is not None and state.messages >= 2

        assert await eventually(sampled, 30, 0.1, "two telemetry samples stored")
    finally:
        await operator.close()
        proc.terminate()
        proc.wait(15)
    logged = log_path.read_text()
    assert "refused" not in logged and "Violation" not in logged, logged
