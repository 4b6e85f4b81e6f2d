"""nats.conf's users against a real nats-server: each service can do its own work and nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.js import api

from bus_schemas import Envelope
from bus_schemas import streams as st
from bus_schemas.chat import ChatIn
from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryStore
from pagi.bus import Bus, Delivery, PullConsumer
from pagi.nats_users import User, render_conf, users

from ..support import eventually
from .conftest import HOST_ID, NATS_CONF, SecureBus, UserClient

ConnectAs = Callable[[str], Awaitable[UserClient]]


def test_nats_conf_is_the_rendered_permission_table() -> None:
    assert NATS_CONF.read_text() == render_conf(), "regenerate: python -m pagi.nats_users > nats.conf"


@pytest.fixture
async def topology(secure_server: SecureBus) -> None:
    """The operator's bootstrap already ran (the `secure_server` fixture): nothing more to set up."""


def concrete(pattern: str, token: str = "perm-probe") -> str:
    """A subject a pattern allows: each wildcard token replaced by a plain one."""
    return ".".join(token if part in ("*", ">") else part for part in pattern.split("."))


def kv_writes(user: User, spec: st.KVSpec) -> list[str]:
    """The keys (patterns) of `spec` the user may write, from its publish list."""
    prefix = f"$KV.{spec.bucket}."
    return [x[len(prefix) :] for x in user.publish if x.startswith(prefix)]


SERVICE_USERS: Final = [u for u in users() if u.service is not None]


@pytest.mark.parametrize("user", SERVICE_USERS, ids=lambda u: u.name)
async def test_every_service_sets_up_its_consumers_and_buckets_without_a_refusal(
    secure_server: SecureBus, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    """What each service's table entry says it uses (durables, buckets it reads, keys it writes,
    deletes included) works as its user, with no refusal: the table is not narrower than the code."""
    caplog.set_level(logging.WARNING, logger="pagi.bus")
    assert user.service is not None
    bus = await Bus.connect(secure_server.url(user.name), user.service, connect_timeout_s=5)
    try:
        await bus.wait_for_topology(timeout_s=5)  # its streams are there: the bootstrap's
        for spec in user.durables:
            await bus.ensure_consumer(spec)
            assert await bus.consumer_state(spec.stream, spec.durable) is not None
        for bucket in st.KV_BUCKETS:
            if f"KV_{bucket.bucket}" not in user.stream_names:
                continue
            kv = await bus.kv(bucket)
            await kv.keys()
            for pattern in kv_writes(user, bucket):
                key = concrete(pattern)
                await kv.put(key, b"written")
                assert await kv.get(key) is not None
                await kv.delete(key)  # a delete marker on the key's own subject: no purge right needed
                assert await kv.get(key) is None
        await bus.nc.flush()
    finally:
        await bus.close()
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == []


async def test_save_to_memory_from_the_edge_reaches_the_memory_worker(secure_server: SecureBus, topology: None) -> None:
    """POST /v1/memory sends `memory.store.<session>` as the edge's user: it must be allowed to."""
    edge = await Bus.connect(secure_server.url("edge"), "edge", connect_timeout_s=5)
    memory = await Bus.connect(secure_server.url("memory"), "memory_worker", connect_timeout_s=5)
    got: asyncio.Future[Envelope[Any]] = asyncio.get_running_loop().create_future()

    async def handle(event: Envelope[Any], delivery: Delivery) -> None:
        if not got.done():
            got.set_result(event)

    consumer = PullConsumer(memory, st.MEMORY_WORKER, handle)
    try:
        await consumer.start()
        store = MemoryStore(request_id="save-1", text="the edge may save what a person chose to keep")
        await edge.publish(Envelope(type="memory.store", session_id="perm-m", body=store), retry_for_s=2)
        event = await asyncio.wait_for(got, 10)
        assert event.body.request_id == "save-1"
    finally:
        await consumer.stop()
        await memory.close()
        await edge.close()


async def test_planner_pulls_and_acks_its_own_consumer(secure_server: SecureBus, topology: None) -> None:
    edge = await Bus.connect(secure_server.url("edge"), "edge", connect_timeout_s=5)
    planner = await Bus.connect(secure_server.url("planner"), "planner", connect_timeout_s=5)
    got: asyncio.Future[Envelope[Any]] = asyncio.get_running_loop().create_future()

    async def handle(event: Envelope[Any], delivery: Delivery) -> None:
        if not got.done():
            got.set_result(event)

    consumer = PullConsumer(planner, st.PLANNER_CHAT_IN, handle)
    try:
        await consumer.start()
        await edge.publish(Envelope(type="chat.in", session_id="perm-a", body=ChatIn(message="hello")))
        event = await asyncio.wait_for(got, 10)
        assert event.body.message == "hello"
        await consumer.stop()

        async def settled() -> Any:
            # The ack is processed by the server after the handler returned, and no event says so.
            state = await planner.consumer_state(st.EVENTS.name, st.PLANNER_CHAT_IN.durable)
            return state if state is not None and state.num_ack_pending == 0 and state.num_pending == 0 else None

        assert await eventually(settled, 5, 0.05, "the planner's ack processed") is not None
    finally:
        await planner.close()
        await edge.close()


@pytest.mark.parametrize(
    ("user", "subject"),
    [
        ("tool", "chat.out.s1"),  # the tool worker cannot answer the user
        ("tool", "memory.store.s1"),
        ("tool", "build.req.s1"),
        ("tool", "$KV.pagi_twins.orchestrator"),  # nor change a twin's policy
        ("edge", "tool.run.s1"),  # the edge cannot run a tool past the planner's approval
        ("edge", "build.req.s1"),
        ("edge", "memory.query.s1"),
        ("edge", "chat.out.s1"),
        ("memory", "tool.run.s1"),
        ("memory", "chat.out.s1"),
        ("build", "tool.run.s1"),
        ("build", "chat.out.s1"),
        ("planner", "chat.in.s1"),
        ("planner", "tool.result.s1"),
        ("planner", f"telemetry.host.{HOST_ID}"),
        ("telemetry", "telemetry.host.another-host"),  # only its own host
        ("telemetry", "chat.in.s1"),
        ("telemetry", "$KV.pagi_twins.x"),
        ("tool", "pagi.heartbeat.planner.x"),  # no service can pass for another in /health
        ("tool", "memory.query.s1"),  # its memory questions go by request/reply (api.memory.session)
        ("tool", "api.memory"),  # not the edge's API: no delete, no list, no other session's search
        ("edge", "api.memory.session"),
    ],
)
async def test_forbidden_publish_is_refused(connect_as: ConnectAs, user: str, subject: str) -> None:
    client = await connect_as(user)
    await client.nc.publish(subject, b"{}")
    await client.nc.flush()
    assert "publish" in (await client.refusals.wait_for(subject)).lower()


@pytest.mark.parametrize(
    ("user", "subject"),
    [
        ("tool", "memory.store.*"),  # the tool worker cannot read memory being written
        ("tool", "chat.in.*"),
        ("tool", "_INBOX_planner.>"),  # nor another service's replies and pull deliveries
        ("tool", "_INBOX.>"),
        ("edge", "tool.run.*"),
        ("memory", "tool.result.*"),
        ("build", "memory.result.*"),
        ("telemetry", ">"),
        ("planner", "_INBOX_edge.>"),
        ("tool", "$SRV.INFO.planner"),  # no service can answer micro discovery as another
        ("tool", "$SRV.>"),
        ("tool", "memory.result.>"),  # no memory answers meant for the planner
        ("tool", "memory.result.*"),
        ("tool", "api.memory.session"),  # nor answer the memory worker's endpoint
    ],
)
async def test_forbidden_subscribe_is_refused(connect_as: ConnectAs, user: str, subject: str) -> None:
    client = await connect_as(user)
    await client.nc.subscribe(subject)
    await client.nc.flush()
    assert "subscription" in (await client.refusals.wait_for(subject)).lower()


async def test_tool_worker_cannot_read_memory_through_jetstream(connect_as: ConnectAs, topology: None) -> None:
    """A consumer of its own filtered to memory, or a message fetched by sequence: both refused."""
    client = await connect_as("tool")
    js = client.nc.jetstream(timeout=1.0)
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
        await js.add_consumer(st.EVENTS.name, api.ConsumerConfig(filter_subject="memory.store.*"))
    assert await client.refusals.wait_for(f"$JS.API.CONSUMER.CREATE.{st.EVENTS.name}")
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
        await js.get_msg(st.EVENTS.name, 1)
    assert await client.refusals.wait_for(f"$JS.API.STREAM.MSG.GET.{st.EVENTS.name}")


async def test_allowed_publishes_are_stored(connect_as: ConnectAs, topology: None) -> None:
    for user, subject in [
        ("telemetry", f"telemetry.host.{HOST_ID}"),
        ("edge", "chat.in.s2"),
        ("planner", "tool.run.s2"),
        ("tool", "tool.result.s2"),
        ("memory", "memory.result.s2"),
        ("build", "build.result.s2"),
    ]:
        client = await connect_as(user)
        ack = await client.nc.jetstream(timeout=5.0).publish(subject, b"{}")
        assert ack.seq > 0, (user, subject)
        assert client.refusals.messages == [], (user, subject)


async def test_no_password_no_connection(secure_server: SecureBus) -> None:
    with pytest.raises(nats.errors.Error):
        await nats.connect(secure_server.server.url, allow_reconnect=False, max_reconnect_attempts=0)
    wrong = secure_server.url("edge").replace("edge:", "edge:x", 1)
    with pytest.raises(nats.errors.Error):
        await nats.connect(wrong, allow_reconnect=False, max_reconnect_attempts=0)


def test_passwords_file_is_private_and_stable(tmp_path: Path) -> None:
    from pagi.credentials import PASSWORDS_FILE, load_or_create

    first = load_or_create(tmp_path)
    assert (tmp_path / PASSWORDS_FILE).stat().st_mode & 0o777 == 0o600
    assert load_or_create(tmp_path) == first
    assert len(set(first.values())) == len(first)


async def test_edge_asks_the_memory_worker_and_reads_the_last_telemetry_sample(
    secure_server: SecureBus, topology: None
) -> None:
    memory = await Bus.connect(secure_server.url("memory"), "memory_worker", connect_timeout_s=5)
    edge = await Bus.connect(secure_server.url("edge"), "edge", connect_timeout_s=5)
    telemetry = await Bus.connect(secure_server.url("telemetry"), "telemetry_agent", connect_timeout_s=5)
    try:
        # api.memory: the memory worker answers on the edge's own inbox (allow_responses).
        async def answer(msg: Any) -> None:
            await msg.respond(b'{"ok": true}')

        await memory.nc.subscribe(MEMORY_API_SUBJECT, queue="memory_worker", cb=answer)
        await memory.nc.flush()
        reply = await edge.nc.request(MEMORY_API_SUBJECT, b"{}", timeout=5)
        assert reply.data == b'{"ok": true}'
        await telemetry.nc.jetstream().publish(f"telemetry.host.{HOST_ID}", b'{"cpu": 1}')
        last = await edge.js.get_last_msg(st.TELEMETRY.name, f"telemetry.host.{HOST_ID}")
        assert last.data == b'{"cpu": 1}'
    finally:
        for bus in (memory, edge, telemetry):
            await bus.close()


async def test_build_worker_stores_artifacts_the_tool_worker_only_reads_them(
    secure_server: SecureBus, topology: None
) -> None:
    build = await Bus.connect(secure_server.url("build"), "build_worker", connect_timeout_s=5)
    tool = await Bus.connect(secure_server.url("tool"), "tool_worker", connect_timeout_s=5)
    try:
        stored = await build.js.object_store(st.ARTIFACTS.bucket)
        await stored.put("tool-a-1", b"artifact bytes")
        readable = await tool.js.object_store(st.ARTIFACTS.bucket)
        assert (await readable.get("tool-a-1")).data == b"artifact bytes"
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.Error)):
            await readable.put("tool-b-1", b"forged")
    finally:
        await build.close()
        await tool.close()


async def test_tool_worker_cannot_point_its_durable_at_memory(connect_as: ConnectAs, topology: None) -> None:
    client = await connect_as("tool")
    js = client.nc.jetstream(timeout=1.0)
    durable = st.TOOL_WORKER.durable
    hijack = api.ConsumerConfig(name=durable, durable_name=durable, filter_subject="memory.store.*")
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
        await js.add_consumer(st.EVENTS.name, hijack)
    assert await client.refusals.wait_for(f"$JS.API.CONSUMER.CREATE.{st.EVENTS.name}.{durable}.memory.store.*")
    legacy = api.ConsumerConfig(durable_name=durable, filter_subjects=["memory.store.*"])
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
        await js.add_consumer(st.EVENTS.name, legacy)
    assert await client.refusals.wait_for(f"$JS.API.CONSUMER.DURABLE.CREATE.{st.EVENTS.name}.{durable}")
