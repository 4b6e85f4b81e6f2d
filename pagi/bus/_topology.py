"""The JetStream topology: streams, durable consumers, KV buckets and object stores, created from
their specs in `bus_schemas.streams`, and the state of streams and consumers for health pages.

Streams, buckets and object stores are created and updated by one bootstrap identity, the operator
(`pagi up`, `pagi init`: `ensure_topology`); services hold no right to change them (pagi/nats_users.py)
and only look them up (`wait_for_topology`, `kv`, `object_store`). Each service still creates its
own durable consumers, whose API subjects nats.conf pins to the service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import nats.js.errors
from nats.js import JetStreamContext, api

from bus_schemas.streams import (
    KV_BUCKETS,
    OBJECT_STORES,
    STREAMS,
    ConsumerSpec,
    KVSpec,
    ObjectStoreSpec,
    StreamSpec,
    replicas,
)

from ..stores import BlobStore, KVStore
from ._errors import LOOKUP_ERRORS, TRANSIENT_ERRORS, BusUnavailable

BOOTSTRAP_HINT = "run `pagi init` with the operator's NATS credentials, or start the stack with `pagi up`"


class TopologyMissing(BusUnavailable):
    """A stream, bucket or object store is not there: the bootstrap has not run (or not yet)."""


def topology_names() -> list[str]:
    """Every JetStream stream PAGI runs on, as the server names them (buckets are `KV_`/`OBJ_` streams)."""
    names = [spec.name for spec in STREAMS]
    names += [f"KV_{spec.bucket}" for spec in KV_BUCKETS]
    names += [f"OBJ_{spec.bucket}" for spec in OBJECT_STORES]
    return names


@dataclass(frozen=True)
class ConsumerState:
    num_pending: int
    num_ack_pending: int


@dataclass(frozen=True)
class StreamState:
    messages: int
    bytes: int
    first_seq: int
    last_seq: int


async def ensure_topology(js: JetStreamContext) -> None:
    """Create or update every stream, KV bucket and object store: the bootstrap, as the operator."""
    for stream in STREAMS:
        await ensure_stream(js, stream)
    for bucket in KV_BUCKETS:
        await ensure_kv(js, bucket)
    for store in OBJECT_STORES:
        await ensure_object_store(js, store)


async def missing_streams(js: JetStreamContext, names: Sequence[str]) -> list[str]:
    missing = []
    for name in names:
        try:
            await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            missing.append(name)
    return missing


async def wait_for_topology(
    js: JetStreamContext, names: Sequence[str] | None = None, timeout_s: float = 30.0, poll_s: float = 0.5
) -> None:
    """Return once every stream in `names` (default: all of PAGI's) exists; a service started before
    the bootstrap waits here, bounded, then fails saying what to run."""
    wanted = list(names) if names is not None else topology_names()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            missing = await missing_streams(js, wanted)
        except TRANSIENT_ERRORS:
            missing = wanted
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise TopologyMissing(f"not on the bus after {timeout_s:g} s: {', '.join(missing)}; {BOOTSTRAP_HINT}")
        await asyncio.sleep(poll_s)


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    config = api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        max_age=spec.max_age_s,
        max_msgs_per_subject=spec.max_msgs_per_subject,
        duplicate_window=spec.duplicate_window_s,
        max_msg_size=spec.max_msg_size,
        discard=api.DiscardPolicy.OLD,
        num_replicas=replicas(),
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    single = len(spec.filter_subjects) == 1
    config = api.ConsumerConfig(
        # Named: a consumer with one filter is then created on a subject that carries the filter
        # (the server checks they agree), so nats.conf can pin a service's durable to its subject.
        name=spec.durable,
        durable_name=spec.durable,
        filter_subject=spec.filter_subjects[0] if single else None,
        filter_subjects=None if single else list(spec.filter_subjects),
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_wait=spec.ack_wait_s,
        max_ack_pending=spec.max_ack_pending,
        max_deliver=-1,
    )
    try:
        await js.add_consumer(spec.stream, config)
    except nats.js.errors.BadRequestError:
        # Exists with another configuration (e.g. filters changed in a new release): replace it.
        await js.delete_consumer(spec.stream, spec.durable)
        await js.add_consumer(spec.stream, config)


async def kv(js: JetStreamContext, spec: KVSpec) -> KVStore:
    """The bucket, looked up (never created: that is the bootstrap's)."""
    try:
        return KVStore(await js.key_value(spec.bucket))
    except nats.js.errors.BucketNotFoundError:
        raise TopologyMissing(f"no KV bucket {spec.bucket} on the bus; {BOOTSTRAP_HINT}") from None


async def ensure_kv(js: JetStreamContext, spec: KVSpec) -> None:
    try:
        await js.key_value(spec.bucket)
    except nats.js.errors.BucketNotFoundError:
        await js.create_key_value(
            bucket=spec.bucket,
            description=spec.description,
            history=spec.history,
            ttl=spec.ttl_s,
            replicas=replicas(),
        )
    info = await js.stream_info(f"KV_{spec.bucket}")
    if info.config.allow_rollup_hdrs:
        # nats-py creates buckets that accept roll-up headers: one `Nats-Rollup: all` published on any
        # key the writer may write purges the whole bucket (e.g. pagi_done, the exactly-once ledger).
        # PAGI never rolls up a key (deletes are markers), so the buckets refuse them.
        info.config.allow_rollup_hdrs = False
        await js.update_stream(info.config)


async def object_store(js: JetStreamContext, spec: ObjectStoreSpec) -> BlobStore:
    """The object store, looked up (never created: that is the bootstrap's)."""
    try:
        return BlobStore(await js.object_store(spec.bucket))
    except nats.js.errors.NotFoundError:
        raise TopologyMissing(f"no object store {spec.bucket} on the bus; {BOOTSTRAP_HINT}") from None


async def ensure_object_store(js: JetStreamContext, spec: ObjectStoreSpec) -> None:
    try:
        await js.object_store(spec.bucket)
    except nats.js.errors.NotFoundError:
        await js.create_object_store(bucket=spec.bucket, description=spec.description, replicas=replicas())


async def consumer_state(js: JetStreamContext, stream: str, durable: str) -> ConsumerState | None:
    """The consumer's lag (`num_pending`) and unacknowledged count, or None if it is not there."""
    try:
        info = await js.consumer_info(stream, durable, timeout=2.0)
    except LOOKUP_ERRORS:
        return None
    return ConsumerState(int(info.num_pending or 0), int(info.num_ack_pending or 0))


async def stream_state(js: JetStreamContext, stream: str) -> StreamState | None:
    try:
        info = await js.stream_info(stream)
    except LOOKUP_ERRORS:
        return None
    state = info.state
    return StreamState(int(state.messages), int(state.bytes), int(state.first_seq), int(state.last_seq))
