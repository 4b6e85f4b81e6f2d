"""The planner over a real bus: raw JSON in (as the nats CLI sends it), answer out."""

from __future__ import annotations

import json

from bus_schemas import ChatIn, Envelope, PlanAction
from bus_schemas.subjects import CHAT_OUT, PLAN_ACTION, one_session
from pagi.bus import Bus, PullConsumer

from .support import ObserveFactory


async def test_raw_json_publish_is_answered(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    # Exactly what `nats pub chat.in.<session> '{"message":"hello"}'` puts on the wire.
    await bus.nc.publish(f"chat.in.{session_id}", json.dumps({"message": "hello"}).encode())

    [answer] = await events.wait_count(CHAT_OUT, 1)
    assert "hello" in answer.body.content
    assert answer.body.actions_taken == ["ActionResponse"]
    [plan] = events.of_type(PLAN_ACTION)
    assert isinstance(plan.body, PlanAction)
    assert plan.body.action.action_type == "ActionResponse"
    assert plan.job_id == answer.job_id
    assert answer.causation_id == plan.causation_id


async def test_bare_chat_in_uses_the_session_in_the_payload(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(one_session(session_id))
    await bus.nc.publish("chat.in", json.dumps({"message": "hi", "session_id": session_id}).encode())
    [answer] = await events.wait_count(CHAT_OUT, 1)
    assert answer.session_id == session_id


async def test_msgpack_envelope_is_answered_once_even_if_published_twice(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    events = await observe(f"chat.out.{session_id}")
    question = Envelope[ChatIn](type="chat.in", session_id=session_id, body=ChatIn(message="once"))
    await bus.publish(question, fmt="msgpack")
    await bus.publish(question, fmt="msgpack")  # same id: JetStream drops the duplicate
    await events.wait_count(CHAT_OUT, 1)
    second = Envelope[ChatIn](type="chat.in", session_id=session_id, body=ChatIn(message="twice"))
    await bus.publish(second)
    answers = await events.wait_count(CHAT_OUT, 2)
    assert [a.causation_id for a in answers] == [question.id, second.id]
