"""pagi.bus._acks.AckedPublisher, the stream publish every event goes through, against a real
nats-server: the sequence, a duplicate's sequence, and nats-py's own errors when nothing stores it,
the server refuses it, or nobody answers in time."""

from __future__ import annotations

import time

import nats.errors
import nats.js.errors
import pytest

from bus_schemas.streams import EVENTS
from pagi.bus import Bus
from pagi.bus._acks import AckedPublisher


@pytest.fixture
async def publisher(bus: Bus) -> AckedPublisher:
    return AckedPublisher(bus.nc)


async def test_the_ack_is_the_stream_sequence_and_a_duplicate_gets_the_first_one(
    publisher: AckedPublisher, bus: Bus, session_id: str
) -> None:
    subject = f"job.log.{session_id}"
    first = await publisher.publish(subject, b"{}", {"Nats-Msg-Id": f"{session_id}-1"}, timeout_s=2)
    second = await publisher.publish(subject, b"{}", {"Nats-Msg-Id": f"{session_id}-2"}, timeout_s=2)
    again = await publisher.publish(subject, b"{}", {"Nats-Msg-Id": f"{session_id}-1"}, timeout_s=2)
    assert second == first + 1 and again == first
    stored = await bus.js.get_msg(EVENTS.name, second)
    assert stored.subject == subject
    await publisher.close()


async def test_a_subject_no_stream_stores_is_no_stream_response(publisher: AckedPublisher) -> None:
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await publisher.publish("nowhere.at.all", b"{}", {}, timeout_s=2)
    await publisher.close()


async def test_a_refused_message_raises_the_server_s_error(publisher: AckedPublisher, session_id: str) -> None:
    with pytest.raises(nats.js.errors.BadRequestError) as refused:
        await publisher.publish(f"job.log.{session_id}", b"{}", {"Nats-Expected-Stream": "NOT_THIS_ONE"}, timeout_s=2)
    assert "stream" in (refused.value.description or "").lower()
    await publisher.close()


async def test_nobody_answering_times_out_within_a_sweep(publisher: AckedPublisher, bus: Bus) -> None:
    silent = await bus.nc.subscribe("silent.requests")  # takes the message, never replies
    started = time.monotonic()
    with pytest.raises(nats.errors.TimeoutError):
        await publisher.publish("silent.requests", b"{}", {}, timeout_s=0.5)
    assert 0.5 <= time.monotonic() - started < 2.0
    await silent.unsubscribe()
    await publisher.close()
