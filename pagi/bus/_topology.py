"""The JetStream topology: streams, durable consumers, KV buckets and object stores, created from
their specs in `bus_schemas.streams`, and the state of streams and consumers for health pages.

Streams, buckets, object stores and the services' durable consumers are created and updated by one
bootstrap identity, the operator (`pagi up`, `pagi init`: `ensure_topology`); services hold no right
to change them (pagi/nats_users.py) and only look them up (`wait_for_topology`, `kv`, `object_store`,
`ensure_consumer` finding its durable as specified)."""

from __future__ import annotations

import asyncio
import logging
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

log = logging.getLogger("pagi.bus")
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


async def ensure_topology(js: JetStreamContext, durables: Sequence[ConsumerSpec] = ()) -> None:
    """Create or update every stream, KV bucket and object store, and `durables`: the bootstrap, as
    the operator."""
    for stream in STREAMS:
        await ensure_stream(js, stream)
    for bucket in KV_BUCKETS:
        await ensure_kv(js, bucket)
    for store in OBJECT_STORES:
        await ensure_object_store(js, store)
    for spec in durables:
        await ensure_consumer(js, spec)


async def missing_parts(js: JetStreamContext, names: Sequence[str], durables: Sequence[ConsumerSpec]) -> list[str]:
    missing = []
    for name in names:
        try:
            await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            missing.append(name)
    for spec in durables:
        if spec.stream not in missing and await _consumer_config(js, spec) is None:
            missing.append(f"consumer {spec.durable} on {spec.stream}")
    return missing


async def wait_for_topology(
    js: JetStreamContext,
    names: Sequence[str] | None = None,
    timeout_s: float = 30.0,
    durables: Sequence[ConsumerSpec] = (),
    poll_s: float = 0.5,
) -> None:
    """Return once every stream in `names` (default: all of PAGI's) and every durable in `durables`
    exists; a service started before the bootstrap waits here, bounded, then fails saying what to run."""
    wanted = list(names) if names is not None else topology_names()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            missing = await missing_parts(js, wanted, durables)
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
        # None leaves them out of the request: servers before 2.12 refuse fields they do not know.
        allow_msg_schedules=spec.allow_msg_schedules or None,
        allow_msg_ttl=spec.allow_msg_ttl or None,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)


def consumer_config(spec: ConsumerSpec) -> api.ConsumerConfig:
    single = len(spec.filter_subjects) == 1
    return api.ConsumerConfig(
        # Named: a consumer with one filter is then created on a subject that carries the filter
        # (the server checks they agree).
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


def _filters(config: api.ConsumerConfig) -> tuple[str, ...]:
    return tuple(config.filter_subjects or ([config.filter_subject] if config.filter_subject else []))


def _as_specified(found: api.ConsumerConfig, spec: ConsumerSpec) -> bool:
    return (
        _filters(found) == tuple(spec.filter_subjects)
        and found.ack_policy == api.AckPolicy.EXPLICIT
        and abs(float(found.ack_wait or 0) - spec.ack_wait_s) < 0.001
        and found.max_ack_pending == spec.max_ack_pending
    )


async def _consumer_config(js: JetStreamContext, spec: ConsumerSpec) -> api.ConsumerConfig | None:
    try:
        info = await js.consumer_info(spec.stream, spec.durable)
    except nats.js.errors.NotFoundError:
        return None
    config: api.ConsumerConfig = info.config
    return config


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """The durable as `spec` says: found (a service's own user may only look it up), else created or
    replaced (the bootstrap; or a server without users, as in tests)."""
    found = await _consumer_config(js, spec)
    if found is not None and _as_specified(found, spec):
        return
    config = consumer_config(spec)
    try:
        try:
            await js.add_consumer(spec.stream, config)
        except nats.js.errors.BadRequestError:
            # Exists with another configuration (e.g. filters changed in a new release): replace it.
            await js.delete_consumer(spec.stream, spec.durable)
            await js.add_consumer(spec.stream, config)
    except TRANSIENT_ERRORS:
        # A service's user may not create or change its durable, and a refusal has no answer: say
        # what to do, and let the caller retry or fail as for any bus that does not answer.
        state = "differs from this release's" if found is not None else "is missing"
        log.warning(
            "durable %s on %s %s and could not be set up here; %s", spec.durable, spec.stream, state, BOOTSTRAP_HINT
        )
        raise


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
