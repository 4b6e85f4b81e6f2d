"""Deep and huge payloads at every door of the real stack (each service a process, a real
nats-server): every subject family a durable consumer reads, the edge's history and audit reads,
the chat WebSocket and every JSON-body HTTP route.

Before the bounded decoder (`bus_schemas.safe_json`), `json.loads` raised RecursionError on
`[` x 5000: the consume loop neither acked nor dead-lettered it, so sixteen on `build.req` held all
of the build worker's ack-pending slots for good; one on `chat.in.S` made S's history and audit
answer 500; a WebSocket frame closed the socket; HTTP bodies answered 500.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from bus_schemas import DEAD_LETTER, ChatIn, DecodeError, Envelope, JobLog, MemoryResult, MemoryStore, decode
from bus_schemas import streams as stream_specs
from bus_schemas.jobs import JobCancel
from bus_schemas.limits import MAX_JSON_DEPTH
from bus_schemas.streams import EVENTS, ConsumerSpec
from bus_schemas.subjects import JOB_CANCEL, JOB_LOG, MEMORY_RESULT, MEMORY_STORE
from edge.front.route_rules import RULES, UPLOAD_PATHS
from pagi.bus import Bus, Delivery, PullConsumer, Reject
from planner.llm import ChatMessage, LLMError, make_provider

from ..fake_llm import FakeLLMServer, Family, Raw
from ..planner_llm.conftest import fast_config
from ..stack import Stack, unthrottled_stack
from ..support import ObserveFactory, dead_lettered, eventually, receive_until
from ..workload import Workload

DEPTH = 5000
DEEP: dict[str, tuple[bytes, dict[str, str]]] = {
    "json-array": (b"[" * DEPTH + b"]" * DEPTH, {"Content-Type": "application/json"}),
    "json-object": (b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, {"Content-Type": "application/json"}),
    "json-in-a-field": (b'{"message": "hi", "x": ' + b"[" * DEPTH + b"]" * DEPTH + b"}", {}),
    "msgpack": (b"\x91" * DEPTH + b"\xc0", {"Content-Type": "application/msgpack"}),
}
TOO_DEEP = f"nested deeper than {MAX_JSON_DEPTH} levels"


def durable_consumers() -> list[ConsumerSpec]:
    """Every durable the contract defines (a new one is covered here without touching this file)."""
    found = [v for v in vars(stream_specs).values() if isinstance(v, ConsumerSpec) and v.stream == EVENTS.name]
    assert len(found) >= 6, found
    return found


def consumed_event_types() -> list[str]:
    """`chat.in`, `build.req`, ...: the event type of every filter of every durable consumer."""
    types = {f.removesuffix(".*").removesuffix(".>") for c in durable_consumers() for f in c.filter_subjects}
    return sorted(types)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with unthrottled_stack("pagi-deep-") as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[Bus]:
    bus = await Bus.connect(stack.nats.url, "deep-test", connect_timeout_s=10)
    yield bus
    await bus.close()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(stack.edge_url) as session:
        yield session


async def publish_raw(bus: Bus, subject: str, payload: bytes, headers: dict[str, str]) -> int:
    ack = await bus.js.publish(subject, payload, headers=headers or None, timeout=30)
    return int(ack.seq)


async def wait_dead_lettered(bus: Bus, seqs: dict[int, str], timeout: float = 60) -> None:
    async def all_there() -> bool:
        dead = await dead_lettered(bus)
        missing = {seq: what for seq, what in seqs.items() if seq not in dead}
        assert not missing, f"{len(missing)} deep messages without a dead letter, e.g. {list(missing.items())[:4]}"
        wrong = {seq: dead[seq] for seq in seqs if TOO_DEEP not in dead[seq]}
        assert not wrong, f"dead letters with another reason: {wrong}"
        return True

    await eventually(all_there, timeout, 0.5, "every deep message dead-lettered")


async def wait_drained(stack: Stack, bus: Bus, timeout: float = 60) -> None:
    async def drained() -> bool:
        for service in stack.services.values():
            service.check_running()
        busy = {}
        for spec in durable_consumers():
            state = await bus.consumer_state(spec.stream, spec.durable)
            assert state is not None, f"consumer {spec.durable} is gone"
            if state.num_pending or state.num_ack_pending:
                busy[spec.durable] = (state.num_pending, state.num_ack_pending)
        assert not busy, f"consumers still holding messages (pending, ack pending): {busy}"
        return True

    await eventually(drained, timeout, 0.2, "every durable consumer drained")


async def stored_events(bus: Bus, subject: str) -> list[Envelope[Any]]:
    return [event for _, event in await bus.read_stream(EVENTS.name, subject)]


def assert_no_service_failed(stack: Stack) -> None:
    for service in stack.services.values():
        service.check_running()
        assert service.starts == 1
        log = service.log_path.read_text(errors="replace")
        assert "RecursionError" not in log and "Traceback" not in log, f"{service.name}:\n{service.tail(60)}"


async def test_deep_payloads_on_every_consumed_subject_are_dead_lettered_and_valid_traffic_is_handled(
    stack: Stack, client: Bus
) -> None:
    session = f"deep-{uuid.uuid4().hex[:8]}"
    seqs: dict[int, str] = {}
    event_types = consumed_event_types()
    for event_type in event_types:
        subject = f"{event_type}.{session}"
        for kind, (payload, headers) in DEEP.items():
            seqs[await publish_raw(client, subject, payload, headers)] = f"{kind} on {subject}"
    # The bare `chat.in` of hand-typed commands too.
    seqs[await publish_raw(client, "chat.in", *DEEP["json-array"])] = "json-array on chat.in"

    # Valid traffic behind them, through every worker: chat, approvals, memory, tools, builds.
    load = Workload(client, tool_cmd="echo ran >> {file}")
    await load.start()
    for kind in ("greeting", "memory", "tool", "build"):
        assert await load.send(kind) is not None  # type: ignore[arg-type]
    # The families the workload does not send: a memory.store and a job.cancel of this session.
    store = Envelope[MemoryStore](
        type=MEMORY_STORE, session_id=session, body=MemoryStore(request_id="deep-store", text="still stored")
    )
    await client.publish(store)
    cancel = Envelope[JobCancel](
        type=JOB_CANCEL, session_id=session, body=JobCancel(job_id="nojob", requested_by="deep-test")
    )
    await client.publish(cancel)

    await wait_dead_lettered(client, seqs)
    await load.verify(stack.data, timeout_s=120)
    await load.stop()

    async def stored_then_answered() -> bool:
        results = await stored_events(client, f"{MEMORY_RESULT}.{session}")
        assert any(isinstance(e.body, MemoryResult) and e.body.request_id == "deep-store" for e in results), results
        lines = await stored_events(client, f"{JOB_LOG}.{session}")
        assert any(isinstance(e.body, JobLog) and "no job nojob" in e.body.message for e in lines), lines
        return True

    await eventually(stored_then_answered, 30, 0.2, "memory.store and job.cancel handled after the deep ones")
    await wait_drained(stack, client)
    assert_no_service_failed(stack)


async def test_sixteen_deep_build_requests_do_not_stop_the_builds(stack: Stack, client: Bus) -> None:
    session = f"deep-{uuid.uuid4().hex[:8]}"
    seqs = {await publish_raw(client, f"build.req.{session}", *DEEP["json-array"]): f"#{i}" for i in range(16)}
    load = Workload(client)
    await load.start()
    assert await load.send("build") is not None
    # Within the build worker's 60 s ack wait: before, all 16 of its slots were held until then, and again after.
    await load.verify(stack.data, timeout_s=50)
    await load.stop()
    await wait_dead_lettered(client, seqs)
    await wait_drained(stack, client)


async def chat(http: aiohttp.ClientSession, session: str, text: str) -> dict[str, Any]:
    response = await http.post("/v1/chat", json={"session_id": session, "user_id": "alice", "message": text})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_a_deep_chat_in_leaves_history_and_audit_answering(
    stack: Stack, client: Bus, http: aiohttp.ClientSession
) -> None:
    session = f"deep-{uuid.uuid4().hex[:8]}"
    await chat(http, session, "before the deep one")
    deep_seq = await publish_raw(client, f"chat.in.{session}", *DEEP["json-object"])
    await wait_dead_lettered(client, {deep_seq: "json-object on chat.in"})
    await chat(http, session, "after the deep one")

    history = await http.get(f"/v1/sessions/{session}/history")
    assert history.status == 200, await history.text()
    texts = [m["text"] for m in (await history.json())["messages"] if m["role"] == "user"]
    assert texts == ["before the deep one", "after the deep one"]

    audit = await http.get("/v1/audit", params={"session": session})
    assert audit.status == 200, await audit.text()
    entries = (await audit.json())["events"]
    undecodable = [e for e in entries if e["seq"] == deep_seq]
    assert len(undecodable) == 1 and TOO_DEEP in undecodable[0]["error"], undecodable
    dead = [e for e in entries if e["type"] == DEAD_LETTER]
    assert any(e["event"]["body"]["stream_seq"] == deep_seq for e in dead), dead
    good = [e["event"]["body"]["message"] for e in entries if "event" in e and e["type"] == "chat.in"]
    assert good == ["before the deep one", "after the deep one"]


async def test_a_deep_websocket_frame_gets_an_error_frame_and_the_socket_keeps_chatting(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    session = f"deep-{uuid.uuid4().hex[:8]}"
    frame = {"session_id": session, "user_id": "alice", "timestamp": 0, "message": "x"}
    frames = [
        "[" * DEPTH,
        '{"a":' * DEPTH,
        json.dumps(frame)[:-1] + ', "extra": ' + "[" * DEPTH + "]" * DEPTH + "}",
    ]
    async with http.ws_connect("/ws/chat/alice") as ws:
        for text in frames:
            await ws.send_str(text)
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "status_update" and reply["status"] == "error", reply
            assert TOO_DEEP in reply["details"], reply
        await ws.send_str(json.dumps({**frame, "message": "still chatting"}))
        done = (await receive_until(ws, "complete_message", timeout=30))[-1]
        assert "still chatting" in done["content"]
        assert not ws.closed


# Routes with a body-taking method whose handler never reads the body (the key is in a header).
IGNORE_THEIR_BODY = {("POST", "/v1/auth/session")}


def body_routes() -> list[tuple[str, str]]:
    """Every route that takes a JSON body (the route table), with its path parameters filled in; not
    the uploads, whose body is a multipart file (tests/edge_api/test_documents_upload.py)."""
    values = {"approval_id": "a1", "job_id": "j1", "twin_id": "orchestrator", "memory_id": str(uuid.uuid4()),
              "session_id": "s1", "version": "1", "name": "echo", "user_id": "alice", "rest": "x",
              "provider": "openai", "model": "gpt-4o-mini", "scope": "global", "set_id": "s1",
              "schedule_id": "sch-0000000000000000"}  # fmt: skip
    routes = []
    for method, path in RULES:
        if method in ("POST", "PUT", "PATCH") and (method, path) not in IGNORE_THEIR_BODY and path not in UPLOAD_PATHS:
            routes.append((method, path.format(**values)))
    assert len(routes) >= 10, routes
    return routes


@pytest.mark.parametrize("kind", ["json-array", "json-object", "json-in-a-field"])
async def test_deep_http_bodies_are_a_clear_400_on_every_body_route(
    stack: Stack, http: aiohttp.ClientSession, kind: str
) -> None:
    payload, _ = DEEP[kind]
    answers = {}
    for method, path in body_routes():
        response = await http.request(method, path, data=payload, headers={"Content-Type": "application/json"})
        answers[f"{method} {path}"] = (response.status, (await response.text())[:200])
    wrong = {route: answer for route, answer in answers.items() if answer[0] != 400 or TOO_DEEP not in answer[1]}
    assert not wrong, wrong
    for method, path in IGNORE_THEIR_BODY:
        response = await http.request(method, path, data=payload, headers={"Content-Type": "application/json"})
        assert response.status == 200, await response.text()


async def test_huge_http_bodies_are_400_or_413_never_500(stack: Stack, http: aiohttp.ClientSession) -> None:
    digits = b'{"message": ' + b"1" * 3_000_000 + b"}"  # json.loads: ValueError, not JSONDecodeError
    over = b'{"message": "' + b"x" * (4 * 1024 * 1024 + 1) + b'"}'
    under = b'{"message": "' + b"x" * (1024 * 1024) + b'"}'  # valid JSON, and under the limit

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 256 * 1024):
            yield data[start : start + 256 * 1024]

    answers = {}
    for method, path in body_routes():
        headers = {"Content-Type": "application/json"}
        for name, send in (("digits", digits), ("over-limit", over), ("over-limit-chunked", chunked(over))):
            response = await http.request(method, path, data=send, headers=headers)
            text = await response.text()
            answers[f"{method} {path} {name}"] = (response.status, text[:200])
        # A chunked body within the limit arrives in several reads and must be read whole.
        response = await http.request(method, path, data=chunked(under), headers=headers)
        text = await response.text()
        assert response.status < 500, (method, path, response.status, text[:200])
        assert "Unterminated" not in text and "not valid JSON" not in text, (method, path, text[:200])
    wrong = {k: a for k, a in answers.items() if a[0] not in (400, 413) or "error" not in a[1]}
    assert not wrong, wrong
    assert all(a[0] == 413 for k, a in answers.items() if "over-limit" in k), answers


def test_decoding_never_raises_anything_but_decode_error_for_any_family() -> None:
    for event_type in consumed_event_types():
        for payload, headers in DEEP.values():
            with pytest.raises(DecodeError, match=TOO_DEEP):
                decode(f"{event_type}.s1", payload, headers, fallback_id="x")


def small_consumer(session: str, subject: str) -> ConsumerSpec:
    # Ack wait longer than the test: only terminating or acking frees the slot in time.
    return ConsumerSpec(
        stream=EVENTS.name,
        durable=f"poison-{session}",
        filter_subjects=(f"{subject}.{session}",),
        ack_wait_s=120.0,
        max_ack_pending=1,
        max_attempts=2,
    )


@pytest.mark.parametrize("failure", ["reject", "exception"])
async def test_a_failure_too_long_to_record_still_dead_letters_and_frees_the_slot(
    bus: Bus, observe: ObserveFactory, session_id: str, failure: str
) -> None:
    """A reason longer than a dead letter may hold (4,000 characters) made the dead letter itself
    invalid: the message was neither terminated nor nak'd, and with max_ack_pending 1 the consumer
    stopped for the whole ack wait, again and again."""
    dead = await observe(f"dlq.chat.in.{session_id}")
    handled: list[str] = []

    async def handler(event: Envelope[Any], delivery: Delivery) -> None:
        if event.body.message == "good":
            handled.append(event.body.message)
            return
        if failure == "reject":
            raise Reject("no: " + "x" * 10_000)
        raise ValueError("broken: " + "y" * 10_000)

    spec = small_consumer(session_id, "chat.in")
    consumer = PullConsumer(bus, spec, handler)
    await consumer.start()
    try:
        await bus.publish(Envelope[ChatIn](type="chat.in", session_id=session_id, body=ChatIn(message="poison")))
        await bus.publish(Envelope[ChatIn](type="chat.in", session_id=session_id, body=ChatIn(message="good")))
        [letter] = await dead.wait_count(DEAD_LETTER, 1, timeout=20)
        assert len(letter.body.reason) == 4000 and letter.body.reason.startswith(("no: x", "gave up after 2 attempts"))
        await eventually(lambda: handled == ["good"], 20, what="the message behind the poison handled")
    finally:
        await consumer.stop()


async def _ignore_text(text: str) -> None:
    return None


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
async def test_a_deep_provider_reply_is_an_llm_error_saying_so(family: Family) -> None:
    """A provider (or whatever answers at its URL) sending deep JSON: a whole reply, one streamed
    event, an error body. Before, each was a RecursionError out of the planner's HTTP client."""
    deep = "[" * DEPTH + "]" * DEPTH
    messages = [ChatMessage("user", "hello")]
    async with FakeLLMServer() as fake, aiohttp.ClientSession() as session:
        provider = make_provider(fast_config(family, fake.base_url(family)), session)
        fake.script(Raw(deep))
        with pytest.raises(LLMError, match=f"reply is {TOO_DEEP}"):
            await provider.complete(messages)
        fake.script(Raw(f"data: {deep}\n\n", content_type="text/event-stream"))
        with pytest.raises(LLMError, match=f"stream event is {TOO_DEEP}"):
            await provider.complete(messages, on_text=_ignore_text)
        fake.script(Raw('{"error": ' + deep + "}", status=400))
        with pytest.raises(LLMError, match="HTTP 400") as info:
            await provider.complete(messages)
        assert len(str(info.value)) < 1000  # the body's start, trimmed, not the whole deep text


async def test_deep_tool_arguments_in_a_chat_message_are_answered_plainly(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """The text of a message may hold anything: `/tool NAME <json>` is parsed by the planner, and a
    deep argument there was a RecursionError in the handler, retried 8 times and never answered."""
    session = f"deep-{uuid.uuid4().hex[:8]}"
    answer = await chat(http, session, "/tool command_exec " + '{"a":' * DEPTH + "1" + "}" * DEPTH)
    assert f"the /tool argument is {TOO_DEEP}" in answer["response"], answer
    assert (await chat(http, session, "hello after"))["status"] == "completed"
