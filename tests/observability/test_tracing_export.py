"""PAGI's cheap spans (pagi.tracing): the OTLP request PAGI writes is the one the SDK's encoder
writes, it reaches a real HTTP collector, and sampling is decided once where a trace starts and
followed from `traceparent`'s flags downstream."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanKind

from bench.replay import Collector
from bus_schemas import ActionResponse, ChatIn, ChatOut, Envelope, PlanAction
from pagi import tracing
from pagi.tracecontext import TRACEPARENT, child_traceparent, current_traceparent, trace_id

SESSION = "s-export"
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
CHAT = Envelope[Any](type="chat.in", session_id=SESSION, job_id="j1", twin_id="orchestrator", body=ChatIn(message="hi"))
DECISION = CHAT.caused(
    "p1", "plan.action", PlanAction(action=ActionResponse(content="hello"), raw_decision="{}", decided_by="x")
)
ANSWER = CHAT.caused("o1", "chat.out", ChatOut(content="hello"))


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    memory = InMemorySpanExporter()
    tracing.setup_tracing("test-export", exporter=memory, batch=False)
    yield memory
    tracing.shutdown_tracing()


def sampled_with(monkeypatch: pytest.MonkeyPatch, sampler: str, arg: str | None = None) -> InMemorySpanExporter:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if arg is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    memory = InMemorySpanExporter()
    tracing.setup_tracing("test-export", exporter=memory, batch=False)
    return memory


def published(event: Envelope[Any]) -> str:
    with tracing.publish_span(f"{event.type}.{SESSION}", event) as traceparent:
        return traceparent


def one_message() -> None:
    """A chat message's spans as the edge and the planner make them: the edge's chat message, the
    planner's handling (a decision, an error status), the edge receiving the answer."""
    with tracing.job_span(SESSION, CHAT.id, "orchestrator"):
        sent = published(CHAT)
    with tracing.consume_span(f"chat.in.{SESSION}", "chat.in", {TRACEPARENT: sent}, "planner", 7, 2) as span:
        tracing.annotate(span, CHAT)
        published(DECISION)
        answer = published(ANSWER)
        tracing.fail(span, "a reason")
        assert span is not None
        span.set_attributes({"x.bool": False, "x.float": 0.25, "x.negative": -3, "x.list": ["a", "b"]})
    with tracing.receive_span(f"chat.out.{SESSION}", {TRACEPARENT: answer}, ANSWER):
        pass


def test_pagi_spans_encode_to_the_request_the_sdk_would_send(exporter: InMemorySpanExporter) -> None:
    one_message()
    one_message()
    spans = list(exporter.get_finished_spans())
    assert [s.name for s in spans[:3]] == ["chat message", "process chat.in", "receive chat.out"]
    process = spans[1]
    assert dict(process.attributes or {})["pagi.action_type"] == "ActionResponse"
    assert process.status.description == "a reason"
    # A second resource (another process's spans, as a collector-side batch could hold).
    other = TracerProvider(resource=Resource.create({"service.name": "other", "n": 3}))
    memory = InMemorySpanExporter()
    other.add_span_processor(SimpleSpanProcessor(memory))
    other.get_tracer("sdk").start_span("sdk span", kind=SpanKind.CLIENT, attributes={"k": "v"}).end()
    spans += memory.get_finished_spans()

    ours = ExportTraceServiceRequest.FromString(tracing.encode_export_request(spans))
    assert ours == encode_spans(spans)
    assert len(ours.resource_spans) == 2


def test_what_the_direct_encoder_does_not_know_is_left_to_the_sdk(exporter: InMemorySpanExporter) -> None:
    with tracing.job_span(SESSION, "j2"):
        span = tracing._active.get()
        assert span is not None
        span.add_event("an event", {"n": 1})
    [with_event] = exporter.get_finished_spans()
    with pytest.raises(TypeError):
        tracing.encode_export_request([with_event])


def test_the_otlp_exporter_posts_the_request_to_the_collector(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_message()
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    collector = Collector()
    try:
        endpoint = f"{collector.endpoint}/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        otlp = tracing.otlp_exporter()
        assert otlp.export(spans) == SpanExportResult.SUCCESS
        otlp.shutdown()
    finally:
        collector.server.shutdown()
    [body] = collector.bodies
    assert ExportTraceServiceRequest.FromString(body) == encode_spans(spans)


def test_an_unsampled_trace_makes_no_spans_and_stays_unsampled_downstream(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = sampled_with(monkeypatch, "parentbased_traceidratio", "0")
    try:
        with tracing.job_span(SESSION, CHAT.id):  # a root: the ratio (0) decides
            sent = published(CHAT)
        assert sent.endswith("-00")
        with tracing.consume_span(f"chat.in.{SESSION}", "chat.in", {TRACEPARENT: sent}, "planner", 1, 1) as span:
            assert span is None
            answer = published(ANSWER)
        assert trace_id(answer) == trace_id(sent) and answer.endswith("-00")
        with tracing.receive_span(f"chat.out.{SESSION}", {TRACEPARENT: answer}, ANSWER):
            pass
        assert memory.get_finished_spans() == ()

        # A sampled parent (the edge decided yes) is followed even at a ratio of 0.
        with tracing.consume_span(f"chat.in.{SESSION}", "chat.in", {TRACEPARENT: PARENT}, "planner", 2, 1) as span:
            assert span is not None
            inside = published(ANSWER)
        assert inside.endswith("-01") and trace_id(inside) == trace_id(PARENT)
        [process] = memory.get_finished_spans()
        assert process.parent is not None and f"{process.parent.span_id:016x}" == PARENT[36:52]
    finally:
        tracing.shutdown_tracing()


def test_the_edges_requests_follow_the_sampling_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = sampled_with(monkeypatch, "parentbased_always_off")
    try:
        with tracing.server_span("POST", "/v1/chat", tracing.remote_parent(None, None)) as span:
            # Not None: the edge must not replace the unsampled traceparent with a sampled one.
            assert span is not None and not span.is_recording()
            assert (current_traceparent.get() or "").endswith("-00")
            with tracing.job_span(SESSION, CHAT.id):
                sent = published(CHAT)
        assert sent.endswith("-00")
        with tracing.server_span("POST", "/v1/chat", tracing.remote_parent(PARENT, None)) as span:
            assert span is not None and span.is_recording()  # the caller sampled it
        assert [s.name for s in memory.get_finished_spans()] == ["POST /v1/chat"]
    finally:
        tracing.shutdown_tracing()


def test_the_ratio_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    sampled_with(monkeypatch, "parentbased_traceidratio", "0.25")
    try:
        pipeline = tracing._state.pipeline
        assert pipeline is not None and pipeline.parent_based
        sdk = TraceIdRatioBased(0.25)
        draw = random.Random(23)
        ids = [draw.getrandbits(128) for _ in range(2000)]
        sdk_decides = [sdk.should_sample(None, i, "").decision.is_sampled() for i in ids]  # type: ignore[no-untyped-call]
        assert [pipeline.root_decides(i) for i in ids] == sdk_decides
        assert 0.2 < sum(sdk_decides) / len(ids) < 0.3
    finally:
        tracing.shutdown_tracing()


def test_without_the_sdk_a_hop_keeps_the_callers_flags() -> None:
    assert child_traceparent(UNSAMPLED_PARENT).endswith("-00")
    assert child_traceparent(PARENT).endswith("-01")
    assert trace_id(child_traceparent(PARENT)) == trace_id(PARENT)
    assert child_traceparent("garbage").endswith("-01")
