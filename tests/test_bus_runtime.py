"""The bus runtime against a real nats-server: the consume loop (poison messages, retries, a server
restart) and request over the stream (its own answer, a plain timeout, several in flight)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bus_schemas import ChatIn, DeadLetter, Envelope, JobLog, MemoryQuery, MemoryResult, ToolRun
from bus_schemas.streams import EVENTS, ConsumerSpec
from bus_schemas.subjects import CHAT_OUT, JOB_LOG, MEMORY_QUERY, MEMORY_RESULT
from pagi.bus import Bus, Delivery, Observer, PullConsumer, ReplyTimeout, request_over_stream, stream_replies
from pagi_cli.nats_server import NatsServer

from .support import EventCollector, ObserveFactory, eventually


async def test_poison_messages_are_terminated_reported_and_the_consumer_keeps_going(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    dead = await observe(f"dlq.chat.in.{session_id}")
    logs = await observe(f"job.log.{session_id}")
    answers = await observe(f"chat.out.{session_id}")
    subject = f"chat.in.{session_id}"
    await bus.nc.publish(subject, b"\xc1\xff not msgpack")
    await bus.nc.publish(subject, json.dumps({"message": ""}).encode())
    await bus.nc.publish(subject, json.dumps([1, 2]).encode())
    future = {"id": "x1", "type": "chat.in", "schema_version": 99, "session_id": session_id, "body": {"message": "hi"}}
    await bus.nc.publish(subject, msgpack.packb(future))
    await bus.nc.publish(subject, json.dumps({"message": "still served"}).encode())

    letters = await dead.wait_count("dead_letter", 4)
    reasons = [letter.body.reason for letter in letters]
    assert isinstance(letters[0].body, DeadLetter)
    assert "not valid" in reasons[0]
    assert "message" in reasons[1] and "at least 1 character" in reasons[1]
    assert "must be an object" in reasons[2]
    assert "schema_version 99" in reasons[3]
    assert all(letter.body.consumer == "planner-chat-in" for letter in letters)
    errors = await logs.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "error", 4)
    assert all(isinstance(e.body, JobLog) and "rejected" in e.body.message for e in errors)
    [answer] = await answers.wait_count(CHAT_OUT, 1)
    assert "still served" in answer.body.content
    # Terminated at the first delivery, never redelivered.
    info = await bus.js.consumer_info(EVENTS.name, "planner-chat-in")
    assert info.num_redelivered == 0
    assert all(letter.body.deliveries == 1 for letter in letters)


def _tool_spec(session_id: str, max_attempts: int) -> ConsumerSpec:
    return ConsumerSpec(
        stream=EVENTS.name,
        durable=f"test-{session_id}",
        filter_subjects=(f"tool.run.{session_id}",),
        max_attempts=max_attempts,
    )


def _tool_run(session_id: str, request_id: str) -> Envelope[Any]:
    return Envelope[ToolRun](
        type="tool.run", session_id=session_id, body=ToolRun(request_id=request_id, tool_name="noop")
    )


async def test_a_failing_handler_is_retried_then_succeeds_once(bus: Bus, session_id: str) -> None:
    attempts: list[int] = []
    done = asyncio.Event()

    async def flaky(event: Envelope[Any], delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise RuntimeError("transient")
        done.set()

    consumer = PullConsumer(bus, _tool_spec(session_id, max_attempts=5), flaky)
    await consumer.start()
    try:
        await bus.publish(_tool_run(session_id, "r1"))
        await asyncio.wait_for(done.wait(), 10)
        assert attempts == [1, 2, 3]
        assert consumer.handled == 1
    finally:
        await consumer.stop()


async def test_a_handler_working_past_the_ack_wait_is_kept_alive_not_redelivered(bus: Bus, session_id: str) -> None:
    # One ticker per consumer says "in progress" for every message still being handled; without it
    # the server would redeliver this one after 1 s.
    spec = ConsumerSpec(
        stream=EVENTS.name, durable=f"test-{session_id}", filter_subjects=(f"tool.run.{session_id}",), ack_wait_s=1.0
    )
    attempts: list[int] = []

    async def slow(event: Envelope[Any], delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        await asyncio.sleep(2.5)  # the work itself: 2.5 ack waits, so a redelivery would show

    consumer = PullConsumer(bus, spec, slow)
    await consumer.start()
    try:
        await bus.publish(_tool_run(session_id, "slow"))
        await eventually(lambda: consumer.handled == 1, timeout=10)
        assert attempts == [1]
        info = await bus.js.consumer_info(EVENTS.name, spec.durable)
        assert info.num_redelivered == 0 and info.num_ack_pending == 0
    finally:
        await consumer.stop()


async def test_a_handler_that_keeps_failing_is_dead_lettered(
    bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    dead = await observe(f"dlq.tool.run.{session_id}")

    async def broken(event: Envelope[Any], delivery: Delivery) -> None:
        raise ValueError("always broken")

    consumer = PullConsumer(bus, _tool_spec(session_id, max_attempts=2), broken)
    await consumer.start()
    try:
        await bus.publish(_tool_run(session_id, "r2"))
        [letter] = await dead.wait_count("dead_letter", 1)
        assert letter.body.reason == "gave up after 2 attempts: ValueError: always broken"
        assert letter.body.deliveries == 2
    finally:
        await consumer.stop()


async def test_nothing_is_lost_across_a_nats_server_restart(
    nats_server: NatsServer, bus: Bus, planner: list[PullConsumer], session_id: str
) -> None:
    total = 200
    restarted = asyncio.Event()

    async def publish_all() -> None:
        for i in range(total):
            if i == total // 2:
                await asyncio.to_thread(nats_server.restart, True)  # kill -9, then start on the same store
                restarted.set()
            await bus.publish(
                Envelope[ChatIn](type="chat.in", session_id=session_id, body=ChatIn(message=f"m{i}")),
                retry_for_s=20,
            )

    await asyncio.wait_for(publish_all(), 60)
    assert restarted.is_set()

    async def answered() -> set[str]:
        stored = await bus.read_stream(EVENTS.name, f"chat.out.{session_id}")
        return {event.causation_id or "" for _, event in stored}

    async def until_all_answered() -> set[str]:
        # Core-NATS observers miss what is published while they reconnect; the stream is the
        # record, and "stored" has no event to wait on, so poll it (bounded by wait_for below).
        while len(found := await answered()) < total:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        return found

    found = await asyncio.wait_for(until_all_answered(), 60)
    questions = await bus.read_stream(EVENTS.name, f"chat.in.{session_id}")
    assert len(questions) == total
    assert found == {event.id for _, event in questions}
    # Exactly one answer per question, even for messages redelivered around the restart.
    stored_answers = await bus.read_stream(EVENTS.name, f"chat.out.{session_id}")
    assert len(stored_answers) == total


async def test_collector_helper_times_out_rather_than_hanging() -> None:
    events = EventCollector()
    try:
        await events.wait_count("chat.out", 1, timeout=0.05)
    except TimeoutError:
        return
    raise AssertionError("wait_count should have timed out")


# --- request over the stream ---------------------------------------------------------------------


async def _answer_memory_queries(bus: Bus, session_id: str, delay_s: float = 0.0) -> Observer:
    """A stand-in memory worker: answers each memory.query of the session, first with a result for
    somebody else's request (which must be ignored), then with its own."""

    async def on_query(event: Envelope[Any]) -> None:
        assert isinstance(event.body, MemoryQuery)
        await asyncio.sleep(delay_s)
        other = MemoryResult(request_id=f"other-{event.body.request_id}", error="not yours")
        mine = MemoryResult(request_id=event.body.request_id, hits=[], stored_id=event.body.query)
        for body in (other, mine):
            await bus.publish(event.caused(f"result-{body.request_id}", MEMORY_RESULT, body))

    observer = await bus.observe(f"{MEMORY_QUERY}.{session_id}", on_query)
    await bus.flush()
    return observer


def _query(session_id: str, request_id: str) -> Envelope[Any]:
    body = MemoryQuery(request_id=request_id, query=request_id)
    return Envelope[Any](type=MEMORY_QUERY, session_id=session_id, body=body)


async def test_request_over_stream_gets_its_own_answer_even_an_instant_one(bus: Bus, session_id: str) -> None:
    answerer = await _answer_memory_queries(bus, session_id)
    try:
        result = await request_over_stream(
            bus, _query(session_id, "q1"), f"{MEMORY_RESULT}.{session_id}", MemoryResult, timeout_s=5.0
        )
    finally:
        await answerer.stop()
    assert result.request_id == "q1" and result.stored_id == "q1" and result.error is None


async def test_request_over_stream_says_plainly_when_nobody_answers(bus: Bus, session_id: str) -> None:
    subject = f"{MEMORY_RESULT}.{session_id}"
    with pytest.raises(ReplyTimeout, match=rf"no MemoryResult for request q1 on {subject} within 0.2 s"):
        await request_over_stream(bus, _query(session_id, "q1"), subject, MemoryResult, timeout_s=0.2)


async def test_several_requests_in_flight_each_get_their_own_answer(bus: Bus, session_id: str) -> None:
    answerer = await _answer_memory_queries(bus, session_id, delay_s=0.01)
    try:
        async with stream_replies(bus, f"{MEMORY_RESULT}.{session_id}", MemoryResult) as replies:
            sent = [await replies.send(_query(session_id, f"q{i}")) for i in range(5)]
            results = [await replies.wait(pending, timeout_s=5.0) for pending in reversed(sent)]
    finally:
        await answerer.stop()
    assert [r.stored_id for r in results] == [f"q{i}" for i in reversed(range(5))]


async def test_close_while_the_server_is_away_returns_cleanly(tmp_path: Path) -> None:
    """A service stopped while its nats-server is down exits cleanly, not with the client's errors."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    closing = await Bus.connect(server.url, "closing")
    server.stop()
    await eventually(lambda: not closing.connected, timeout=10, what="the client sees the server gone")
    await asyncio.wait_for(closing.close(), 15)
    assert closing.nc.is_closed
