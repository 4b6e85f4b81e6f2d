"""The JetStream topology: streams, durable consumers, KV buckets and object stores, created from
their specs in `bus_schemas.streams`, and the state of streams and consumers for health pages."""

from __future__ import annotations

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
from ._errors import LOOKUP_ERRORS


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
    """Create or update every stream, KV bucket and object store. Safe to run from every service."""
    for stream in STREAMS:
        await ensure_stream(js, stream)
    for bucket in KV_BUCKETS:
        await kv(js, bucket)
    for store in OBJECT_STORES:
        await object_store(js, store)


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
    try:
        bucket = await js.key_value(spec.bucket)
    except nats.js.errors.BucketNotFoundError:
        bucket = await js.create_key_value(
            bucket=spec.bucket,
            description=spec.description,
            history=spec.history,
            ttl=spec.ttl_s,
            replicas=replicas(),
        )
    return KVStore(bucket)


async def object_store(js: JetStreamContext, spec: ObjectStoreSpec) -> BlobStore:
    try:
        store = await js.object_store(spec.bucket)
    except nats.js.errors.NotFoundError:
        store = await js.create_object_store(bucket=spec.bucket, description=spec.description, replicas=replicas())
    return BlobStore(store)


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
