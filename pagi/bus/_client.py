"""The connection: connect with reconnect, publish events with msg-id dedupe and trace headers,
core messages (observe, listen, announce), and the doors to the other pieces of the runtime
(topology, history reads, request/reply), which live in their own modules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from pydantic import BaseModel

from bus_schemas import DecodeError, Envelope, decode, encode
from bus_schemas.codec import DEFAULT_FORMAT, PUBLISHER_HEADER, Format
from bus_schemas.streams import ConsumerSpec, KVSpec, ObjectStoreSpec, StreamSpec
from bus_schemas.subjects import TELEMETRY_HOST, dead_letter_subject, session_subject, telemetry_subject

from .. import metrics, tracing
from ..backoff import Backoff
from ..credentials import url_user, without_credentials
from ..nats_users import inbox_prefix, users
from ..settings import BusSettings
from ..stores import BlobStore, KVStore
from ..tracecontext import TRACEPARENT
from . import _history, _reply, _topology
from ._acks import AckedPublisher
from ._errors import TRANSIENT_ERRORS, BusUnavailable, PublishRefused
from ._history import StoredMessage
from ._subscription import Observer
from ._topology import ConsumerState, StreamState

log = logging.getLogger("pagi.bus")

M = TypeVar("M", bound=BaseModel)

EventCallback = Callable[[Envelope[Any]], Awaitable[None]]
RawCallback = Callable[[str, bytes], Awaitable[None]]
ReconnectHook = Callable[[], Awaitable[None]]

# A publish while the bus is briefly away: retried quickly at first, never more than a second apart.
PUBLISH_BACKOFF = Backoff(base_s=0.05, cap_s=1.0)


def _subject_for(event: Envelope[Any]) -> str:
    if event.type == TELEMETRY_HOST:
        return telemetry_subject(event.session_id)
    if event.type == "dead_letter":
        raise ValueError("dead letters are published with Bus.publish_dead_letter")
    return session_subject(event.type, event.session_id)


class _NamedConsumers(JetStreamContext):
    """nats-py's JetStream context, except that a consumer created without a name gets one. An unnamed
    create (`$JS.API.CONSUMER.CREATE.<stream>`) carries the name in the request body only, where
    nats-server lets it replace any consumer of that name, durables included; named, the name is in
    the API subject, where nats.conf keeps every durable out of a reader's rights (pagi/nats_users.py)."""

    async def add_consumer(
        self, stream: str, config: api.ConsumerConfig | None = None, timeout: float | None = None, **params: Any
    ) -> api.ConsumerInfo:
        config = (config or api.ConsumerConfig()).evolve(**params)
        if not config.name and not config.durable_name:
            config.name = self._nc.new_inbox().rsplit(".", 1)[-1]
        return await super().add_consumer(stream, config, timeout)


class Bus:
    def __init__(self, nc: Client, name: str, user: str | None = None, wire_format: Format = DEFAULT_FORMAT) -> None:
        self.nc = nc
        self.wire_format: Format = wire_format  # what this connection publishes in; it reads both
        self.js: JetStreamContext = _NamedConsumers(nc, timeout=5.0)
        self.name = name
        self.user = user  # the NATS user it connected as (None: no credentials in the URL)
        self._reconnect_hooks: list[ReconnectHook] = []
        self._closing = False
        self._acks = AckedPublisher(nc)

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        connect_timeout_s: float = 30.0,
        tls: ssl.SSLContext | None = None,
        wire_format: Format | None = None,
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
        settings = BusSettings()
        tls = tls or settings.tls_context()
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
                    raise BusUnavailable(f"cannot reach NATS at {without_credentials(url)}: {reason}") from exc
                await asyncio.sleep(0.2)
        bus = cls(nc, name, url_user(url), wire_format or settings.wire_format)
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
        await self._acks.close()
        if self.nc.is_closed:
            return
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=10)
        except (TimeoutError, nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
            # The bus is away (nats-py refuses to drain while reconnecting) or slow: close without
            # draining, rather than end a stopping service with a traceback and exit code 1. With the
            # socket already lost, nats-py's close still flushes it and raises ConnectionResetError.
            with contextlib.suppress(OSError):
                await self.nc.close()

    # --- publishing ---------------------------------------------------------------------------

    async def publish(self, event: Envelope[Any], fmt: Format | None = None, retry_for_s: float = 10.0) -> int:
        """Publish to the stream and wait for its ack; returns the stream sequence. Retries while the
        bus is briefly away: safe, since the event id is the Nats-Msg-Id and duplicates are dropped."""
        return await self._publish_raw(_subject_for(event), event, fmt or self.wire_format, retry_for_s)

    async def publish_all(self, *events: Envelope[Any]) -> list[int]:
        return list(await asyncio.gather(*(self.publish(e) for e in events)))

    async def publish_dead_letter(self, event: Envelope[Any], original_type: str) -> int:
        subject = dead_letter_subject(original_type, event.session_id)
        return await self._publish_raw(subject, event, self.wire_format, 10.0)

    async def _publish_raw(self, subject: str, event: Envelope[Any], fmt: Format, retry_for_s: float) -> int:
        payload, headers = encode(event, fmt)
        started = time.perf_counter()
        headers[PUBLISHER_HEADER] = self.name
        with tracing.publish_span(subject, event) as traceparent:
            headers[TRACEPARENT] = traceparent
            deadline = time.monotonic() + retry_for_s
            retries = 0
            while True:
                try:
                    seq = await self._acks.publish(subject, payload, headers, timeout_s=2.0)
                    break
                except TRANSIENT_ERRORS as exc:
                    retries += 1
                    delay = PUBLISH_BACKOFF.delay(retries)
                    if time.monotonic() + delay > deadline:
                        raise BusUnavailable(f"could not publish {subject}: {type(exc).__name__}") from exc
                    await asyncio.sleep(delay)
        metrics.child(metrics.PUBLISH_SECONDS, event.type).observe(time.perf_counter() - started)
        metrics.child(metrics.MESSAGES_PUBLISHED, event.type).inc()
        return seq

    async def publish_message(self, subject: str, data: bytes, headers: dict[str, str]) -> int:
        """Store a message that is not a PAGI event, with the server's own headers (e.g. a JetStream
        message schedule's definition); PublishRefused when the server refuses it."""
        try:
            return await self._acks.publish(subject, data, headers, timeout_s=2.0)
        except nats.js.errors.BadRequestError as exc:
            raise PublishRefused(exc.description or "refused") from None

    # --- core messages: live, not stored ------------------------------------------------------

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

    async def announce(self, subject: str, payload: bytes) -> None:
        """A core (not stored) message, e.g. a heartbeat. Dropped when the bus is away."""
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self.nc.publish(subject, payload)

    async def listen(self, subject: str, callback: RawCallback) -> Observer:
        """Core messages on `subject` as (subject, payload) pairs, e.g. heartbeats."""

        async def on_msg(msg: Msg) -> None:
            await callback(msg.subject, msg.data)

        return Observer(await self.nc.subscribe(subject, cb=on_msg))

    async def flush(self) -> None:
        """Returns once the server has everything sent so far, subscriptions included."""
        await self.nc.flush()

    # --- request/reply (pagi.bus._reply) ------------------------------------------------------

    async def request(self, subject: str, payload: BaseModel, reply: type[M], timeout_s: float = 5.0) -> M:
        """A core request/reply call (not stored). Raises BusUnavailable when nobody answers in time."""
        return await _reply.request(self.nc, subject, payload, reply, timeout_s)

    # --- topology (pagi.bus._topology) --------------------------------------------------------

    async def ensure_topology(self) -> None:
        """Create or update every stream, KV bucket and object store, and every service's durable
        consumer: the bootstrap (`pagi up`, `pagi init`), as the operator; a service's user may not."""
        await _topology.ensure_topology(self.js, [spec for user in users() for spec in user.durables])

    async def wait_for_topology(self, timeout_s: float = 30.0) -> None:
        """Wait (bounded) until the streams, buckets and durables this connection's user works with
        exist; raises TopologyMissing, saying to run the bootstrap, when they do not in time."""
        durables = next((user.durables for user in users() if user.name == self.user), [])
        await _topology.wait_for_topology(self.js, self.topology_needed(), timeout_s, durables)

    def topology_needed(self) -> list[str]:
        """The streams this connection's NATS user works with (pagi/nats_users.py); all of them for the
        operator or on a server without users."""
        for user in users():
            if user.name == self.user and user.stream_names:
                return user.stream_names
        return _topology.topology_names()

    async def ensure_stream(self, spec: StreamSpec) -> None:
        await _topology.ensure_stream(self.js, spec)

    async def ensure_consumer(self, spec: ConsumerSpec) -> None:
        await _topology.ensure_consumer(self.js, spec)

    async def kv(self, spec: KVSpec) -> KVStore:
        return await _topology.kv(self.js, spec)

    async def object_store(self, spec: ObjectStoreSpec) -> BlobStore:
        return await _topology.object_store(self.js, spec)

    async def consumer_state(self, stream: str, durable: str) -> ConsumerState | None:
        return await _topology.consumer_state(self.js, stream, durable)

    async def stream_state(self, stream: str) -> StreamState | None:
        return await _topology.stream_state(self.js, stream)

    # --- history reads (pagi.bus._history) ----------------------------------------------------

    async def read_stream(self, stream: str, filter_subject: str) -> list[tuple[int, Envelope[Any]]]:
        """Every stored, decodable event matching `filter_subject`, in stream order, with its sequence."""
        return await _history.read_stream(self.nc, self.js, stream, filter_subject)

    async def last_event(self, stream: str, subject: str) -> Envelope[Any] | None:
        """The newest stored event on exactly `subject`, or None."""
        return await _history.last_event(self.js, stream, subject)

    def read_events(
        self,
        stream: str,
        filter_subjects: Sequence[str],
        start_seq: int | None = None,
        start_time: datetime | None = None,
        follow: bool = False,
        batch: int = 1000,
    ) -> AsyncGenerator[StoredMessage, None]:
        """Stored messages matching `filter_subjects`, in stream order; `follow` waits for new ones."""
        return _history.read_events(self.nc, self.js, stream, filter_subjects, start_seq, start_time, follow, batch)


def _safe_url(nc: Client) -> str:
    parsed = nc.connected_url
    return f"{parsed.hostname}:{parsed.port}" if parsed else "?"
