"""The bus runtime: the only module (with pagi.consume) that talks to nats-py.

Connect with reconnect, publish events with msg-id dedupe and trace headers, observe subjects,
create the JetStream topology, and reach KV buckets and the object store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api
from pydantic import BaseModel

from bus_schemas import DecodeError, Envelope, decode, encode
from bus_schemas.codec import PUBLISHER_HEADER, Format, stored_event_id
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
from bus_schemas.subjects import TELEMETRY_HOST, dead_letter_subject, session_subject, telemetry_subject

from . import metrics, tracing
from .credentials import url_user
from .nats_users import inbox_prefix
from .settings import BusSettings
from .stores import BlobStore, KVStore
from .tracecontext import TRACEPARENT

log = logging.getLogger("pagi.bus")

M = TypeVar("M", bound=BaseModel)

EventCallback = Callable[[Envelope[Any]], Awaitable[None]]
RawCallback = Callable[[str, bytes], Awaitable[None]]
ReconnectHook = Callable[[], Awaitable[None]]

# Errors that mean "the bus is not reachable right now": worth a retry, not a dead letter.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    # No stream answered: in a cluster, while a stream elects a new leader.
    nats.js.errors.NoStreamResponseError,
    asyncio.TimeoutError,
)


_LOOKUP_ERRORS: tuple[type[BaseException], ...] = (nats.js.errors.NotFoundError, *TRANSIENT_ERRORS)


class BusUnavailable(RuntimeError):
    """Publishing did not succeed within its deadline; the caller may retry (ids are idempotent)."""


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


@dataclass(frozen=True)
class StoredMessage:
    """One message as the stream stored it; decoding is the reader's business."""

    seq: int
    subject: str
    time: datetime
    data: bytes
    headers: dict[str, str]


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
    async def connect(
        cls, url: str, name: str, connect_timeout_s: float = 30.0, tls: ssl.SSLContext | None = None
    ) -> Bus:
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
            if "permissions violation" in str(exc).lower():
                # nats.conf refused something this service tried: a bug or a misconfigured user.
                log.warning("bus refused: %s", exc)
            else:
                log.debug("bus client error: %s", exc)

        # TLS from the environment (NATS_TLS_CA / _CERT / _KEY) unless the caller brings its own.
        tls = tls or BusSettings().tls_context()
        deadline = time.monotonic() + connect_timeout_s
        while True:
            try:
                # Bounded per attempt: with unlimited reconnects nats-py can keep retrying a refused
                # first connection forever.
                nc = await asyncio.wait_for(
                    nats.connect(
                        # Several servers (a cluster), comma-separated, as the nats CLI takes them.
                        [u.strip() for u in url.split(",")] if "," in url else url,
                        name=name,
                        allow_reconnect=True,
                        max_reconnect_attempts=-1,
                        reconnect_time_wait=0.5,
                        connect_timeout=2,
                        disconnected_cb=on_disconnect,
                        reconnected_cb=on_reconnect,
                        error_cb=on_error,
                        # Its own inbox prefix: nats.conf lets each user read only its own replies.
                        inbox_prefix=inbox_prefix(url_user(url)),
                        tls=tls,
                    ),
                    timeout=max(1.0, min(5.0, deadline - time.monotonic())),
                )
                break
            except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
                if time.monotonic() > deadline:
                    reason = f"{type(exc).__name__} {exc}".strip()
                    raise BusUnavailable(f"cannot reach NATS at {_redact(url)}: {reason}") from exc
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
        started = time.perf_counter()
        headers[PUBLISHER_HEADER] = self.name
        with tracing.publish_span(subject, event) as traceparent:
            headers[TRACEPARENT] = traceparent
            deadline = time.monotonic() + retry_for_s
            delay = 0.05
            while True:
                try:
                    ack = await self.js.publish(subject, payload, headers=headers, timeout=2.0)
                    break
                except TRANSIENT_ERRORS as exc:
                    if time.monotonic() + delay > deadline:
                        raise BusUnavailable(f"could not publish {subject}: {type(exc).__name__}") from exc
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
        metrics.PUBLISH_SECONDS.labels(event.type).observe(time.perf_counter() - started)
        metrics.MESSAGES_PUBLISHED.labels(event.type).inc()
        return int(ack.seq)

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
            with tracing.receive_span(msg.subject, msg.headers, event):
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
            num_replicas=replicas(),
        )
        try:
            await self.js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self.js.update_stream(config)

    async def ensure_consumer(self, spec: ConsumerSpec) -> None:
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
                bucket=spec.bucket,
                description=spec.description,
                history=spec.history,
                ttl=spec.ttl_s,
                replicas=replicas(),
            )
        return KVStore(bucket)

    async def object_store(self, spec: ObjectStoreSpec) -> BlobStore:
        try:
            store = await self.js.object_store(spec.bucket)
        except nats.js.errors.NotFoundError:
            store = await self.js.create_object_store(
                bucket=spec.bucket, description=spec.description, replicas=replicas()
            )
        return BlobStore(store)

    async def read_stream(self, stream: str, filter_subject: str) -> list[tuple[int, Envelope[Any]]]:
        """Every stored event matching `filter_subject`, decoded, in stream order, with its stream
        sequence. Undecodable ones are skipped (their dead letters say why)."""
        events: list[tuple[int, Envelope[Any]]] = []
        async for stored in self.read_events(stream, [filter_subject]):
            try:
                fallback = stored_event_id(stream, stored.seq)
                event = decode(stored.subject, stored.data, stored.headers, fallback_id=fallback)
            except DecodeError:
                continue
            events.append((stored.seq, event))
        return events

    # --- observability: core messages, consumer and stream state, filtered reads ----------------

    async def announce(self, subject: str, payload: bytes) -> None:
        """A core (not stored) message, e.g. a heartbeat. Dropped when the bus is away."""
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self.nc.publish(subject, payload)

    async def listen(self, subject: str, callback: RawCallback) -> Observer:
        """Core messages on `subject` as (subject, payload) pairs, e.g. heartbeats."""

        async def on_msg(msg: Msg) -> None:
            await callback(msg.subject, msg.data)

        return Observer(await self.nc.subscribe(subject, cb=on_msg))

    async def request(self, subject: str, payload: BaseModel, reply: type[M], timeout_s: float = 5.0) -> M:
        """A core request/reply call (not stored), e.g. a search that must not fill the events
        stream. Raises BusUnavailable when nobody answers in time."""
        try:
            msg = await self.nc.request(subject, payload.model_dump_json().encode(), timeout=timeout_s)
        except TRANSIENT_ERRORS as exc:
            raise BusUnavailable(f"no answer on {subject} within {timeout_s}s: {type(exc).__name__}") from exc
        return reply.model_validate_json(msg.data)

    async def serve_requests(
        self, subject: str, handler: Callable[[bytes], Awaitable[BaseModel]], queue: str
    ) -> Observer:
        """Answer core requests on `subject`; every copy of the service joins `queue`, so each
        request is answered once. The handler validates the payload and answers even bad ones."""

        async def on_msg(msg: Msg) -> None:
            answer = await handler(msg.data)
            if msg.reply:
                with contextlib.suppress(*TRANSIENT_ERRORS):
                    await self.nc.publish(msg.reply, answer.model_dump_json(exclude_none=True).encode())

        return Observer(await self.nc.subscribe(subject, queue=queue, cb=on_msg))

    async def last_event(self, stream: str, subject: str) -> Envelope[Any] | None:
        """The newest stored event on exactly `subject` (a direct read, no consumer), or None."""
        try:
            raw = await self.js.get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return None
        try:
            return decode(subject, raw.data or b"", raw.headers, fallback_id=stored_event_id(stream, raw.seq or 0))
        except DecodeError:
            return None

    async def consumer_state(self, stream: str, durable: str) -> ConsumerState | None:
        """The consumer's lag (`num_pending`) and unacknowledged count, or None if it is not there."""
        try:
            info = await self.js.consumer_info(stream, durable, timeout=2.0)
        except _LOOKUP_ERRORS:
            return None
        return ConsumerState(int(info.num_pending or 0), int(info.num_ack_pending or 0))

    async def stream_state(self, stream: str) -> StreamState | None:
        try:
            info = await self.js.stream_info(stream)
        except _LOOKUP_ERRORS:
            return None
        state = info.state
        return StreamState(int(state.messages), int(state.bytes), int(state.first_seq), int(state.last_seq))

    async def read_events(
        self,
        stream: str,
        filter_subjects: Sequence[str],
        start_seq: int | None = None,
        start_time: datetime | None = None,
        follow: bool = False,
        batch: int = 1000,
    ) -> AsyncGenerator[StoredMessage, None]:
        """Stored messages matching `filter_subjects`, in stream order, through an ephemeral filtered
        consumer: the server does the filtering, so a long stream is not scanned here. Ends when
        caught up, unless `follow` (then waits for new ones until the caller stops iterating).

        Pulls in batches onto one inbox with a callback (nats-py's `fetch` waits on every single
        message with a timer, which made replay 3x slower)."""
        config = api.ConsumerConfig(
            name=self.nc.new_inbox().rsplit(".", 1)[-1],
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        if start_seq is not None:
            config.deliver_policy, config.opt_start_seq = api.DeliverPolicy.BY_START_SEQUENCE, start_seq
        elif start_time is not None:
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = start_time.astimezone(UTC)
        if len(filter_subjects) == 1:
            config.filter_subject = filter_subjects[0]
        elif filter_subjects:
            config.filter_subjects = list(filter_subjects)
        inbox = self.nc.new_inbox()
        arrived: deque[Msg] = deque()
        ended = asyncio.Event()  # the open pull request is over (all sent, no messages, or expired)
        wake = asyncio.Event()

        async def on_msg(msg: Msg) -> None:
            if not msg.data and msg.headers and "Status" in msg.headers:
                if msg.headers["Status"] != "100":
                    ended.set()
            else:
                arrived.append(msg)
            wake.set()

        sub = await self.nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=4 * batch)
        try:
            info = await self.js.add_consumer(stream, config)
            pending = int(info.num_pending or 0)
            next_request = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{config.name}"
            while pending > 0 or follow:
                request: dict[str, Any] = {"batch": batch}
                request.update({"expires": 5_000_000_000} if follow else {"no_wait": True})
                ended.clear()
                owed = batch
                await self.nc.publish(next_request, json.dumps(request).encode(), reply=inbox)
                while owed > 0 and not (ended.is_set() and not arrived):
                    if not arrived:
                        wake.clear()
                        if not ended.is_set():
                            await asyncio.wait_for(wake.wait(), 10.0 if not follow else 15.0)
                        continue
                    msg = arrived.popleft()
                    owed -= 1
                    meta = msg.metadata
                    pending = int(meta.num_pending)
                    yield StoredMessage(
                        int(meta.sequence.stream), msg.subject, meta.timestamp, msg.data, dict(msg.headers or {})
                    )
                    if pending == 0 and not follow:
                        return
        finally:
            with contextlib.suppress(nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
                await sub.unsubscribe()
            with contextlib.suppress(*_LOOKUP_ERRORS):
                await self.js.delete_consumer(stream, config.name or "")


def _redact(url: str) -> str:
    """Drop credentials from a NATS URL before it is logged."""
    if "@" not in url:
        return url
    scheme, _, rest = url.rpartition("//")
    return f"{scheme}//***@{rest.split('@', 1)[1]}"


def _safe_url(nc: Client) -> str:
    parsed = nc.connected_url
    return f"{parsed.hostname}:{parsed.port}" if parsed else "?"


# --- tails: a stream read in order from a sequence, then live ------------------------------------

SeqCallback = Callable[[int, Envelope[Any]], Awaitable[None]]
# Where a tail starts: after this stream sequence (0 = the beginning), only what is published from
# now on ("new"), or the last message of every subject first ("last_per_subject").
TailStart = int | str
_TAIL_RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, nats.js.errors.Error)


class Tail:
    """Stored events matching `filter_subject`, in stream order, each with its stream sequence.

    An ephemeral push consumer without acks, flow controlled, with idle heartbeats. Like nats-py's
    ordered consumer it is re-created from the next sequence after a gap in consumer sequences, a
    missed heartbeat or a lost consumer (server restart), so the callback sees every event once and
    in order. Unlike it, there is no polling task per subscription (an edge holds thousands of
    tails) and a failed re-creation is retried instead of logged and forgotten.
    """

    def __init__(
        self,
        bus: Bus,
        stream: str,
        filter_subjects: Sequence[str],
        callback: SeqCallback,
        heartbeat_s: float = 5.0,
        pending_limit: int = 4096,
    ) -> None:
        self._bus = bus
        self._stream = stream
        self._filters = list(filter_subjects)
        self._filter = ", ".join(self._filters)  # for log lines
        self._callback = callback
        self._config: api.ConsumerConfig | None = None
        self._heartbeat_s = heartbeat_s
        self._pending_limit = pending_limit
        # The stream sequence of the last event handed to the callback (or skipped as undecodable).
        self.last_seq = 0
        self._next_dseq = 1
        # Which consumer's deliveries count: bumped when it is replaced, so stragglers are ignored.
        self._generation = 0
        self._sub: Subscription | None = None
        self._active = True
        self._stopped = False
        self._resetting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self, start: TailStart = "new") -> None:
        await self._create(start)
        self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop delivering. The server drops the consumer once nobody listens (inactive threshold)."""
        self._stopped = True
        for task in (self._watchdog, self._resetting):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        await _unsubscribe(self._sub)
        self._sub = None

    async def set_filters(self, filter_subjects: Sequence[str]) -> None:
        """Change what the tail delivers, keeping its place in the stream; returns once the server
        applies it, so anything published afterwards on a new subject is delivered."""
        self._filters = list(filter_subjects)
        self._filter = ", ".join(self._filters)
        if self._resetting is not None:
            # The re-creation under way takes the new filters on its next attempt; wait for it, bounded.
            try:
                await asyncio.wait_for(asyncio.shield(self._resetting), 10.0)
            except TimeoutError:
                raise BusUnavailable(f"tail on {self._filter}: its consumer is being re-created; retry") from None
        config = self._config
        if config is None:
            return
        try:
            await self._bus.js.add_consumer(self._stream, config.evolve(filter_subjects=list(self._filters)))
        except _TAIL_RETRYABLE:
            # The consumer is gone or unreachable: start a new one where this one was.
            await self._create(self.last_seq)

    async def _create(self, start: TailStart) -> None:
        config = api.ConsumerConfig(
            filter_subjects=list(self._filters),
            ack_policy=api.AckPolicy.NONE,
            max_deliver=1,
            flow_control=True,
            idle_heartbeat=self._heartbeat_s,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=max(10.0, 3 * self._heartbeat_s),
        )
        if start == "new":
            config.deliver_policy = api.DeliverPolicy.NEW
        elif start == "last_per_subject":
            config.deliver_policy = api.DeliverPolicy.LAST_PER_SUBJECT
        elif isinstance(start, int) and start > 0:
            config.deliver_policy, config.opt_start_seq = api.DeliverPolicy.BY_START_SEQUENCE, start + 1
        else:
            config.deliver_policy = api.DeliverPolicy.ALL
        inbox = self._bus.nc.new_inbox()
        config.deliver_subject = inbox
        old = self._sub
        # Set before the consumer exists: its first messages may arrive before add_consumer returns.
        self._generation += 1
        self._next_dseq, self._active = 1, True
        generation = self._generation

        async def on_msg(msg: Msg) -> None:
            if generation == self._generation and not self._stopped:
                await self._on_msg(msg)

        self._sub = await self._bus.nc.subscribe(inbox, cb=on_msg, pending_msgs_limit=self._pending_limit)
        await _unsubscribe(old)
        info = await self._bus.js.add_consumer(self._stream, config)
        self._config = config.evolve(name=info.name)
        if start == "new":
            # Nothing delivered yet means everything up to here is behind us: a re-creation starts after it.
            delivered = info.delivered.stream_seq if info.delivered else 0
            self.last_seq = max(self.last_seq, int(delivered or 0))

    async def _on_msg(self, msg: Msg) -> None:
        self._active = True
        headers = msg.headers or {}
        if headers.get("Status") is not None:
            # A flow-control request (has a reply) or an idle heartbeat, which may say the server
            # is stalled waiting for a flow-control reply and which consumer sequence it sent last.
            for reply in (msg.reply, headers.get("Nats-Consumer-Stalled")):
                if reply:
                    await _publish_quietly(self._bus.nc, reply)
            last = headers.get("Nats-Last-Consumer")
            if last is not None and int(last) != self._next_dseq - 1:
                self._reset()
            return
        meta = msg.metadata
        if int(meta.sequence.consumer) != self._next_dseq:
            self._reset()  # a message was lost on the way (slow consumer, reconnect)
            return
        self._next_dseq += 1
        seq = int(meta.sequence.stream)
        self.last_seq = seq
        try:
            event = decode(msg.subject, msg.data, msg.headers, fallback_id=stored_event_id(self._stream, seq))
        except DecodeError as exc:
            log.debug("tail skipped %s: %s", msg.subject, exc.reason)
            return
        with tracing.receive_span(msg.subject, msg.headers, event):
            await self._callback(seq, event)

    def _reset(self) -> None:
        if self._resetting is None and not self._stopped:
            self._generation += 1  # ignore whatever the old consumer still sends
            self._resetting = asyncio.create_task(self._recreate())

    async def _recreate(self) -> None:
        delay = 0.1
        try:
            while not self._stopped:
                try:
                    await self._create(self.last_seq)
                    return
                except _TAIL_RETRYABLE as exc:
                    log.info("tail on %s: re-creating its consumer failed (%s); retrying", self._filter, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            self._resetting = None

    async def _watch(self) -> None:
        while not self._stopped:
            await asyncio.sleep(2 * self._heartbeat_s)
            if not self._active:
                log.info("tail on %s missed its heartbeats; re-creating its consumer", self._filter)
                self._reset()
            self._active = False


async def _unsubscribe(sub: Subscription | None) -> None:
    if sub is None:
        return
    try:
        await sub.unsubscribe()
    except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
        pass


async def _publish_quietly(nc: Client, subject: str) -> None:
    try:
        await nc.publish(subject)
    except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError):
        pass
