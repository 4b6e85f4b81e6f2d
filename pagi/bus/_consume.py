"""The consume loop: a durable pull consumer that keeps a bounded number of messages in flight.

nats-py's `fetch` waits for a whole batch and does not rebind after a server restart, so this loop
speaks the pull protocol itself: it keeps one pull request open at a time, asking for as many
messages as it has room for; the server streams them as they arrive, and each goes to its own task.
A new request goes out when the open one is used up or ended by the server (expiry, status), when
heartbeats stop, and after a reconnect. Status replies come on `<inbox>.<request token>`, so a late
status from an old request is told apart from the current one.

Per message: decode and validate; run the handler; ack only after it succeeded. Invalid input is
terminated with a dead letter and an error line on the session's job log. A handler failure is
retried with backoff (nak with delay) up to the consumer's attempt limit, then dead-lettered.
Whatever else fails while one message is handled (this loop's own code included), the message is
nak'd with backoff and, at the attempt limit, terminated: a poison message never holds one of the
consumer's ack-pending slots for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from opentelemetry.trace import Span

from bus_schemas import DEAD_LETTER, DeadLetter, DecodeError, Envelope, JobLog, decode, derived_id
from bus_schemas.codec import stored_event_id
from bus_schemas.streams import ConsumerSpec
from bus_schemas.subjects import DEFAULT_SESSION, JOB_LOG, SubjectError, parse_subject

from .. import metrics, tracing
from ..backoff import Backoff
from ..tracecontext import current_traceparent, trace_id
from ._client import Bus
from ._errors import TRANSIENT_ERRORS
from ._keep_alive import KeepAlive
from ._subscription import unsubscribe_quietly

log = logging.getLogger("pagi.consume")


class Reject(Exception):
    """Raised by a handler for input it will never accept: dead-lettered at once, not retried."""


@dataclass
class Delivery:
    """What a handler knows about the message it is handling."""

    bus: Bus
    consumer: str
    attempt: int
    stream_seq: int
    _msg: Msg

    async def in_progress(self) -> None:
        """Tell the server the work goes on (resets the ack wait); the loop also does it periodically."""
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self._msg.in_progress()


Handler = Callable[[Envelope[Any], Delivery], Awaitable[None]]
# What became of a message, the `outcome` label of pagi_messages_handled_total.
Outcome = Literal["acked", "retried", "dead_lettered", "terminated"]


# A failed handler's message comes back after this delay (a nak with delay): the n-th delivery waits
# 0.25 s * 2**(n-1), at most 30 s, so a failing dependency is not hammered.
NAK_BACKOFF = Backoff(base_s=0.25, cap_s=30.0)
# What a dead letter and its job-log line may hold (bus_schemas.errors.DeadLetter, JobLog).
REASON_CHARS = 4000
LOG_CHARS = 16_000


class PullConsumer:
    def __init__(
        self,
        bus: Bus,
        spec: ConsumerSpec,
        handler: Handler,
        max_in_flight: int = 64,
        pull_expires_s: float = 30.0,
        heartbeat_s: float = 5.0,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.max_in_flight = max_in_flight
        self.pull_expires_s = pull_expires_s
        self.heartbeat_s = heartbeat_s
        self._inbox = bus.nc.new_inbox()
        self._sub: Subscription | None = None
        # The open pull request: its token and how many messages the server still owes on it.
        self._pull_token: str | None = None
        self._owed = 0
        self._next_token = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._keep_alive = KeepAlive(spec.ack_wait_s)
        self._last_activity = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self.handled = 0

    async def start(self) -> None:
        await self.bus.ensure_consumer(self.spec)
        self._sub = await self.bus.nc.subscribe(f"{self._inbox}.*", cb=self._on_message)
        self.bus.on_reconnect(self._rebind)
        self._watchdog = asyncio.create_task(self._watch())
        await self._refill()

    async def stop(self, drain_timeout_s: float = 15.0) -> None:
        """Stop pulling, let in-flight handlers finish (bounded), then unsubscribe."""
        self._stopping = True
        if self._watchdog:
            self._watchdog.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=drain_timeout_s)
        self._keep_alive.stop()
        await unsubscribe_quietly(self._sub)

    # --- pulling ------------------------------------------------------------------------------

    def _end_pull(self) -> None:
        self._pull_token = None
        self._owed = 0

    async def _refill(self) -> None:
        async with self._lock:
            if self._stopping or not self.bus.connected or self._pull_token is not None:
                return
            room = self.max_in_flight - len(self._tasks)
            if room <= 0:
                return
            token = str(self._next_token)
            self._next_token += 1
            request = {
                "batch": room,
                "expires": int(self.pull_expires_s * 1e9),
                "idle_heartbeat": int(self.heartbeat_s * 1e9),
            }
            self._pull_token, self._owed = token, room
            try:
                await self.bus.nc.publish(
                    f"$JS.API.CONSUMER.MSG.NEXT.{self.spec.stream}.{self.spec.durable}",
                    json.dumps(request).encode(),
                    reply=f"{self._inbox}.{token}",
                )
            except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError):
                self._end_pull()

    async def _rebind(self) -> None:
        """After a reconnect the server may have forgotten our pulls (or, with a fresh store, the
        consumer itself): recreate it and pull again."""
        if self._stopping:
            return
        self._end_pull()
        try:
            await self.bus.ensure_consumer(self.spec)
        except TRANSIENT_ERRORS as exc:
            log.warning("could not re-create consumer %s yet: %s", self.spec.durable, exc)
        await self._refill()

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.heartbeat_s)
            silent_for = time.monotonic() - self._last_activity
            if self._pull_token is not None and silent_for > 2 * self.heartbeat_s:
                log.info("consumer %s missed heartbeats; pulling again", self.spec.durable)
                self._end_pull()
                self._last_activity = time.monotonic()
            if self._pull_token is None:
                with contextlib.suppress(*TRANSIENT_ERRORS):
                    await self._rebind()

    async def _on_message(self, msg: Msg) -> None:
        self._last_activity = time.monotonic()
        status = (msg.headers or {}).get("Status")
        if status is not None:
            # 100 is a heartbeat; 404/408/409 end the request named by the inbox's last token.
            if status != "100" and msg.subject.rsplit(".", 1)[-1] == self._pull_token:
                self._end_pull()
                await self._refill()
            return
        # A data message arrives under its own subject, so it counts against the open request.
        self._owed -= 1
        if self._owed <= 0:
            self._end_pull()
        if self._stopping:
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await msg.nak()
            return
        task = asyncio.create_task(self._process(msg))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._stopping and self._pull_token is None:
            asyncio.get_running_loop().create_task(self._refill())

    # --- handling -----------------------------------------------------------------------------

    async def _process(self, msg: Msg) -> None:
        meta = msg.metadata
        stream_seq = int(meta.sequence.stream)
        attempt = int(meta.num_delivered)
        event_type = metrics.event_type_label(msg.subject)
        started = time.perf_counter()
        with tracing.consume_span(msg.subject, event_type, msg.headers, self.spec.durable, stream_seq, attempt) as span:
            try:
                outcome = await self._handle(msg, stream_seq, attempt, span)
            except Exception as exc:
                tracing.fail(span, f"{type(exc).__name__}: {exc}")
                outcome = await self._last_resort(msg, attempt)
        metrics.child(metrics.HANDLER_SECONDS, self.spec.durable, event_type).observe(time.perf_counter() - started)
        metrics.child(metrics.MESSAGES_HANDLED, self.spec.durable, event_type, outcome).inc()

    async def _handle(self, msg: Msg, stream_seq: int, attempt: int, span: Span | None) -> Outcome:
        try:
            event = decode(
                msg.subject,
                msg.data,
                msg.headers,
                fallback_id=functools.partial(stored_event_id, self.spec.stream, stream_seq),
            )
        except DecodeError as exc:
            tracing.fail(span, exc.reason)
            return await self._dead_letter(msg, exc.reason, exc.session_id, attempt, stream_seq)
        except Exception as exc:  # decode promises DecodeError only; if it ever breaks that, same outcome
            reason = f"payload could not be decoded: {type(exc).__name__}"
            log.error("decoding %s raised %s", msg.subject, type(exc).__name__, exc_info=True)
            tracing.fail(span, reason)
            return await self._dead_letter(msg, reason, DEFAULT_SESSION, attempt, stream_seq)
        tracing.annotate(span, event)
        extra = {
            "session_id": event.session_id,
            "job_id": event.job_id,
            "consumer": self.spec.durable,
            "trace_id": trace_id(current_traceparent.get()),
        }
        try:
            with self._keep_alive.working(msg):
                await self.handler(event, Delivery(self.bus, self.spec.durable, attempt, stream_seq, msg))
        except Reject as exc:
            tracing.fail(span, str(exc))
            return await self._dead_letter(msg, str(exc), event.session_id, attempt, stream_seq)
        except Exception as exc:
            tracing.fail(span, f"{type(exc).__name__}: {exc}")
            if attempt >= self.spec.max_attempts:
                reason = f"gave up after {attempt} attempts: {type(exc).__name__}: {exc}"
                log.error("handler failed for good", exc_info=True, extra=extra)
                return await self._dead_letter(msg, reason, event.session_id, attempt, stream_seq)
            log.warning("handler failed (attempt %d), will retry: %s", attempt, exc, extra=extra)
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await msg.nak(delay=NAK_BACKOFF.delay(attempt))
            return "retried"
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await msg.ack()
        self.handled += 1
        return "acked"

    async def _dead_letter(self, msg: Msg, reason: str, session_id: str, attempt: int, stream_seq: int) -> Outcome:
        """Report where a person will see it (the session's job log) and keep the evidence (the
        dead-letter subject), then terminate so it is never redelivered."""
        try:
            event_type = parse_subject(msg.subject).event_type
        except SubjectError:
            event_type, session_id = "unknown.subject", DEFAULT_SESSION
        log.warning("rejected %s: %s", msg.subject, reason, extra={"session_id": session_id})
        origin = f"{self.spec.stream}:{stream_seq}"
        dead = Envelope[Any](
            id=derived_id(origin, "dead-letter"),
            type=DEAD_LETTER,
            session_id=session_id,
            body=DeadLetter(
                reason=reason[:REASON_CHARS],
                subject=msg.subject,
                consumer=self.spec.durable,
                stream_seq=stream_seq,
                deliveries=attempt,
                payload_preview=msg.data[:512].decode("utf-8", "replace")[:512],
            ),
        )
        report = Envelope[Any](
            id=derived_id(origin, "dead-letter-log"),
            type=JOB_LOG,
            session_id=session_id,
            body=JobLog(level="error", service=self.bus.name, message=f"rejected {msg.subject}: {reason}"[:LOG_CHARS]),
        )
        try:
            await self.bus.publish_dead_letter(dead, event_type)
            await self.bus.publish(report)
        except Exception:
            # Not reported means not terminated: the message comes back and we try again.
            log.exception("could not record a dead letter for %s", msg.subject)
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await msg.nak(delay=NAK_BACKOFF.delay(attempt))
            return "retried"
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await msg.term()
        return "dead_lettered"

    async def _last_resort(self, msg: Msg, attempt: int) -> Outcome:
        """This loop itself failed on a message (not the handler, not the decoder): retry it later
        like a handler failure, and at the attempt limit terminate it, logged, since the dead-letter
        path is what failed."""
        log.exception("consumer %s failed on %s (attempt %d)", self.spec.durable, msg.subject, attempt)
        with contextlib.suppress(*TRANSIENT_ERRORS):
            if attempt >= self.spec.max_attempts:
                log.error("terminated %s after %d attempts without a dead letter", msg.subject, attempt)
                await msg.term()
                return "terminated"
            await msg.nak(delay=NAK_BACKOFF.delay(attempt))
        return "retried"
