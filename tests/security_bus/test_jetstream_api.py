"""Each service user's forbidden JetStream API calls, with its real credentials against a nats-server
running the generated nats.conf. Every case is read from the permission table (pagi/nats_users.py)
and the topology (bus_schemas.streams), so a new bucket, stream or service is covered as it is added.

The cases the issue found: the tool worker's user purged `KV_pagi_done` (the exactly-once ledger) and
cut `PAGI_EVENTS` to 3 messages; every service could update every stream; the tool worker could read
`memory.result.>`. And two found on the way: a writer of any one key could purge a whole bucket with
a `Nats-Rollup: all` header, and a reader of PAGI_EVENTS could pull, delete or re-point another
service's durable consumer.
"""

from __future__ import annotations

import json
from typing import Final

import nats.errors
import nats.js.errors
import pytest
from nats.js import api

from bus_schemas import streams as st
from pagi.bus._topology import topology_names
from pagi.nats_users import OPERATOR, User, users

from .conftest import HOST_ID, SecureBus, UserClient
from .test_permissions import ConnectAs, concrete, kv_writes

SERVICE_USERS: Final = [u for u in users() if u.service is not None]
TOPOLOGY: Final = topology_names()
# What changes a stream's configuration or contents wholesale. Nobody but the operator may.
STREAM_CHANGES: Final = ("STREAM.CREATE", "STREAM.UPDATE", "STREAM.DELETE", "STREAM.PURGE", "STREAM.MSG.DELETE")
# The one wholesale right a service holds, and why: nats-py's object store purges a replaced object's
# old chunks by subject (and a failed put's), so the build worker, which stores artifacts, needs it.
# nats-py's object store purges a failed put's chunks: the writers of the two object stores.
ALLOWED_CHANGES: Final = {
    ("build", "STREAM.PURGE", "OBJ_pagi_artifacts"),
    ("edge", "STREAM.PURGE", "OBJ_pagi_documents"),
}
ROLLUP_ALL: Final = {"Nats-Rollup": "all"}
REFUSED: Final = (nats.errors.TimeoutError, nats.errors.NoRespondersError)


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching (`*` one token, `>` the rest)."""
    want, got = pattern.split("."), subject.split(".")
    if want[-1] == ">":
        return len(got) >= len(want) and all(w in ("*", g) for w, g in zip(want[:-1], got, strict=False))
    return len(want) == len(got) and all(w in ("*", g) for w, g in zip(want, got, strict=True))


def allowed_publish(user: User) -> list[str]:
    return [*user.publish, *(f"telemetry.host.{HOST_ID}" for _ in user.publish_vars)]


def may_publish(user: User, subject: str) -> bool:
    allowed = any(matches(p, subject) for p in allowed_publish(user))
    return allowed and not any(matches(d, subject) for d in user.deny_publish)


async def refused_all(client: UserClient, subjects: list[str]) -> None:
    await client.nc.flush()
    for subject in subjects:
        assert "publish" in (await client.refusals.wait_for(subject)).lower(), subject


def test_no_user_may_create_an_unnamed_consumer_where_a_durable_lives() -> None:
    with_durables = {spec.stream for u in users() for spec in u.durables}
    assert with_durables
    unnamed = {stream: f"$JS.API.CONSUMER.CREATE.{stream}" for stream in with_durables}
    granted = [(u.name, s) for u in SERVICE_USERS for s, subject in unnamed.items() if may_publish(u, subject)]
    assert granted == []


def test_only_the_operator_may_change_a_stream_and_only_the_artifacts_purge_is_granted() -> None:
    granted = {
        (user.name, op, stream)
        for user in SERVICE_USERS
        for op in STREAM_CHANGES
        for stream in TOPOLOGY
        if may_publish(user, f"$JS.API.{op}.{stream}")
    }
    assert granted == ALLOWED_CHANGES


@pytest.mark.parametrize("user", SERVICE_USERS, ids=lambda u: u.name)
async def test_no_service_may_create_update_delete_or_purge_any_stream(
    connect_as: ConnectAs, secure_server: SecureBus, user: User
) -> None:
    client = await connect_as(user.name)
    subjects = [
        f"$JS.API.{op}.{stream}"
        for op in STREAM_CHANGES
        for stream in TOPOLOGY
        if (user.name, op, stream) not in ALLOWED_CHANGES
    ]
    for subject in subjects:
        await client.nc.publish(subject, b'{"name": "x"}', reply=client.nc.new_inbox())
    await refused_all(client, subjects)


@pytest.mark.parametrize("user", SERVICE_USERS, ids=lambda u: u.name)
async def test_no_service_publishes_what_only_another_may(connect_as: ConnectAs, user: User) -> None:
    """Every subject another user may publish (and every durable denied to this one), tried by this
    user: each refused unless its own table entry allows it. Telemetry: nothing beyond its subject."""
    others = [x for u in users() if u.name not in (user.name, OPERATOR) for x in allowed_publish(u)]
    candidates = sorted({concrete(x) for x in (*others, *user.deny_publish)})
    forbidden = [subject for subject in candidates if not may_publish(user, subject)]
    assert forbidden, "every user is refused something"
    client = await connect_as(user.name)
    for subject in forbidden:
        await client.nc.publish(subject, b"{}", reply=client.nc.new_inbox())
    await refused_all(client, forbidden)


@pytest.mark.parametrize("user", SERVICE_USERS, ids=lambda u: u.name)
async def test_no_service_subscribes_where_only_another_may(connect_as: ConnectAs, user: User) -> None:
    others = {concrete(x) for u in users() if u.name not in (user.name, OPERATOR) for x in u.subscribe}
    forbidden = sorted(x for x in others if not any(matches(p, x) for p in user.subscribe))
    client = await connect_as(user.name)
    for subject in forbidden:
        await client.nc.subscribe(subject)
    await client.nc.flush()
    for subject in forbidden:
        assert "subscription" in (await client.refusals.wait_for(subject)).lower(), subject


async def test_telemetry_sees_no_stream_but_its_own(connect_as: ConnectAs) -> None:
    client = await connect_as("telemetry")
    js = client.nc.jetstream(timeout=1.0)
    with pytest.raises(REFUSED):
        await js.stream_info(st.EVENTS.name)
    await client.refusals.wait_for(f"$JS.API.STREAM.INFO.{st.EVENTS.name}")
    assert (await js.stream_info(st.TELEMETRY.name)).config.name == st.TELEMETRY.name
    ack = await js.publish(f"telemetry.host.{HOST_ID}", b"{}")
    assert ack.stream == st.TELEMETRY.name


async def test_the_tool_worker_can_neither_purge_the_ledger_nor_cut_the_events_stream(
    connect_as: ConnectAs, secure_server: SecureBus
) -> None:
    """The two attacks the issue ran, with nats-py's own calls, and the stream state checked after."""
    operator = await connect_as(OPERATOR)
    ojs = operator.nc.jetstream(timeout=5.0)
    ledger = await ojs.key_value(st.DONE.bucket)
    await ledger.put("tool.r-1", b'{"state": "done"}')
    await ledger.put("build.r-2", b'{"state": "done"}')
    await ojs.publish("chat.in.s-keep", b"{}")
    before = await ojs.stream_info(st.EVENTS.name)

    tool = await connect_as("tool")
    js = tool.nc.jetstream(timeout=1.0)
    with pytest.raises(REFUSED):
        await js.purge_stream(f"KV_{st.DONE.bucket}")
    await tool.refusals.wait_for(f"$JS.API.STREAM.PURGE.KV_{st.DONE.bucket}")
    with pytest.raises(REFUSED):
        await js.delete_msg(f"KV_{st.DONE.bucket}", 1)
    cut = before.config.evolve(max_msgs=3)
    with pytest.raises(REFUSED):
        await js.update_stream(cut)
    await tool.refusals.wait_for(f"$JS.API.STREAM.UPDATE.{st.EVENTS.name}")

    assert (await ledger.get("tool.r-1")).value == b'{"state": "done"}'
    assert (await ledger.get("build.r-2")).value == b'{"state": "done"}'
    after = await ojs.stream_info(st.EVENTS.name)
    assert after.config.max_msgs == before.config.max_msgs
    assert after.state.messages == before.state.messages


@pytest.mark.parametrize(
    ("user", "bucket"),
    [(u, b) for u in SERVICE_USERS for b in st.KV_BUCKETS if kv_writes(u, b)],
    ids=lambda x: x.name if isinstance(x, User) else x.bucket,
)
async def test_a_key_writer_cannot_roll_up_a_whole_bucket(
    connect_as: ConnectAs, secure_server: SecureBus, user: User, bucket: st.KVSpec
) -> None:
    """`Nats-Rollup: all` on a key the user may write would purge every key of the bucket: the
    bootstrap creates the buckets refusing roll-ups, so the write right is only a write right."""
    operator = await connect_as(OPERATOR)
    kept = await operator.nc.jetstream(timeout=5.0).key_value(bucket.bucket)
    await kept.put("someone-else.kept", b"still here")
    client = await connect_as(user.name)
    key = concrete(kv_writes(user, bucket)[0])
    with pytest.raises(nats.js.errors.APIError, match="rollup not permitted"):
        await client.nc.jetstream(timeout=5.0).publish(
            f"$KV.{bucket.bucket}.{key}", b"", headers={"Nats-Rollup": "all"}
        )
    assert (await kept.get("someone-else.kept")).value == b"still here"


async def test_a_stream_reader_cannot_take_over_another_services_durable(
    connect_as: ConnectAs, secure_server: SecureBus
) -> None:
    """The edge may create consumers of any name on PAGI_EVENTS (its history reads): not one named as
    the planner's durable, nor pull from, nor delete it."""
    planner_durable = st.PLANNER_CHAT_IN  # created by the bootstrap
    planner = await connect_as("planner")
    pjs = planner.nc.jetstream(timeout=5.0)
    edge = await connect_as("edge")
    js = edge.nc.jetstream(timeout=1.0)
    name = planner_durable.durable
    hijack = api.ConsumerConfig(name=name, filter_subject="memory.store.*", ack_policy=api.AckPolicy.EXPLICIT)
    with pytest.raises(REFUSED):
        await js.add_consumer(st.EVENTS.name, hijack)
    await edge.refusals.wait_for(f"$JS.API.CONSUMER.CREATE.{st.EVENTS.name}.{name}.memory.store.*")
    with pytest.raises(REFUSED):
        await js.delete_consumer(st.EVENTS.name, name)
    await edge.refusals.wait_for(f"$JS.API.CONSUMER.DELETE.{st.EVENTS.name}.{name}")
    await edge.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{st.EVENTS.name}.{name}", b"1", reply=edge.nc.new_inbox())
    await refused_all(edge, [f"$JS.API.CONSUMER.MSG.NEXT.{st.EVENTS.name}.{name}"])
    # Nor the unnamed create, where the name travels only in the request body and the server would
    # replace the durable of that name: no user has it on a stream with durables.
    unnamed = f"$JS.API.CONSUMER.CREATE.{st.EVENTS.name}"
    body = {"stream_name": st.EVENTS.name, "config": {"name": name, "filter_subject": "memory.store.*"}}
    for client in (edge, planner):
        await client.nc.publish(unnamed, json.dumps(body).encode(), reply=client.nc.new_inbox())
        await refused_all(client, [unnamed])
    info = await pjs.consumer_info(st.EVENTS.name, name)
    assert info.config.filter_subjects == list(planner_durable.filter_subjects)


@pytest.mark.parametrize(
    ("user", "spec"),
    [(u, d) for u in SERVICE_USERS for d in u.durables],
    ids=lambda x: x.name if isinstance(x, User) else x.durable,
)
async def test_no_service_may_create_change_or_delete_even_its_own_durable(
    connect_as: ConnectAs, secure_server: SecureBus, user: User, spec: st.ConsumerSpec
) -> None:
    """The bootstrap creates every durable as specified: a service re-pointing its own at memory or
    chat, or deleting it (its acks lost, the whole stream delivered again), is refused."""
    client = await connect_as(user.name)
    js = client.nc.jetstream(timeout=1.0)
    repointed = api.ConsumerConfig(name=spec.durable, durable_name=spec.durable, filter_subject="memory.store.*")
    with pytest.raises(REFUSED):
        await js.add_consumer(spec.stream, repointed)
    await client.refusals.wait_for(f"$JS.API.CONSUMER.CREATE.{spec.stream}.{spec.durable}.memory.store.*")
    several = api.ConsumerConfig(name=spec.durable, filter_subjects=["memory.store.*", "chat.in.*"])
    with pytest.raises(REFUSED):
        await js.add_consumer(spec.stream, several)
    await client.refusals.wait_for(f"$JS.API.CONSUMER.CREATE.{spec.stream}.{spec.durable}")
    with pytest.raises(REFUSED):
        await js.delete_consumer(spec.stream, spec.durable)
    await client.refusals.wait_for(f"$JS.API.CONSUMER.DELETE.{spec.stream}.{spec.durable}")
    info = await js.consumer_info(spec.stream, spec.durable)  # what it may: look it up
    assert tuple(info.config.filter_subjects or [info.config.filter_subject]) == spec.filter_subjects
