"""One trace per chat message, across the edge, the bus and the planner (the SDK's in-memory exporter)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

Client = TestClient[web.Request, web.Application]


async def spans_of_trace(
    exporter: InMemorySpanExporter, trace_hex: str, names: set[str], timeout: float = 10.0
) -> list[ReadableSpan]:
    """Wait (bounded) until the trace holds a span of every name, then return the trace's spans."""

    async def until() -> list[ReadableSpan]:
        while True:
            found = [
                s for s in exporter.get_finished_spans() if s.context and f"{s.context.trace_id:032x}" == trace_hex
            ]
            if names <= {s.name for s in found}:
                return found
            await asyncio.sleep(0.01)

    try:
        return await asyncio.wait_for(until(), timeout)
    except TimeoutError:
        seen = sorted((f"{s.context.trace_id:032x}"[:8], s.name) for s in exporter.get_finished_spans() if s.context)
        raise AssertionError(f"trace {trace_hex[:8]} lacks {names}; finished spans: {seen}") from None


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_chat_request_is_one_trace_from_the_edge_through_the_planner_and_back(
    edge: Client, spans: InMemorySpanExporter, session_id: str
) -> None:
    response = await edge.post("/v1/chat", json={"message": "trace me", "session_id": session_id})
    assert response.status == 200
    trace_hex = response.headers["X-Trace-ID"]
    job_id = (await response.json())["job_id"]
    names = {"POST /v1/chat", "chat message", "process chat.in", "receive chat.out"}
    trace = await spans_of_trace(spans, trace_hex, names)

    server, chat, process, receive = (
        one(trace, n) for n in ("POST /v1/chat", "chat message", "process chat.in", "receive chat.out")
    )
    assert server.kind == SpanKind.SERVER and attrs(server)["http.response.status_code"] == 200
    # Parent links: request -> chat message (published chat.in) -> the planner's handling (published
    # the answer) -> the answer arriving back at the edge.
    assert chat.parent and server.context and chat.parent.span_id == server.context.span_id
    assert process.parent and chat.context and process.parent.span_id == chat.context.span_id
    assert receive.parent and process.context and receive.parent.span_id == process.context.span_id
    assert process.parent.is_remote and receive.parent.is_remote

    assert process.kind == SpanKind.CONSUMER and receive.kind == SpanKind.CONSUMER
    a = attrs(process)
    assert a["messaging.system"] == "nats"
    assert a["messaging.destination.name"] == f"chat.in.{session_id}"
    assert a["messaging.message.id"] == job_id
    assert a["messaging.consumer.group.name"] == "planner-chat-in"
    assert a["pagi.session_id"] == session_id and a["pagi.job_id"] == job_id
    # The decision the planner published is named on the span that decided it.
    assert a["pagi.action_type"] == "ActionResponse"


async def test_the_callers_trace_is_kept(edge: Client, spans: InMemorySpanExporter, session_id: str) -> None:
    given = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{given}-00f067aa0ba902b7-01"
    response = await edge.post(
        "/v1/chat", json={"message": "hi", "session_id": session_id}, headers={"traceparent": parent}
    )
    assert response.headers["X-Trace-ID"] == given
    trace = await spans_of_trace(spans, given, {"POST /v1/chat", "process chat.in"})
    assert f"{one(trace, 'POST /v1/chat').parent.span_id:016x}" == "00f067aa0ba902b7"  # type: ignore[union-attr]

    other = "0af7651916cd43dd8448eb211c80319c"
    health = await edge.get("/health", headers={"X-Trace-ID": other})
    assert health.headers["X-Trace-ID"] == other
    missing = await edge.get("/no/such/page")
    assert missing.status == 404 and len(missing.headers["X-Trace-ID"]) == 32


async def test_each_websocket_message_starts_its_own_trace(
    edge: Client, spans: InMemorySpanExporter, session_id: str
) -> None:
    async with edge.ws_connect("/ws/chat/dora") as ws:
        for text in ("first", "second"):
            await ws.send_json({"session_id": session_id, "user_id": "dora", "message": text})
            while (await ws.receive_json(timeout=10))["type"] != "complete_message":
                pass

    async def traces() -> set[int]:
        while True:
            found = {
                s.context.trace_id for s in spans.get_finished_spans() if s.name == "process chat.in" and s.context
            }
            if len(found) >= 2:
                return found
            await asyncio.sleep(0.01)

    assert len(await asyncio.wait_for(traces(), 10)) == 2
    roots = [s for s in spans.get_finished_spans() if s.name == "chat message"]
    assert all(s.parent is None and s.kind == SpanKind.SERVER for s in roots)


async def test_without_the_sdk_the_trace_id_still_travels(edge: Client, session_id: str) -> None:
    given = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await edge.post(
        "/v1/chat", json={"message": "hi", "session_id": session_id}, headers={"X-Trace-ID": given}
    )
    assert response.status == 200 and response.headers["X-Trace-ID"] == given
