"""`pagi replay` and GET /v1/audit: a session's events in stream order, filtered by the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import ActionResponse, ChatIn, ChatOut, DeadLetter, Envelope, JobLog, PlanAction, ToolRun
from bus_schemas.subjects import DEAD_LETTER
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from pagi.timeline import Entry, line, parse_since, session_filters
from pagi_cli.nats_server import NatsServer
from pagi_cli.replay import timeline
from pagi_cli.tail import tail

Client = TestClient[web.Request, web.Application]
SECRET = "sk-abcdefghijklmnopqrstuvwxyz0123"


def _events(session_id: str, job: str) -> list[Envelope[Any]]:
    answer = ActionResponse(content="hello")
    args = {"cmd": "ls", "api_key": SECRET}
    chat = Envelope[Any](id=job, type="chat.in", session_id=session_id, job_id=job, body=ChatIn(message=f"hi {job}"))
    return [
        chat,
        chat.caused("plan", "plan.action", PlanAction(action=answer, raw_decision="{}", decided_by="deterministic")),
        chat.caused("tool", "tool.run", ToolRun(request_id=f"r{job}", tool_name="command_exec", args=args)),
        chat.caused("log", "job.log", JobLog(level="plan", service="planner", message="answered", status="completed")),
        chat.caused("out", "chat.out", ChatOut(content="hello")),
    ]


@pytest.fixture
async def recorded(bus: Bus, session_id: str) -> list[Envelope[Any]]:
    """Two jobs of this session interleaved with another session's, and one dead letter."""
    mine: list[Envelope[Any]] = []
    for n in range(2):
        for own, other in zip(_events(session_id, f"j{n}"), _events(f"{session_id}-x", f"k{n}"), strict=True):
            await bus.publish(own)
            await bus.publish(other)
            mine.append(own)
    dead = Envelope[Any](
        type=DEAD_LETTER,
        session_id=session_id,
        body=DeadLetter(reason="payload is not valid msgpack", subject=f"chat.in.{session_id}", consumer="planner"),
    )
    await bus.publish_dead_letter(dead, "chat.in")
    mine.append(dead)
    return mine


async def collect(bus: Bus, session_id: str, **options: Any) -> list[Entry]:
    return [entry async for entry in timeline(bus, session_id, **options)]


async def test_replay_is_the_sessions_events_in_stream_order(
    bus: Bus, session_id: str, recorded: list[Envelope[Any]]
) -> None:
    entries = await collect(bus, session_id)
    assert [e.event.id for e in entries if e.event] == [e.id for e in recorded]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert all(e.subject.endswith(f".{session_id}") for e in entries)
    assert entries[-1].subject == f"dlq.chat.in.{session_id}" and entries[-1].event_type == DEAD_LETTER


async def test_type_seq_and_time_filters(bus: Bus, session_id: str, recorded: list[Envelope[Any]]) -> None:
    everything = await collect(bus, session_id)
    only = await collect(bus, session_id, event_types=["chat.in", DEAD_LETTER])
    assert [e.event_type for e in only] == ["chat.in", "chat.in", DEAD_LETTER]
    third = everything[2]
    assert [e.seq for e in await collect(bus, session_id, from_seq=third.seq)] == [e.seq for e in everything[2:]]
    later = await collect(bus, session_id, since=everything[5].time)
    assert later and all(e.time >= everything[5].time for e in later) and later[-1].seq == everything[-1].seq
    assert await collect(bus, session_id, since=everything[-1].time + timedelta(seconds=1)) == []
    assert await collect(bus, "no-such-session") == []


async def test_follow_goes_on_with_live_events(bus: Bus, session_id: str, recorded: list[Envelope[Any]]) -> None:
    seen: list[Entry] = []
    caught_up, new_one = asyncio.Event(), asyncio.Event()

    async def follow() -> None:
        async with contextlib.aclosing(timeline(bus, session_id, follow=True)) as entries:
            async for entry in entries:
                seen.append(entry)
                if len(seen) == len(recorded):
                    caught_up.set()
                if len(seen) > len(recorded):
                    new_one.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(caught_up.wait(), 10)
    late = Envelope[Any](type="chat.in", session_id=session_id, body=ChatIn(message="late"))
    await bus.publish(late)
    await asyncio.wait_for(new_one.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert seen[-1].event is not None and seen[-1].event.id == late.id


def test_line_is_one_readable_line_without_secrets() -> None:
    event = _events("s1", "j1")[2]
    text = line(Entry(42, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "tool.run.s1", event))
    assert text.startswith("2026-01-02 03:04:05.000  #42 ")
    assert "tool.run" in text and "command_exec" in text and SECRET not in text and "[redacted]" in text
    assert "\n" not in text


def test_since_accepts_ages_and_times() -> None:
    assert parse_since("2026-01-02T03:04:05Z").isoformat() == "2026-01-02T03:04:05+00:00"
    assert parse_since("2026-01-02T03:04:05").tzinfo is not None
    for bad in ("yesterday", "15x", ""):
        with pytest.raises(ValueError):
            parse_since(bad)


async def pagi(nats_server: NatsServer, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pagi_cli", *args, "--nats-url", nats_server.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_command_line(nats_server: NatsServer, session_id: str, recorded: list[Envelope[Any]]) -> None:
    code, out, _ = await pagi(nats_server, "replay", session_id)
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(recorded)
    assert "chat.in" in lines[0] and "user ?: hi j0" in lines[0]
    assert "dead letter from planner" in lines[-1]
    code, out, _ = await pagi(nats_server, "replay", session_id, "--json", "--type", "tool.run")
    [first, _] = [json.loads(x) for x in out.splitlines()]
    assert first["event"]["body"]["args"] == {"cmd": "ls", "api_key": "[redacted]"} and SECRET not in out
    code, _, err = await pagi(nats_server, "replay", session_id, "--type", "chat.nope")
    assert code == 2 and "unknown event type chat.nope" in err


@pytest.fixture
async def bare_edge(bus: Bus) -> AsyncIterator[Client]:
    """The edge without a planner: the recorded session stays as recorded."""
    async with TestClient(TestServer(make_app(EdgeSettings(), bus=bus))) as client:
        yield client


async def test_audit_reads_pages_of_the_stream(
    bare_edge: Client, session_id: str, recorded: list[Envelope[Any]]
) -> None:
    response = await bare_edge.get("/v1/audit", params={"session": session_id})
    body = await response.json()
    assert response.status == 200 and body["count"] == len(recorded) and body["next_after_seq"] is None
    assert [e["event"]["id"] for e in body["events"]] == [e.id for e in recorded]
    assert SECRET not in json.dumps(body)

    tools = await (await bare_edge.get("/v1/audit", params={"session": session_id, "type": "tool.run"})).json()
    assert [e["type"] for e in tools["events"]] == ["tool.run", "tool.run"]
    every_session = await (await bare_edge.get("/v1/audit", params={"type": "chat.in"})).json()
    assert every_session["count"] == 4

    pages, after = [], None
    while True:
        params = {"session": session_id, "limit": "4", **({"after_seq": str(after)} if after else {})}
        page = await (await bare_edge.get("/v1/audit", params=params)).json()
        pages.append([e["seq"] for e in page["events"]])
        after = page["next_after_seq"]
        if after is None:
            break
    assert [len(p) for p in pages] == [4, 4, 3]
    assert [seq for page in pages for seq in page] == [e["seq"] for e in body["events"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"session": "bad session!"}, "session"),
        ({"type": "chat.nope"}, "type"),
        ({"since": "last tuesday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after_seq": "-1"}, "after_seq"),
        ({"sesion": "typo"}, "sesion"),
    ],
)
async def test_audit_says_what_is_wrong_with_a_bad_query(bare_edge: Client, params: dict[str, str], field: str) -> None:
    response = await bare_edge.get("/v1/audit", params=params)
    body = await response.json()
    assert response.status == 400
    assert body["details"][0]["field"] == field and body["error"].startswith(f"invalid {field}")


async def test_tail_shows_live_events_decoded_and_other_payloads_as_text(bus: Bus, session_id: str) -> None:
    lines: list[str] = []
    got = asyncio.Event()

    def write(text: str) -> None:
        lines.append(text)
        if len(lines) >= 2:
            got.set()

    stop = asyncio.Event()
    task = asyncio.create_task(tail(bus, [*session_filters(session_id), "pagi.heartbeat.>"], False, stop, write))

    async def publish_until_seen() -> None:
        # tail subscribes in its own task: publish again until its subscriptions have seen both.
        while not got.is_set():
            await bus.publish(Envelope[Any](type="chat.in", session_id=session_id, body=ChatIn(message="live one")))
            await bus.announce("pagi.heartbeat.test.x", b'{"service": "test"}')
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(got.wait(), 0.5)

    await asyncio.wait_for(publish_until_seen(), 10)
    stop.set()
    await task
    assert any(f"chat.in.{session_id}" in text and "user ?: live one" in text for text in lines)
    assert any(text.startswith('pagi.heartbeat.test.x  {"service": "test"}') for text in lines)
