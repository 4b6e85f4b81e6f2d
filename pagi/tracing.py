"""OpenTelemetry spans for the hops a person waits on: handled messages, edge requests and chat
messages, answers arriving back at the edge. A publish is not a span: it carries the span that
published as the consumer's parent.

`setup_tracing(service)` switches spans on for this process when they have somewhere to go:
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set, exported over OTLP/HTTP through the
SDK's BatchSpanProcessor (a background thread; the hot path only appends to its queue). Otherwise,
or with `OTEL_SDK_DISABLED=true`, only W3C context propagation runs (`pagi.tracecontext`): trace ids
are still made, carried in every NATS header, logged and returned as `X-Trace-ID`.

Cheap spans (issue 23: an SDK span and its OTLP export cost ~100 us of Python each, 12-21 % of a
chat message's CPU for three spans):

- A PAGI span is a small object of its own (`_Span`, the OpenTelemetry API's `Span`), turned into
  the SDK's `ReadableSpan` once, when it ends, and handed to the SDK's span processor: the SDK's
  `Span` (attribute validation, locks, a second copy at its end) is skipped.
- The sampler is the SDK's, read from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default
  `parentbased_always_on`: every trace whole). The decision is made once, where a trace starts
  (the edge), and travels in `traceparent`'s flags; every later hop follows it (parent-based), and
  an unsampled hop builds no span at all, only the header (flags `00`).
- The OTLP exporter is the SDK's (endpoint, headers, compression, retries, timeouts from the
  `OTEL_EXPORTER_OTLP_*` variables), with the protobuf written by `encode_export_request` instead
  of the SDK's encoder (~40 us a span building protobuf objects; bytes written directly are a
  fraction of that, and decode to the same request: tests/observability/test_tracing_export.py).

The active PAGI span's traceparent is in `current_traceparent` (which publishes and the JSON logs
read); a recording span is also the OpenTelemetry context's current span.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes, AttributeValue

from bus_schemas import Envelope

from .settings import TracingSettings
from .tracecontext import TRACEPARENT, child_traceparent, current_traceparent, new_traceparent

if TYPE_CHECKING:  # the SDK is imported only when tracing is switched on (it is slow to import)
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

log = logging.getLogger("pagi.tracing")
_PROPAGATOR: Final = TraceContextTextMapPropagator()
# Read by the SDK's TracerProvider (which trace is kept); named here so the start-up line says them.
SAMPLER_VARIABLES: Final = ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
_TRACE_ID_LEN: Final = 32
# The span attribute that keeps a caller's own trace id (`X-Trace-ID: test-trace-123`) as given.
CALLER_TRACE_ATTRIBUTE: Final = "pagi.caller_trace_id"
_TRACEPARENT: Final = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
RECEIVE_SPAN_TYPES: Final = frozenset({"chat.out", "approve.request"})
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_UNSAMPLED: Final = TraceFlags(TraceFlags.DEFAULT)
_UNSET: Final = Status(StatusCode.UNSET)
_INT64: Final = 1 << 63


@dataclass(frozen=True)
class _Parent:
    """A span's parent as PAGI reads it: from a `traceparent` header or the active span."""

    trace_id: int
    span_id: int
    sampled: bool
    remote: bool


def _parse(traceparent: str | None, remote: bool) -> _Parent | None:
    match = _TRACEPARENT.match(traceparent or "")
    if match is None:
        return None
    trace_id, span_id = int(match.group(1), 16), int(match.group(2), 16)
    if not trace_id or not span_id:
        return None
    return _Parent(trace_id, span_id, bool(int(match.group(3), 16) & 1), remote)


def _new_id(bits: int) -> int:
    return random.getrandbits(bits) or 1


class _Pipeline:
    """Where this process's spans go: the SDK's processor (and its exporter), the resource and the
    scope every span carries, and the sampler's decision for a trace started here."""

    def __init__(self, provider: TracerProvider, processor: SpanProcessor) -> None:
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.processor = processor
        self.resource: Resource = provider.resource
        self.scope: InstrumentationScope = InstrumentationScope("pagi")
        self.readable: type[ReadableSpan] = ReadableSpan
        self.event: type[Event] = Event
        self.parent_based, self.root_decides = _decision(provider.sampler)

    def sampled(self, parent: _Parent | None) -> tuple[int, bool]:
        """The trace id of a new span and whether it records: the parent's decision when there is
        one (the sampler is parent-based: the default, and every `parentbased_*`), else the root's."""
        if parent is not None:
            if self.parent_based:
                return parent.trace_id, parent.sampled
            return parent.trace_id, self.root_decides(parent.trace_id)
        trace_id = _new_id(128)
        return trace_id, self.root_decides(trace_id)


def _decision(sampler: Sampler) -> tuple[bool, Callable[[int], bool]]:
    """The SDK's sampler as a parent-based flag and a decision on a trace id: its ratio compared
    directly (what `TraceIdRatioBased` does), any other sampler asked as the SDK would."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

    parent_based = isinstance(sampler, ParentBased)
    root: Sampler = getattr(sampler, "_root", sampler) if parent_based else sampler
    if root is ALWAYS_ON:
        return parent_based, lambda trace_id: True
    if root is ALWAYS_OFF:
        return parent_based, lambda trace_id: False
    if isinstance(root, TraceIdRatioBased):
        bound, limit = root.bound, TraceIdRatioBased.TRACE_ID_LIMIT
        return parent_based, lambda trace_id: trace_id & limit < bound
    return parent_based, lambda trace_id: root.should_sample(None, trace_id, "").decision.is_sampled()  # type: ignore[no-untyped-call]


class _Span(Span):
    """A recording span: plain fields until it ends, then one SDK `ReadableSpan` for the processor."""

    def __init__(
        self,
        pipeline: _Pipeline,
        name: str,
        kind: SpanKind,
        trace_id: int,
        parent: _Parent | None,
        attributes: dict[str, Any],
    ) -> None:
        self._pipeline = pipeline
        self._name = name
        self._kind = kind
        self._context = SpanContext(trace_id, _new_id(64), False, _SAMPLED)
        self._parent = (
            None
            if parent is None
            else SpanContext(parent.trace_id, parent.span_id, parent.remote, _SAMPLED if parent.sampled else _UNSAMPLED)
        )
        self._attributes = attributes
        self._events: list[tuple[str, Attributes, int]] = []
        self._status = _UNSET
        self._ended = False
        self._start = time.time_ns()
        self.traceparent = f"00-{trace_id:032x}-{self._context.span_id:016x}-01"

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if isinstance(value, str | bool | int | float):
            self._attributes[key] = value
        elif isinstance(value, Sequence):
            self._attributes[key] = tuple(value)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._status.status_code is StatusCode.OK:  # final, as in the SDK
            return
        self._status = status if isinstance(status, Status) else Status(status, description)

    def update_name(self, name: str) -> None:
        self._name = name

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        self._events.append((name, attributes, timestamp or time.time_ns()))

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.add_event(
            "exception",
            {"exception.type": type(exception).__name__, "exception.message": str(exception), **(attributes or {})},
            timestamp,
        )

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        p = self._pipeline
        events = [p.event(name, attributes, ts) for name, attributes, ts in self._events]
        p.processor.on_end(
            p.readable(
                self._name,
                self._context,
                self._parent,
                p.resource,
                self._attributes,
                events,
                (),
                self._kind,
                None,
                self._status,
                self._start,
                end_time or time.time_ns(),
                p.scope,
            )
        )


@dataclass
class _State:
    pipeline: _Pipeline | None = None
    provider: TracerProvider | None = None


_state = _State()
# The active recording PAGI span (its traceparent is in `current_traceparent`).
_active: ContextVar[_Span | None] = ContextVar("pagi_active_span", default=None)


def setup_tracing(service: str, exporter: SpanExporter | None = None, batch: bool = True) -> TracerProvider | None:
    """Switch spans on for this process. `exporter` overrides the environment (tests pass the SDK's
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
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER(_ARG)
    if exporter is None:
        exporter = otlp_exporter()
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    shutdown_tracing()
    _state.provider = provider
    _state.pipeline = _Pipeline(provider, processor)
    given = ", ".join(f"{name}={os.environ[name]}" for name in SAMPLER_VARIABLES if name in os.environ)
    log.info("tracing on: sampler %s (%s)", provider.sampler.get_description(), given or "the default")
    return provider


def shutdown_tracing(timeout_s: float = 3.0) -> None:
    """Flush what is queued and stop tracing, waiting at most `timeout_s`: an unreachable collector
    (the exporter retries with backoff) must not hold up a service's stop."""
    provider = _state.provider
    _state.provider = None
    _state.pipeline = None
    if provider is not None:
        flushing = threading.Thread(target=provider.shutdown, name="otel-shutdown", daemon=True)
        flushing.start()
        flushing.join(timeout_s)


def enabled() -> bool:
    return _state.pipeline is not None


def traceparent_of(span: Span) -> str | None:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _unsampled(trace_id: int) -> str:
    """The traceparent of a hop that records nothing: same trace, flags 00, so later hops skip too."""
    return f"00-{trace_id:032x}-{_new_id(64):016x}-00"


def _start(
    pipeline: _Pipeline, name: str, kind: SpanKind, parent: _Parent | None, attributes: dict[str, Any]
) -> _Span | str:
    """A recording span, or the traceparent of an unsampled hop."""
    trace_id, sampled = pipeline.sampled(parent)
    if not sampled:
        return _unsampled(trace_id)
    return _Span(pipeline, name, kind, trace_id, parent, attributes)


@contextmanager
def _current(started: _Span | str) -> Iterator[None]:
    """The span (or an unsampled hop's traceparent) is the active one inside; a span is ended on the
    way out. Status is set by the callers (no exception bookkeeping here)."""
    if isinstance(started, str):
        token = current_traceparent.set(started)
        try:
            yield
        finally:
            current_traceparent.reset(token)
        return
    context_token = otel_context.attach(trace.set_span_in_context(started))
    traceparent_token = current_traceparent.set(started.traceparent)
    active_token = _active.set(started)
    try:
        yield
    finally:
        _active.reset(active_token)
        current_traceparent.reset(traceparent_token)
        otel_context.detach(context_token)
        started.end()


def _action_type(event: Envelope[Any]) -> str | None:
    # vars(), not getattr(): a missing attribute on a pydantic model is an exception, and slow.
    action = vars(event.body).get("action")
    kind = vars(action).get("action_type") if action is not None and hasattr(action, "__dict__") else None
    return kind if isinstance(kind, str) else None


def event_attributes(event: Envelope[Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"messaging.message.id": event.id, "pagi.session_id": event.session_id}
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
    """The span of one handled message, a child of the publisher's (from its `traceparent` header);
    None when tracing is off or the trace is not sampled (the header still travels on)."""
    pipeline = _state.pipeline
    incoming = (headers or {}).get(TRACEPARENT)
    if pipeline is None:
        token = current_traceparent.set(incoming)
        try:
            yield None
        finally:
            current_traceparent.reset(token)
        return
    attributes: dict[str, Any] = {
        "messaging.system": "nats",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": consumer,
        "pagi.stream_seq": stream_seq,
    }
    if attempt > 1:
        attributes["pagi.attempt"] = attempt
    started = _start(pipeline, f"process {event_type}", SpanKind.CONSUMER, _parse(incoming, True), attributes)
    with _current(started):
        yield None if isinstance(started, str) else started


@contextmanager
def publish_span(subject: str, event: Envelope[Any]) -> Iterator[str]:
    """Yields the traceparent to put in a published message's headers: the active span's, so the
    consumer's span is a child of the span that published. A publish is not a span of its own, nor
    a span event: a handler publishes several events, and producer spans (~25 us each, twice that
    exported) made tracing cost a fifth of the chat round trip. A published decision's action type
    is put on the span that decided it."""
    pipeline = _state.pipeline
    if pipeline is None:
        yield child_traceparent(current_traceparent.get())
        return
    current = current_traceparent.get()
    if current is None:  # outside any span: this publish starts a trace, sampled or not
        trace_id, sampled = pipeline.sampled(None)
        current = f"00-{trace_id:032x}-{_new_id(64):016x}-01" if sampled else _unsampled(trace_id)
    yield current
    span = _active.get()
    if span is not None and span.traceparent == current:
        action = _action_type(event)
        if action is not None:
            span.set_attribute("pagi.action_type", action)


@contextmanager
def receive_span(subject: str, headers: Mapping[str, str] | None, event: Envelope[Any]) -> Iterator[None]:
    """A span for an event a live reader (the edge's session fan-out) received: only for the events
    that close a hop a person waits on (the answer), not for every event of every session, and only
    in a sampled trace."""
    pipeline = _state.pipeline
    if pipeline is None or event.type not in RECEIVE_SPAN_TYPES or not headers:
        yield
        return
    parent = _parse(headers.get(TRACEPARENT), True)
    if parent is None or (pipeline.parent_based and not parent.sampled):
        yield
        return
    attributes = {"messaging.system": "nats", "messaging.destination.name": subject, **event_attributes(event)}
    started = _start(pipeline, f"receive {event.type}", SpanKind.CONSUMER, parent, attributes)
    try:
        yield  # not made current: the fan-out publishes nothing
    finally:
        if isinstance(started, _Span):
            started.end()


@contextmanager
def job_span(session_id: str, job_id: str, twin_id: str | None = None) -> Iterator[None]:
    """The edge's span for one person's message: a child of the HTTP request's span when there is
    one (POST /v1/chat), else the root of a new trace (a WebSocket frame), where sampling decides."""
    pipeline = _state.pipeline
    if pipeline is None:
        token = current_traceparent.set(current_traceparent.get() or new_traceparent())
        try:
            yield
        finally:
            current_traceparent.reset(token)
        return
    attributes = {"pagi.session_id": session_id, "pagi.job_id": job_id}
    if twin_id:
        attributes["pagi.twin_id"] = twin_id
    parent = _parse(current_traceparent.get(), False)
    kind = SpanKind.INTERNAL if parent is not None else SpanKind.SERVER
    with _current(_start(pipeline, "chat message", kind, parent, attributes)):
        yield


def remote_parent(traceparent: str | None, trace_id_hex: str | None) -> otel_context.Context | None:
    """An incoming request's parent: its W3C `traceparent`, or a bare `X-Trace-ID` (32 hex digits,
    joined with a fresh span id so the trace id is kept; a new trace, so sampling decides)."""
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
            pipeline = _state.pipeline
            sampled = pipeline is None or pipeline.root_decides(value)
            span_context = SpanContext(
                trace_id=value,
                span_id=_new_id(64),
                is_remote=True,
                trace_flags=_SAMPLED if sampled else _UNSAMPLED,
            )
            return trace.set_span_in_context(NonRecordingSpan(span_context))
    return None


@contextmanager
def server_span(
    method: str, route: str, parent: otel_context.Context | None, caller_trace_id: str | None = None
) -> Iterator[Span | None]:
    """The edge's span for one HTTP request; `caller_trace_id` is the caller's own `X-Trace-ID` as
    given, when the trace id was derived from it (pagi.tracecontext.caller_trace). None when tracing
    is off; a non-recording span when the trace is not sampled (its traceparent is current)."""
    pipeline = _state.pipeline
    if pipeline is None:
        yield None
        return
    attributes = {"http.request.method": method, "http.route": route}
    if caller_trace_id is not None:
        attributes[CALLER_TRACE_ATTRIBUTE] = caller_trace_id
    remote = trace.get_current_span(parent).get_span_context() if parent is not None else None
    incoming = (
        _Parent(remote.trace_id, remote.span_id, remote.trace_flags.sampled, True)
        if remote is not None and remote.is_valid
        else None
    )
    started = _start(pipeline, f"{method} {route}", SpanKind.SERVER, incoming, attributes)
    with _current(started):
        if isinstance(started, str):
            parsed = _parse(started, False)
            assert parsed is not None
            yield NonRecordingSpan(SpanContext(parsed.trace_id, parsed.span_id, False, _UNSAMPLED))
        else:
            yield started


# --- OTLP export: the SDK's exporter, the request's protobuf written directly -----------------------


def otlp_exporter() -> SpanExporter:
    """The SDK's OTLP/HTTP span exporter (configured by `OTEL_EXPORTER_OTLP_*`), encoding with
    `encode_export_request`. Falls back to the SDK's own encoding if its internals ever move."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    class Exporter(OTLPSpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            client = getattr(self, "_client", None)
            if client is None or getattr(self, "_shutdown", True) or not spans:
                return super().export(spans)
            try:
                data = encode_export_request(spans)
            except Exception:  # a value the direct encoder does not know: the SDK's encoder decides
                return super().export(spans)
            if len(data) > getattr(self, "_max_request_size", len(data)):
                return super().export(spans)  # it drops the batch, saying why
            return SpanExportResult.SUCCESS if client.export(data).success else SpanExportResult.FAILURE

    return Exporter()


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _BYTE[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_BYTE: Final = [bytes((i,)) for i in range(0x80)]
_FIXED64: Final = struct.Struct("<Q").pack
_DOUBLE: Final = struct.Struct("<d").pack
_FIXED32: Final = struct.Struct("<I").pack


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """An OTLP AnyValue; TypeError for what the SDK's encoder alone should judge."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _delimited(b"\x0a", value.encode())
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise TypeError("int out of int64 range")
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, bytes):
        return _delimited(b"\x3a", value)
    if isinstance(value, Sequence):
        return _delimited(b"\x2a", b"".join(_delimited(b"\x0a", _any_value(v)) for v in value))
    raise TypeError(f"attribute of type {type(value).__name__}")


_KEY_VALUES: dict[tuple[str, type, Any], bytes] = {}


def _key_value(key: str, value: Any) -> bytes:
    """A span's `attributes` entry (KeyValue, tag included); the repeated ones (system, subject,
    consumer, twin) are kept encoded."""
    cache_key = (key, type(value), value)
    try:
        return _KEY_VALUES[cache_key]
    except (KeyError, TypeError):  # a list value is not hashable
        pass
    encoded = _delimited(b"\x4a", _delimited(b"\x0a", key.encode()) + _delimited(b"\x12", _any_value(value)))
    if len(_KEY_VALUES) >= 4096:
        _KEY_VALUES.clear()
    try:
        _KEY_VALUES[cache_key] = encoded
    except TypeError:
        pass
    return encoded


def _span(span: ReadableSpan) -> bytes:
    """One OTLP Span message (without its tag), as the SDK's `encode_spans` would have it."""
    ctx = span.context
    if ctx is None:
        raise TypeError("a span without a context")
    parent = span.parent
    status = span.status
    parts = [b"\x0a\x10", ctx.trace_id.to_bytes(16, "big"), b"\x12\x08", ctx.span_id.to_bytes(8, "big")]
    if ctx.trace_state:
        parts.append(_delimited(b"\x1a", ",".join(f"{k}={v}" for k, v in ctx.trace_state.items()).encode()))
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    parts += (
        _delimited(b"\x2a", span.name.encode()),
        b"\x30",
        _BYTE[span.kind.value + 1],
        b"\x39",
        _FIXED64(span.start_time or 0),
        b"\x41",
        _FIXED64(span.end_time or 0),
    )
    parts += [_key_value(k, v) for k, v in (span.attributes or {}).items()]
    if span.dropped_attributes:
        parts += (b"\x50", _varint(span.dropped_attributes))
    if span.events or span.links or span.dropped_events or span.dropped_links:
        raise TypeError("events and links are left to the SDK's encoder")
    body = b""
    if status is not None:
        if status.description:
            body += _delimited(b"\x12", status.description.encode())
        if status.status_code.value:
            body += b"\x18" + _varint(status.status_code.value)
        parts.append(_delimited(b"\x7a", body))
    parts += (b"\x85\x01", _FIXED32(0x300 if parent is not None and parent.is_remote else 0x100))
    return b"".join(parts)


# By identity: a Resource hashes by dumping its attributes to JSON, each time.
_HEADS: dict[tuple[int, int], tuple[object, object, tuple[bytes, bytes, bytes, bytes]]] = {}


def _heads(span: ReadableSpan) -> tuple[bytes, bytes, bytes, bytes]:
    """The resource, the scope and their schema urls of a span's group, encoded by the SDK (once)."""
    resource, scope = span.resource, span.instrumentation_scope
    cached = _HEADS.get((id(resource), id(scope)))
    if cached is not None and cached[0] is resource and cached[1] is scope:
        return cached[2]
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    [resource_spans] = encode_spans([span]).resource_spans
    [scope_spans] = resource_spans.scope_spans
    heads = (
        resource_spans.resource.SerializeToString(),
        resource_spans.schema_url.encode(),
        scope_spans.scope.SerializeToString(),
        scope_spans.schema_url.encode(),
    )
    if len(_HEADS) >= 64:
        _HEADS.clear()
    _HEADS[(id(resource), id(scope))] = (resource, scope, heads)
    return heads


def encode_export_request(spans: Sequence[ReadableSpan]) -> bytes:
    """An OTLP ExportTraceServiceRequest of `spans`, grouped by resource and scope as the SDK groups
    them; TypeError for a span it leaves to the SDK's encoder (events, links, unusual values)."""
    groups: dict[tuple[bytes, bytes], dict[tuple[bytes, bytes], list[bytes]]] = {}
    for span in spans:
        resource, resource_url, scope, scope_url = _heads(span)
        groups.setdefault((resource, resource_url), {}).setdefault((scope, scope_url), []).append(
            _delimited(b"\x12", _span(span))
        )
    out = []
    for (resource, resource_url), scopes in groups.items():
        body = [_delimited(b"\x0a", resource)]
        for (scope, scope_url), encoded in scopes.items():
            scope_body = _delimited(b"\x0a", scope) + b"".join(encoded)
            if scope_url:
                scope_body += _delimited(b"\x1a", scope_url)
            body.append(_delimited(b"\x12", scope_body))
        if resource_url:
            body.append(_delimited(b"\x1a", resource_url))
        out.append(_delimited(b"\x0a", b"".join(body)))
    return b"".join(out)
