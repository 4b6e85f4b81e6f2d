"""OpenTelemetry spans for every hop: handled messages, edge requests and chat messages, answers
arriving back at the edge; publishes are events on the span that published.

`setup_tracing(service)` installs an SDK tracer for this process when spans have somewhere to go:
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set, exported over OTLP/HTTP through a
BatchSpanProcessor (a background thread; the hot path only appends to a queue). Otherwise, or with
`OTEL_SDK_DISABLED=true`, only W3C context propagation runs (`pagi.tracecontext`): trace ids are
still made, carried in every NATS header, logged and returned as `X-Trace-ID`, but no span
objects are built for nobody to read (they cost a quarter of a chat message's CPU).
`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (the SDK's own) sample when tracing is on.

The active span is the source of the `traceparent` every publish sends, and of `current_traceparent`
(which the JSON logs read).
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bus_schemas import Envelope

from .settings import TracingSettings
from .tracecontext import TRACEPARENT, child_traceparent, current_traceparent, new_traceparent

if TYPE_CHECKING:  # the SDK is imported only when tracing is switched on (it is slow to import)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACE_ID_LEN: Final = 32
# The span attribute that keeps a caller's own trace id (`X-Trace-ID: test-trace-123`) as given.
CALLER_TRACE_ATTRIBUTE: Final = "pagi.caller_trace_id"
_TRACEPARENT: Final = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
RECEIVE_SPAN_TYPES: Final = frozenset({"chat.out", "approve.request"})


@dataclass
class _State:
    tracer: trace.Tracer | None = None
    provider: TracerProvider | None = None


_state = _State()


def setup_tracing(service: str, exporter: SpanExporter | None = None, batch: bool = True) -> TracerProvider | None:
    """Install this process's tracer. `exporter` overrides the environment (tests pass the SDK's
    in-memory exporter with `batch=False`, so spans are visible as soon as they end)."""
    settings = TracingSettings()
    if exporter is None and (settings.sdk_disabled or not settings.endpoint):
        shutdown_tracing()
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create(
        {
            "service.name": service if settings.service_name is None else settings.service_name,
            "service.namespace": "pagi",
            "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    shutdown_tracing()
    _state.provider = provider
    _state.tracer = provider.get_tracer("pagi")
    return provider


def shutdown_tracing(timeout_s: float = 3.0) -> None:
    """Flush what is queued and stop tracing, waiting at most `timeout_s`: an unreachable collector
    (the exporter retries with backoff) must not hold up a service's stop."""
    provider = _state.provider
    _state.provider = None
    _state.tracer = None
    if provider is not None:
        flushing = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
        flushing.start()
        flushing.join(timeout_s)


def enabled() -> bool:
    return _state.tracer is not None


def traceparent_of(span: Span) -> str | None:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _parent_context(headers: Mapping[str, str] | None) -> otel_context.Context | None:
    """The remote parent named by a `traceparent` header. Parsed here rather than by the SDK's
    propagator, which costs several times more per message (it handles tracestate, which PAGI
    does not send)."""
    value = headers.get(TRACEPARENT) if headers else None
    match = _TRACEPARENT.match(value or "")
    if match is None:
        return None
    trace_id, span_id, flags = int(match.group(1), 16), int(match.group(2), 16), int(match.group(3), 16)
    if not trace_id or not span_id:
        return None
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
    return trace.set_span_in_context(NonRecordingSpan(parent))


@contextmanager
def _current(span: Span) -> Iterator[None]:
    """`span` is the active span (and `current_traceparent`) inside; ended on the way out. What
    `trace.use_span` does, without its exception bookkeeping (status is set by the callers)."""
    token = otel_context.attach(trace.set_span_in_context(span))
    traceparent = current_traceparent.set(traceparent_of(span))
    try:
        yield
    finally:
        current_traceparent.reset(traceparent)
        otel_context.detach(token)
        span.end()


def _action_type(event: Envelope[Any]) -> str | None:
    # vars(), not getattr(): a missing attribute on a pydantic model is an exception, and slow.
    action = vars(event.body).get("action")
    kind = vars(action).get("action_type") if action is not None and hasattr(action, "__dict__") else None
    return kind if isinstance(kind, str) else None


def event_attributes(event: Envelope[Any]) -> dict[str, str]:
    attributes = {"messaging.message.id": event.id, "pagi.session_id": event.session_id}
    if event.job_id:
        attributes["pagi.job_id"] = event.job_id
    if event.twin_id:
        attributes["pagi.twin_id"] = event.twin_id
    action = _action_type(event)
    if isinstance(action, str):
        attributes["pagi.action_type"] = action
    return attributes


def annotate(span: Span | None, event: Envelope[Any]) -> None:
    if span is not None and span.is_recording():
        span.set_attributes(event_attributes(event))


def fail(span: Span | None, reason: str) -> None:
    if span is not None and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, reason[:200]))


@contextmanager
def consume_span(
    subject: str, event_type: str, headers: Mapping[str, str] | None, consumer: str, stream_seq: int, attempt: int
) -> Iterator[Span | None]:
    """The span of one handled message, a child of the publisher's (from its `traceparent` header)."""
    tracer = _state.tracer
    incoming = (headers or {}).get(TRACEPARENT)
    if tracer is None:
        token = current_traceparent.set(incoming)
        try:
            yield None
        finally:
            current_traceparent.reset(token)
        return
    span = tracer.start_span(
        f"process {event_type}",
        context=_parent_context(headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": consumer,
            "pagi.stream_seq": stream_seq,
            **({"pagi.attempt": attempt} if attempt > 1 else {}),
        },
    )
    with _current(span):
        yield span


@contextmanager
def publish_span(subject: str, event: Envelope[Any]) -> Iterator[str]:
    """Yields the traceparent to put in a published message's headers: the active span's, so the
    consumer's span is a child of the span that published. A publish is not a span of its own, nor
    a span event: a handler publishes several events, and producer spans (~25 us each, twice that
    exported) made tracing cost a fifth of the chat round trip. A published decision's action type
    is put on the span that decided it."""
    if _state.tracer is None:
        yield child_traceparent(current_traceparent.get())
        return
    # Every span PAGI makes current also sets `current_traceparent`: no formatting per publish.
    yield current_traceparent.get() or traceparent_of(trace.get_current_span()) or new_traceparent()
    span = trace.get_current_span()
    if span.is_recording():
        action = _action_type(event)
        if isinstance(action, str):
            span.set_attribute("pagi.action_type", action)


@contextmanager
def receive_span(subject: str, headers: Mapping[str, str] | None, event: Envelope[Any]) -> Iterator[None]:
    """A span for an event a live reader (the edge's session fan-out) received: only for the events
    that close a hop a person waits on (the answer), not for every event of every session."""
    tracer = _state.tracer
    if tracer is None or event.type not in RECEIVE_SPAN_TYPES or not headers or TRACEPARENT not in headers:
        yield
        return
    span = tracer.start_span(
        f"receive {event.type}",
        context=_parent_context(headers),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.destination.name": subject, **event_attributes(event)},
    )
    try:
        yield  # not made current: the fan-out publishes nothing
    finally:
        span.end()


@contextmanager
def job_span(session_id: str, job_id: str, twin_id: str | None = None) -> Iterator[None]:
    """The edge's span for one person's message: a child of the HTTP request's span when there is
    one (POST /v1/chat), else the root of a new trace (a WebSocket frame)."""
    tracer = _state.tracer
    if tracer is None:
        token = current_traceparent.set(current_traceparent.get() or new_traceparent())
        try:
            yield
        finally:
            current_traceparent.reset(token)
        return
    attributes = {"pagi.session_id": session_id, "pagi.job_id": job_id}
    if twin_id:
        attributes["pagi.twin_id"] = twin_id
    parent = trace.get_current_span().get_span_context()
    kind = SpanKind.INTERNAL if parent.is_valid else SpanKind.SERVER
    span = tracer.start_span("chat message", kind=kind, attributes=attributes)
    with _current(span):
        yield


def remote_parent(traceparent: str | None, trace_id_hex: str | None) -> otel_context.Context | None:
    """An incoming request's parent: its W3C `traceparent`, or a bare `X-Trace-ID` (32 hex digits,
    joined with a fresh span id so the trace id is kept)."""
    if traceparent:
        ctx = _PROPAGATOR.extract({TRACEPARENT: traceparent})
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
    if trace_id_hex and len(trace_id_hex) == _TRACE_ID_LEN:
        try:
            value = int(trace_id_hex, 16)
        except ValueError:
            return None
        if value:
            span_context = SpanContext(
                trace_id=value,
                span_id=int.from_bytes(os.urandom(8), "big") or 1,
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            return trace.set_span_in_context(NonRecordingSpan(span_context))
    return None


@contextmanager
def server_span(
    method: str, route: str, parent: otel_context.Context | None, caller_trace_id: str | None = None
) -> Iterator[Span | None]:
    """The edge's span for one HTTP request; `caller_trace_id` is the caller's own `X-Trace-ID` as
    given, when the trace id was derived from it (pagi.tracecontext.caller_trace)."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    attributes = {"http.request.method": method, "http.route": route}
    if caller_trace_id is not None:
        attributes[CALLER_TRACE_ATTRIBUTE] = caller_trace_id
    span = tracer.start_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER, attributes=attributes)
    token = current_traceparent.set(traceparent_of(span))
    try:
        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            yield span
    finally:
        current_traceparent.reset(token)
