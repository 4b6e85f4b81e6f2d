"""Scale-out on real servers: a 3-node NATS cluster losing its stream leader under traffic, and two
copies of the planner sharing one durable consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest

from bus_schemas import Envelope
from bus_schemas.chat import ChatIn, ChatOut
from bus_schemas.streams import EVENTS, PLANNER_CHAT_IN, REPLICAS_ENV
from pagi.bus import TRANSIENT_ERRORS, Bus, Delivery, PullConsumer
from pagi.service import Route, start_routes
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService

from ..ports import free_ports
from ..support import eventually

NODES = 3
RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, nats.js.errors.Error)


@dataclass
class Cluster:
    servers: dict[str, NatsServer]

    @property
    def url(self) -> str:
        return ",".join(s.url for s in self.servers.values())


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    monkeypatch.setenv(REPLICAS_ENV, str(NODES))
    ports = free_ports(2 * NODES)
    client_ports, route_ports = ports[:NODES], ports[NODES:]
    routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in route_ports)
    servers: dict[str, NatsServer] = {}
    for i in range(NODES):
        name = f"n{i}"
        conf = tmp_path / f"{name}.conf"
        conf.write_text(
            f"server_name: {name}\n"
            "jetstream { max_memory_store: 64MB, max_file_store: 1GB, sync_interval: always }\n"
            f"cluster {{ name: pagi-test, listen: 127.0.0.1:{route_ports[i]}, routes: [{routes}] }}\n"
        )
        log = tmp_path / f"{name}.log"
        servers[name] = NatsServer(tmp_path / name, port=client_ports[i], config=conf, log_file=log)
    try:
        for server in servers.values():
            server.start()
        yield Cluster(servers)
    finally:
        for server in servers.values():
            server.stop(kill=True)


def through_failover(check: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    """`check` as a probe for `eventually`: a bus error while the cluster elects a leader means "not
    yet" (and is the last thing seen if it never holds), not a failure."""

    async def probe() -> bool:
        try:
            return await check()
        except RETRYABLE as exc:
            raise AssertionError(f"{type(exc).__name__}: {exc}") from exc

    return probe


def chat(i: int, session: str) -> Envelope[Any]:
    event: Envelope[Any] = Envelope(type="chat.in", session_id=session, body=ChatIn(message=f"message {i}"))
    return event.model_copy(update={"job_id": event.id})


async def stored(bus: Bus, subject: str) -> list[Envelope[Any]]:
    from bus_schemas import decode

    events = []
    async for message in bus.read_events(EVENTS.name, [subject]):
        events.append(decode(message.subject, message.data, message.headers, fallback_id=str(message.seq)))
    return events


async def final_answers(bus: Bus, session: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in await stored(bus, f"chat.out.{session}"):
        if isinstance(event.body, ChatOut) and event.body.is_final and event.job_id:
            counts[event.job_id] = counts.get(event.job_id, 0) + 1
    return counts


@pytest.fixture
async def cluster_bus(cluster: Cluster) -> AsyncIterator[Bus]:
    bus = await Bus.connect(cluster.url, "test-client", connect_timeout_s=10)

    async def topology() -> bool:
        await bus.ensure_topology()  # fails until the cluster has elected its JetStream leader
        return True

    await eventually(through_failover(topology), 20, 0.2, "JetStream cluster ready")
    yield bus
    await bus.close()


@pytest.mark.timeout(90)
async def test_killing_the_stream_leader_under_traffic_loses_no_acknowledged_message(
    cluster: Cluster, cluster_bus: Bus
) -> None:
    info = await cluster_bus.js.stream_info(EVENTS.name)
    assert info.config.num_replicas == NODES and len(info.cluster.replicas or []) == NODES - 1  # type: ignore[union-attr]

    planner_bus = await Bus.connect(cluster.url, "planner", connect_timeout_s=10)
    service = PlannerService()
    consumers = await start_routes(planner_bus, await service.routes(planner_bus))
    session = "cluster-a"
    acked: list[str] = []
    killed: str | None = None
    try:
        for i in range(60):
            event = chat(i, session)
            await cluster_bus.publish(event, retry_for_s=20)  # returns only once the stream acked it
            acked.append(event.id)
            if i == 20:
                leader = (await cluster_bus.js.stream_info(EVENTS.name)).cluster.leader  # type: ignore[union-attr]
                assert leader in cluster.servers
                cluster.servers[leader].stop(kill=True)
                killed = leader

        assert killed is not None

        async def all_stored_and_answered() -> bool:
            return set(acked) <= set(await final_answers(cluster_bus, session))

        await eventually(through_failover(all_stored_and_answered), 45, 0.2, "every job answered")
        ins = [e.id for e in await stored(cluster_bus, f"chat.in.{session}")]
        assert sorted(ins) == sorted(acked), "lost or duplicated acknowledged chat.in"
        new_leader = (await cluster_bus.js.stream_info(EVENTS.name)).cluster.leader  # type: ignore[union-attr]
        assert new_leader != killed
    finally:
        for consumer in consumers:
            await consumer.stop(drain_timeout_s=5)
        await service.close()
        await planner_bus.close()


def recording(routes: Sequence[Route], copy: str, seen: list[tuple[str, str]]) -> list[Route]:
    """The planner's own routes, its chat.in handler noting which copy handled which job."""
    wrapped = []
    for route in routes:
        if route.spec.durable != PLANNER_CHAT_IN.durable:
            wrapped.append(route)
            continue
        handler = route.handler

        async def noting(event: Envelope[Any], delivery: Delivery, handler: Any = handler) -> None:
            seen.append((copy, event.id))
            await handler(event, delivery)

        wrapped.append(Route(route.spec, noting, route.max_in_flight))
    return wrapped


async def test_two_planners_share_one_durable_and_split_the_work(bus: Bus, nats_server: NatsServer) -> None:
    seen: list[tuple[str, str]] = []
    copies: list[tuple[Bus, PlannerService, list[PullConsumer]]] = []
    for copy in ("a", "b"):
        copy_bus = await Bus.connect(nats_server.url, f"planner-{copy}", connect_timeout_s=10)
        service = PlannerService()
        routes = recording(await service.routes(copy_bus), copy, seen)
        copies.append((copy_bus, service, await start_routes(copy_bus, routes)))
    session = "split-a"
    try:
        jobs = []
        for i in range(60):
            event = chat(i, session)
            jobs.append(event.id)
            await bus.publish(event)

        async def all_answered() -> bool:
            return set(jobs) <= set(await final_answers(bus, session))

        await eventually(through_failover(all_answered), 40, 0.2, "every job answered")
        handled = [job for _, job in seen]
        assert sorted(handled) == sorted(jobs), "a job was handled twice, or not at all"
        by_copy = {copy: {job for c, job in seen if c == copy} for copy in ("a", "b")}
        assert by_copy["a"] and by_copy["b"], f"one copy did all the work: {[len(v) for v in by_copy.values()]}"
        assert all(count == 1 for count in (await final_answers(bus, session)).values())
    finally:
        for copy_bus, service, consumers in copies:
            for consumer in consumers:
                await consumer.stop(drain_timeout_s=5)
            await service.close()
            await copy_bus.close()
