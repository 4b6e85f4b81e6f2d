"""The consume loop against a real nats-server: poison messages, retries, and a server restart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack

from bus_schemas import ChatIn, DeadLetter, Envelope, JobLog, ToolRun
from bus_schemas.streams import EVENTS, ConsumerSpec
from bus_schemas.subjects import CHAT_OUT, JOB_LOG
from pagi.bus import Bus
from pagi.consume import Delivery, PullConsumer
from pagi_cli.nats_server import NatsServer

from .support import EventCollector, ObserveFactory


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
