"""The chat WebSocket: resume mid-job with `resume_from`, owner isolation, bad resume points."""

from __future__ import annotations

from typing import Any

from bus_schemas import ApprovalDecision, ChatOut, Envelope
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_DECISION, CHAT_OUT, one_session
from pagi.bus import Bus, PullConsumer

from ..support import VERBOSE, ObserveFactory
from .conftest import EdgeFactory
from .events import log_line


async def frames_until(ws: Any, done: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Frames up to and including the first for which `done(frame)` holds."""
    frames = []
    while True:
        frame = await ws.receive_json(timeout=timeout)
        frames.append(frame)
        if done(frame):
            return frames


def is_event(event_type: str) -> Any:
    return lambda f: f["type"] == "event" and f["event_type"] == event_type


def is_status(status: str) -> Any:
    return lambda f: f["type"] == "status_update" and f["status"] == status


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["seq"] for f in frames if f.get("seq") is not None]


async def test_resume_mid_job_loses_nothing(
    make_edge: EdgeFactory, planner: list[PullConsumer], bus: Bus, observe: ObserveFactory, session_id: str
) -> None:
    edge = await make_edge()
    answers = await observe(f"{CHAT_OUT}.{session_id}")
    async with edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as ws:
        message = {"session_id": session_id, "user_id": "alice", "timestamp": 1, "message": "search for widgets"}
        await ws.send_json(message)
        # The job now waits for a human: the socket drops right here, mid-job.
        seen = await frames_until(ws, is_event("approve.request"))
    request = seen[-1]
    last_seen = max(seqs(seen))

    # While nobody watches, the person denies from the CLI and the job finishes.
    decision = ApprovalDecision(approval_id=request["body"]["approval_id"], approved=False, decided_by="alice")
    await bus.publish(
        Envelope[ApprovalDecision](
            type=APPROVE_DECISION, session_id=session_id, job_id=request["job_id"], body=decision
        )
    )
    await answers.wait_for(
        lambda events: any(isinstance(e.body, ChatOut) and e.body.status == "completed" for e in events)
    )
    stored = [m.seq async for m in bus.read_events(EVENTS.name, [one_session(session_id)])]

    async with edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as ws:
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "alice", "resume_from": last_seen})
        resumed = await frames_until(ws, is_status("resumed"))
        got = seqs(seen) + seqs(resumed)
        assert got == sorted(set(got)), "in order, no duplicate"
        assert set(stored) <= set(got), "no gap"
        assert all(s > last_seen for s in seqs(resumed))
        assert any(is_event(APPROVE_DECISION)(f) for f in resumed)
        answers_seen = [f for f in resumed if f["type"] == "complete_message" and f["job_id"] == request["job_id"]]
        assert "denied" in answers_seen[-1]["content"]

        # And live from there: the same socket carries the next job.
        await ws.send_json({**message, "message": "hello again"})
        job = (await frames_until(ws, is_status("queued")))[-1]["job_id"]
        answer = (await frames_until(ws, lambda f: f["type"] == "complete_message" and f["job_id"] == job))[-1]
        assert "hello again" in answer["content"] and answer["seq"] > max(got)


async def test_resume_from_zero_replays_the_whole_session(make_edge: EdgeFactory, bus: Bus, session_id: str) -> None:
    edge = await make_edge()
    published = [await log_line(bus, session_id, f"line {i}") for i in range(3)]
    async with edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as ws:
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "alice", "resume_from": 0})
        frames = await frames_until(ws, is_status("resumed"))
        assert seqs(frames) == published
        assert [f["details"] for f in frames[:3]] == ["line 0", "line 1", "line 2"]
        live = await log_line(bus, session_id, "live")
        assert (await ws.receive_json(timeout=5))["seq"] == live


async def test_a_user_sees_only_their_own_sessions(make_edge: EdgeFactory, bus: Bus, session_id: str) -> None:
    edge = await make_edge()
    async with (
        edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as alice,
        edge.ws_connect("/ws/chat/mallory", protocols=VERBOSE) as mallory,
    ):
        await alice.send_json({"type": "resume", "session_id": session_id, "user_id": "alice"})
        await frames_until(alice, is_status("subscribed"))
        for attempt in (
            {"type": "resume", "session_id": session_id, "user_id": "mallory", "resume_from": 0},
            {"type": "resume", "session_id": session_id, "user_id": "mallory"},
            {"session_id": session_id, "user_id": "mallory", "message": "let me in"},
        ):
            await mallory.send_json(attempt)
            refused = await mallory.receive_json(timeout=5)
            assert refused["status"] == "error"
            assert refused["details"] == f"session {session_id} belongs to another user"
        secret = await log_line(bus, session_id, "alice's secret")
        assert (await alice.receive_json(timeout=5))["seq"] == secret
        # Mallory's own session works, and nothing of Alice's reaches her socket meanwhile.
        own = f"{session_id}-m"
        await mallory.send_json({"type": "resume", "session_id": own, "user_id": "mallory"})
        await frames_until(mallory, is_status("subscribed"))
        mine = await log_line(bus, own, "mallory's line")
        frame = await mallory.receive_json(timeout=5)
        assert (frame["session_id"], frame["seq"]) == (own, mine)


async def test_bad_resume_points_are_refused_clearly(make_edge: EdgeFactory, bus: Bus, session_id: str) -> None:
    edge = await make_edge()
    async with edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as ws:
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "alice", "resume_from": 10**9})
        beyond = await ws.receive_json(timeout=5)
        assert beyond["status"] == "error" and "beyond the stream's last sequence" in beyond["details"]
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "alice", "resume_from": -1})
        negative = await ws.receive_json(timeout=5)
        assert negative["status"] == "error" and "resume_from" in negative["details"]
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "alice", "resume_from": 0})
        assert (await ws.receive_json(timeout=5))["status"] == "resumed"


async def test_a_replay_longer_than_the_queue_waits_for_the_client(
    make_edge: EdgeFactory, bus: Bus, session_id: str
) -> None:
    edge = await make_edge(queue_size=4)
    published = [await log_line(bus, session_id, f"line {i}") for i in range(40)]
    async with edge.ws_connect("/ws/chat/alice", protocols=VERBOSE) as ws:
        await ws.send_json({"type": "resume", "session_id": session_id, "user_id": "alice", "resume_from": 0})
        frames = await frames_until(ws, is_status("resumed"))
        assert seqs(frames) == published
        assert not ws.closed
