"""Global search over chat messages and job log lines: both stores, and live over the bus."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bus_schemas import ChatIn, ChatOut, Envelope, JobLog
from bus_schemas.streams import EVENTS, ConsumerSpec
from bus_schemas.subjects import CHAT_IN, CHAT_OUT, JOB_LOG, all_sessions
from memory_worker.__main__ import routes_for
from memory_worker.errors import InvalidRequest
from memory_worker.events_index import DENSE_DIM, EVENTS_FUSION, EventHit, EventIndex, IndexedEvent, entry_for
from memory_worker.sparse import encode_query
from memory_worker.store_edge import EdgeStore
from memory_worker.store_qdrant import QdrantStore
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi.service import start_routes

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LINES = [
    IndexedEvent("e1", "message", "Please deploy the billing service to k8s-fra-1", "s1", T0, sender="user"),
    IndexedEvent("e2", "message", "Deployment of billing finished in 42 s", "s1", T0, sender="assistant"),
    IndexedEvent("e3", "log", "tool port_scan: 10.20.0.2 has ports 22 and 443 open", "s2", T0, "j2", level="tool"),
    IndexedEvent("e4", "log", "ECONNREFUSED 127.0.0.1:6379 while starting workers", "s2", T0, "j2", level="error"),
    IndexedEvent("e5", "message", "What does the coffee machine error E07 mean?", "s3", T0, sender="user"),
]


@pytest.fixture(params=["edge", "qdrant-client"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventIndex]:
    store = (
        EdgeStore(tmp_path / "events", DENSE_DIM, fusion=EVENTS_FUSION)
        if request.param == "edge"
        else QdrantStore("events", DENSE_DIM, location=":memory:", fusion=EVENTS_FUSION)
    )
    idx = EventIndex(store)
    idx.add(LINES)
    yield idx
    idx.close()


def ids(hits: list[EventHit]) -> list[str]:
    return [h.event.event_id for h in hits]


@pytest.mark.parametrize(
    ("typed", "best"),
    [
        ("de", {"e1", "e2"}),  # two characters already find the word being typed: deploy, deployment
        ("deplo", {"e1", "e2"}),
        ("billing depl", {"e1", "e2"}),
        ("deployment", {"e2"}),
        ("10.20.0.2", {"e3"}),
        ("10.20", {"e3"}),
        ("ECONNREFUSED", {"e4"}),
        ("econnref", {"e4"}),
        ("E07", {"e5"}),
    ],
)
def test_search_as_you_type(index: EventIndex, typed: str, best: set[str]) -> None:
    hits = index.search(typed)
    assert set(ids(hits)[: len(best)]) == best


def test_hits_carry_what_the_ui_shows(index: EventIndex) -> None:
    [log_hit] = index.search("port_scan", kind="log")
    assert (log_hit.event.job_id, log_hit.event.level, log_hit.event.session_id) == ("j2", "tool", "s2")
    assert log_hit.event.ts == T0
    messages = index.search("billing", kind="message")
    assert {h.event.sender for h in messages} == {"user", "assistant"}
    assert ids(index.search("billing", session_id="s3")) == []


def test_search_is_confined_to_the_given_sessions_before_the_limit(index: EventIndex) -> None:
    # "the" is in s1 and s3: confined to s3, its one best hit is s3's, whatever ranks above it in s1.
    assert ids(index.search("the", sessions=["s3"], limit=1)) == ["e5"]
    assert {h.event.session_id for h in index.search("billing", sessions=["s1", "s3"])} == {"s1"}
    assert index.search("billing", sessions=["s2", "s3"]) == []
    assert index.search("billing", sessions=[]) == []


def test_indexing_is_idempotent(index: EventIndex) -> None:
    assert index.add(LINES) == 0
    assert len(index.search("billing")) == 2


def test_too_short_or_long_queries_are_refused(index: EventIndex) -> None:
    with pytest.raises(InvalidRequest, match="at least 2 characters"):
        index.search(" d ")
    with pytest.raises(InvalidRequest, match="limit"):
        index.search("x" * 501)


def test_prefix_query_encoding() -> None:
    assert encode_query("depl", prefix_last=True) != encode_query("depl")
    assert encode_query("deploy ", prefix_last=True) == encode_query("deploy")


def test_what_gets_indexed() -> None:
    def env(type_: str, body: BaseModel) -> Envelope[Any]:
        return Envelope[Any](type=type_, session_id="s", job_id="j", body=body)

    asked, answered = (
        entry_for(env(CHAT_IN, ChatIn(message="hi there"))),
        entry_for(env(CHAT_OUT, ChatOut(content="a"))),
    )
    assert asked is not None and answered is not None
    assert (asked.sender, answered.sender) == ("user", "assistant")
    assert entry_for(env(CHAT_OUT, ChatOut(content="chunk", is_final=False))) is None
    line = entry_for(env(JOB_LOG, JobLog(level="warn", message="slow", service="x")))
    assert line is not None and (line.kind, line.level) == ("log", "warn")


def test_search_is_fast_enough_for_every_keystroke(tmp_path: Path) -> None:
    idx = EventIndex(EdgeStore(tmp_path / "events", DENSE_DIM, fusion=EVENTS_FUSION))
    words = "deploy restart billing queue timeout gateway cache node drain backup restore".split()
    idx.add(
        [
            IndexedEvent(f"x{i}", "log", f"{words[i % 11]} {words[(i * 7) % 11]} job {i} host-{i % 97}", "s", T0)
            for i in range(3000)
        ]
    )
    start = time.perf_counter()
    for typed in ["de", "dep", "depl", "deplo", "deploy", "deploy ho", "deploy host-4"] * 10:
        assert idx.search(typed)
    per_keystroke_ms = (time.perf_counter() - start) * 1000 / 70
    idx.close()
    assert per_keystroke_ms < 50


@pytest.fixture
async def live_index(bus: Bus, tmp_path: Path) -> AsyncIterator[MemoryWorker]:
    from concurrent.futures import ThreadPoolExecutor

    from memory_worker.embedding import load_embedder
    from memory_worker.memory import Memory

    embedder = load_embedder()
    executor = ThreadPoolExecutor(max_workers=1)
    worker = MemoryWorker(
        Memory(EdgeStore(tmp_path / "mem", embedder.dim), embedder),
        executor,
        EventIndex(EdgeStore(tmp_path / "events", DENSE_DIM, fusion=EVENTS_FUSION)),
    )
    # The consumer the contract should define (see the report): chat and job log, every session.
    spec = ConsumerSpec(
        stream=EVENTS.name,
        durable="memory-index",
        filter_subjects=(all_sessions(CHAT_IN), all_sessions(CHAT_OUT), all_sessions(JOB_LOG)),
    )
    consumers = await start_routes(bus, routes_for(worker, index_spec=spec))
    yield worker
    for consumer in consumers:
        await consumer.stop()
    await worker.close()


async def test_messages_and_logs_are_indexed_as_they_happen(
    bus: Bus, live_index: MemoryWorker, session_id: str
) -> None:
    events = live_index.events
    assert events is not None
    await bus.publish(Envelope[ChatIn](type=CHAT_IN, session_id=session_id, body=ChatIn(message="rotate the vpn keys")))
    await bus.publish(
        Envelope[JobLog](
            type=JOB_LOG,
            session_id=session_id,
            job_id="j1",
            body=JobLog(level="tool", message="wg rotated", service="t"),
        )
    )
    deadline = time.monotonic() + 10
    while len(await live_index.run(events.search, "rot", session_id=session_id)) < 2:
        assert time.monotonic() < deadline, "events were not indexed"
        await bus.nc.flush()
    hits = await live_index.run(events.search, "vpn", session_id=session_id)
    assert hits[0].event.sender == "user" and hits[0].event.ts > T0 + timedelta(days=-1)
