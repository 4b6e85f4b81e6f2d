"""The bus runtime: the only module (with pagi.consume) that talks to nats-py.

Connect with reconnect, publish events with msg-id dedupe and trace headers, observe subjects,
create the JetStream topology, and reach KV buckets and the object store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api

from bus_schemas import DecodeError, Envelope, decode, encode
from bus_schemas.codec import Format
from bus_schemas.streams import (
    KV_BUCKETS,
    OBJECT_STORES,
    STREAMS,
    ConsumerSpec,
    KVSpec,
    ObjectStoreSpec,
    StreamSpec,
)
from bus_schemas.subjects import TELEMETRY_HOST, dead_letter_subject, session_subject, telemetry_subject

from .stores import BlobStore, KVStore
from .tracecontext import TRACEPARENT, child_traceparent, current_traceparent

log = logging.getLogger("pagi.bus")

EventCallback = Callable[[Envelope[Any]], Awaitable[None]]
ReconnectHook = Callable[[], Awaitable[None]]

# Errors that mean "the bus is not reachable right now": worth a retry, not a dead letter.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
)


class BusUnavailable(RuntimeError):
    """Publishing did not succeed within its deadline; the caller may retry (ids are idempotent)."""


@dataclass(frozen=True)
class Observer:
    _sub: Subscription

    async def stop(self) -> None:
        try:
            await self._sub.unsubscribe()
        except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
            pass


def subject_for(event: Envelope[Any]) -> str:
    if event.type == TELEMETRY_HOST:
        return telemetry_subject(event.session_id)
    if event.type == "dead_letter":
        raise ValueError("dead letters are published with Bus.publish_dead_letter")
    return session_subject(event.type, event.session_id)


class Bus:
    def __init__(self, nc: Client, name: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=5.0)
        self.name = name
        self._reconnect_hooks: list[ReconnectHook] = []
        self._closing = False

    @classmethod
    async def connect(cls, url: str, name: str, connect_timeout_s: float = 30.0) -> Bus:
        bus: Bus | None = None

        async def on_disconnect() -> None:
            if bus is None or not bus._closing:
                log.warning("disconnected from the bus; reconnecting")

        async def on_reconnect() -> None:
            log.info("reconnected to the bus at %s", _safe_url(nc))
            if bus is not None:
                for hook in list(bus._reconnect_hooks):
                    await hook()

        async def on_error(exc: Exception) -> None:
            log.debug("bus client error: %s", exc)

        deadline = time.monotonic() + connect_timeout_s
        while True:
            try:
                nc = await nats.connect(
                    url,
                    name=name,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                    error_cb=on_error,
                )
                break
            except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
                if time.monotonic() > deadline:
                    raise BusUnavailable(f"cannot reach NATS at {_redact(url)}: {exc}") from exc
                await asyncio.sleep(0.2)
        bus = cls(nc, name)
        log.info("connected to the bus at %s", _safe_url(nc))
        return bus

    def on_reconnect(self, hook: ReconnectHook) -> None:
        self._reconnect_hooks.append(hook)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def rtt_ms(self) -> float | None:
        if not self.connected:
            return None
        try:
            return float(await self.nc.rtt(timeout=1)) * 1000
        except (nats.errors.TimeoutError, nats.errors.ConnectionClosedError):
            return None

    async def close(self) -> None:
        self._closing = True
        if self.nc.is_closed:
            return
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=10)
        except (TimeoutError, nats.errors.ConnectionClosedError):
            await self.nc.close()

    # --- publishing ---------------------------------------------------------------------------

    async def publish(self, event: Envelope[Any], fmt: Format = "msgpack", retry_for_s: float = 10.0) -> int:
        """Publish to the stream and wait for its ack; returns the stream sequence. Retries while the
        bus is briefly away: safe, since the event id is the Nats-Msg-Id and duplicates are dropped."""
        return await self._publish_raw(subject_for(event), event, fmt, retry_for_s)

    async def publish_all(self, *events: Envelope[Any]) -> list[int]:
        return list(await asyncio.gather(*(self.publish(e) for e in events)))

    async def publish_dead_letter(self, event: Envelope[Any], original_type: str) -> int:
        return await self._publish_raw(dead_letter_subject(original_type, event.session_id), event, "msgpack", 10.0)

    async def _publish_raw(self, subject: str, event: Envelope[Any], fmt: Format, retry_for_s: float) -> int:
        payload, headers = encode(event, fmt)
        headers[TRACEPARENT] = child_traceparent(current_traceparent.get())
        deadline = time.monotonic() + retry_for_s
        delay = 0.05
        while True:
            try:
                ack = await self.js.publish(subject, payload, headers=headers, timeout=2.0)
                return int(ack.seq)
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() + delay > deadline:
                    raise BusUnavailable(f"could not publish {subject}: {type(exc).__name__}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    # --- observing (core subscriptions: live, not durable) ------------------------------------

    async def observe(self, subject: str, callback: EventCallback) -> Observer:
        """Decoded events on `subject` as they are published. Undecodable ones are logged and dropped:
        an observer is not the consumer responsible for dead-lettering them."""

        async def on_msg(msg: Msg) -> None:
            try:
                event = decode(msg.subject, msg.data, msg.headers, fallback_id=None)
            except DecodeError as exc:
                log.debug("observer skipped %s: %s", msg.subject, exc.reason)
                return
            await callback(event)

        return Observer(await self.nc.subscribe(subject, cb=on_msg, pending_msgs_limit=65536))

    # --- topology -----------------------------------------------------------------------------

    async def ensure_topology(self) -> None:
        """Create or update every stream, KV bucket and object store. Safe to run from every service."""
        for stream in STREAMS:
            await self.ensure_stream(stream)
        for bucket in KV_BUCKETS:
            await self.kv(bucket)
        for store in OBJECT_STORES:
            await self.object_store(store)

    async def ensure_stream(self, spec: StreamSpec) -> None:
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
        )
        try:
            await self.js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self.js.update_stream(config)

    async def ensure_consumer(self, spec: ConsumerSpec) -> None:
        config = api.ConsumerConfig(
            durable_name=spec.durable,
            filter_subjects=list(spec.filter_subjects),
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_wait=spec.ack_wait_s,
            max_ack_pending=spec.max_ack_pending,
            max_deliver=-1,
        )
        try:
            await self.js.add_consumer(spec.stream, config)
        except nats.js.errors.BadRequestError:
            # Exists with another configuration (e.g. filters changed in a new release): replace it.
            await self.js.delete_consumer(spec.stream, spec.durable)
            await self.js.add_consumer(spec.stream, config)

    async def kv(self, spec: KVSpec) -> KVStore:
        try:
            bucket = await self.js.key_value(spec.bucket)
        except nats.js.errors.BucketNotFoundError:
            bucket = await self.js.create_key_value(
                bucket=spec.bucket, description=spec.description, history=spec.history, ttl=spec.ttl_s
            )
        return KVStore(bucket)

    async def object_store(self, spec: ObjectStoreSpec) -> BlobStore:
        try:
            store = await self.js.object_store(spec.bucket)
        except nats.js.errors.NotFoundError:
            store = await self.js.create_object_store(bucket=spec.bucket, description=spec.description)
        return BlobStore(store)

    async def read_stream(self, stream: str, filter_subject: str, batch: int = 256) -> list[tuple[int, Envelope[Any]]]:
        """Every stored event matching `filter_subject`, in stream order, with its stream sequence.
        Undecodable ones are skipped (their dead letters say why)."""
        sub = await self.js.pull_subscribe(
            filter_subject, stream=stream, config=api.ConsumerConfig(inactive_threshold=30.0)
        )
        events: list[tuple[int, Envelope[Any]]] = []
        try:
            while ((await sub.consumer_info()).num_pending or 0) > 0:
                for msg in await sub.fetch(batch, timeout=5):
                    seq = int(msg.metadata.sequence.stream)
                    try:
                        events.append((seq, decode(msg.subject, msg.data, msg.headers, fallback_id=f"{stream}:{seq}")))
                    except DecodeError:
                        pass
        finally:
            await sub.unsubscribe()
        return events


def _redact(url: str) -> str:
    """Drop credentials from a NATS URL before it is logged."""
    if "@" not in url:
        return url
    scheme, _, rest = url.rpartition("//")
    return f"{scheme}//***@{rest.split('@', 1)[1]}"


def _safe_url(nc: Client) -> str:
    parsed = nc.connected_url
    return f"{parsed.hostname}:{parsed.port}" if parsed else "?"
