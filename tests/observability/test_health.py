"""/health says whether PAGI is whole: it turns unhealthy when a service stops or goes silent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import heartbeat as hb
from bus_schemas.streams import TOOLS
from bus_schemas.tool import SANDBOX_STATUS_KEY, SandboxStatus
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from pagi.heartbeat import Heartbeater
from pagi.service import no_routes
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService
from tool_worker.service import ToolWorker

from .conftest import ServiceStarter

Client = TestClient[web.Request, web.Application]
Health = dict[str, Any]


async def health_until(edge: Client, predicate: Callable[[int, Health], bool], timeout: float = 10.0) -> Health:
    """Poll /health (bounded) until `predicate(status, body)` holds."""
    last: tuple[int, Health] = (0, {})

    async def until() -> Health:
        nonlocal last
        while True:
            response = await edge.get("/health")
            last = (response.status, await response.json())
            if predicate(*last):
                return last[1]
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(until(), timeout)
    except TimeoutError:
        raise AssertionError(f"/health never matched; last: {last}") from None


def service(body: Health, name: str) -> Health:
    entry: Health = body["services"].get(name, {})
    return entry


async def test_a_stopped_service_turns_health_unhealthy(edge: Client, run_service: ServiceStarter) -> None:
    planner = PlannerService()
    running = await run_service("planner", planner.routes)
    body = await health_until(edge, lambda status, b: status == 200 and service(b, "planner").get("status") == "up")
    [instance] = service(body, "planner")["instances"]
    assert "planner-chat-in" in instance["consumers"]
    assert instance["consumers"]["planner-chat-in"]["pending"] >= 0
    assert body["bus"]["connected"] is True and body["bus"]["events_stream"]["messages"] >= 0

    running.stopping.set()  # a clean stop says goodbye: unhealthy at once, not after missed heartbeats
    body = await health_until(edge, lambda status, b: status == 503)
    assert body["status"] == "degraded"
    assert service(body, "planner")["status"] == "down"
    assert any(p.startswith("planner: no live instance") for p in body["problems"])
    await planner.close()


async def test_a_silent_service_is_down_after_missed_heartbeats(edge: Client, run_service: ServiceStarter) -> None:
    running = await run_service("sampler", no_routes)
    await health_until(edge, lambda status, b: status == 200 and service(b, "sampler").get("status") == "up")
    running.task.cancel()  # killed without a goodbye: the heartbeats just stop
    body = await health_until(edge, lambda status, b: status == 503)
    assert service(body, "sampler")["status"] == "down"


@pytest.fixture
async def strict_edge(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_REQUIRED_SERVICES", "planner, tool_worker")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_required_services_never_seen_are_reported(strict_edge: Client) -> None:
    response = await strict_edge.get("/health")
    body = await response.json()
    assert response.status == 503
    assert "tool_worker: required, never heard from" in body["problems"]
    assert service(body, "planner")["status"] == "down"


async def test_memory_store_sandbox_and_metric_targets_come_from_the_workers(edge: Client, bus: Bus) -> None:
    memory = Heartbeater(
        bus,
        "memory_worker",
        interval_s=0.2,
        metrics_url="http://127.0.0.1:9464/metrics",
        details={hb.MEMORY_STORE: "/data/pagi/memory", hb.MEMORY_STORE_OK: True},
    )
    await memory.start()
    sandbox = SandboxStatus(isolation="none", require_sandbox=False, warning="bwrap not found")
    await (await bus.kv(TOOLS)).put(SANDBOX_STATUS_KEY, sandbox.model_dump_json().encode())
    try:
        body = await health_until(edge, lambda status, b: service(b, "memory_worker").get("status") == "up")
        assert body["memory_store"] == {"status": "up", "location": "/data/pagi/memory"}
        assert body["sandbox"]["mode"] == "none" and body["sandbox"]["warning"] == "bwrap not found"
        targets = await (await edge.get("/v1/metrics/targets")).json()
        assert {
            "targets": ["127.0.0.1:9464"],
            "labels": {"service": "memory_worker", "pagi_instance": memory.instance, "__metrics_path__": "/metrics"},
        } in targets
    finally:
        await memory.stop()


async def test_the_edge_and_each_service_answer_micro_discovery(
    edge: Client, run_service: ServiceStarter, nats_server: NatsServer
) -> None:
    """What `nats micro info` sends, from a plain nats-py client: the edge and a service run through
    `pagi.service.serve` are micro services with the instance facts /health also shows."""
    await run_service("sampler", no_routes)
    body = await health_until(edge, lambda status, b: service(b, "sampler").get("status") == "up")
    [instance] = service(body, "sampler")["instances"]
    nc = await nats.connect(nats_server.url)
    try:
        for name, expected in (("sampler", instance["instance"]), ("edge", None)):
            info = json.loads((await nc.request(f"$SRV.INFO.{name}", b"", timeout=5)).data)
            assert info["type"] == "io.nats.micro.v1.info_response" and info["name"] == name
            assert info["metadata"]["host"] and int(info["metadata"]["pid"]) > 0
            if expected is not None:
                assert info["metadata"]["instance"] == expected
    finally:
        await nc.close()


async def test_health_says_which_sandbox_bounds_the_real_tool_worker_has_in_force(
    edge: Client, tool_worker: ToolWorker
) -> None:
    response = await edge.get("/health")
    sandbox = (await response.json())["sandbox"]
    assert sandbox["mode"] == "bwrap" and sandbox["source"] == "kv"
    # Root here: a host uid per session, nested user namespaces off, the syscall filter loaded.
    assert sandbox["seccomp"] is True and sandbox["userns_disabled"] is True
    assert sandbox["pids_scope"] == "session_uid"
    assert sandbox["free_bytes"] > 0
