"""A steady mixed workload on the bus (greetings, memory queries, tool runs, builds), approving every
approval request as a person would, and the end-of-case checks: every accepted chat message got
exactly one final answer, every approved tool ran at most once (exactly once unless its worker died
during the run, which it then reports), and nothing is left pending on any consumer.

Events are followed with a `Tail` (it re-creates itself after a server restart, unlike a core
subscription); the checks read the stream itself, which is the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nats.js.errors

from bus_schemas import ApprovalDecision, ChatIn, DecodeError, Envelope, decode, new_id
from bus_schemas.streams import (
    BUILD_WORKER,
    EVENTS,
    MEMORY_WORKER,
    PLANNER_CHAT_IN,
    PLANNER_CONTROL,
    PLANNER_RESULTS,
    TOOL_WORKER,
)
from bus_schemas.subjects import APPROVE_DECISION, APPROVE_REQUEST, CHAT_IN, CHAT_OUT
from pagi.bus import Bus, BusUnavailable, Tail

from .support import eventually

Kind = Literal["greeting", "memory", "tool", "build"]
MIX: tuple[Kind, ...] = ("greeting", "memory", "tool", "greeting", "build", "memory", "tool", "greeting")
CONSUMERS = (PLANNER_CHAT_IN, PLANNER_CONTROL, PLANNER_RESULTS, MEMORY_WORKER, TOOL_WORKER, BUILD_WORKER)
BUILD_CODE = "def main(args):\n    return args.get('a', 1) * 2\n"
# What a job of each kind sends to its worker, for "mid-job" kills.
REQUEST_TYPES = {"memory": "memory.query", "tool": "tool.run", "build": "build.req"}
RESULT_OF = {"memory.result": "memory.query", "tool.result": "tool.run", "build.result": "build.req"}
FOLLOWED = ("approve.request", "chat.out", "memory.query", "memory.result", "tool.run", "tool.result", "build.req",
            "build.result")  # fmt: skip


@dataclass
class Job:
    job_id: str
    session: str
    kind: Kind
    token: str
    sent_at: float
    answered_at: float | None = None
    answer: Envelope[Any] | None = None


@dataclass
class Workload:
    bus: Bus
    prefix: str = field(default_factory=lambda: f"f{uuid.uuid4().hex[:6]}")
    sessions: int = 4
    tool_cmd: str = "echo ran >> {file}"
    jobs: dict[str, Job] = field(default_factory=dict)
    refused: int = 0
    refusals: list[str] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)  # worker request type -> requests unanswered
    approvals: set[str] = field(default_factory=set)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tail: Tail | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _requests: set[str] = field(default_factory=set)
    _sending: dict[str, Job] = field(default_factory=dict)

    def session(self, n: int) -> str:
        return f"{self.prefix}-{n % self.sessions}"

    async def start(self) -> None:
        # A wildcard is a whole token, so the tail takes every session and keeps this workload's.
        filters = [f"{t}.*" for t in FOLLOWED]
        self._tail = Tail(self.bus, EVENTS.name, filters, self._on_event, heartbeat_s=1.0)
        await self._tail.start("new")

    async def stop(self) -> None:
        if self._tail is not None:
            await self._tail.stop()
        for task in list(self._tasks):
            task.cancel()

    # --- sending ------------------------------------------------------------------------------

    def message(self, kind: Kind, token: str) -> str:
        if kind == "greeting":
            return f"hello {token}"
        if kind == "memory":
            return f"/memory fault case {token}"
        if kind == "tool":
            return "/tool command_exec " + json.dumps({"cmd": self.tool_cmd.format(file=f"ran-{token}.txt")})
        return f"/build t{token} python\n{BUILD_CODE}"

    async def send(self, kind: Kind) -> Job | None:
        n = next(self._counter)
        token = f"{n:05d}{uuid.uuid4().hex[:4]}"
        session, job_id = self.session(n), new_id()
        event = Envelope[ChatIn](
            id=job_id, type=CHAT_IN, session_id=session, job_id=job_id,
            body=ChatIn(message=self.message(kind, token), user_id="fault-suite"),
        )  # fmt: skip
        job = Job(job_id, session, kind, token, time.monotonic())
        # Known before the publish returns: the answer can arrive before a slow ack does.
        self._sending[job_id] = job
        try:
            await self.bus.publish(event, retry_for_s=5.0)
        except (BusUnavailable, nats.js.errors.APIError) as exc:
            # Not accepted: the sender is told, and nothing is promised for it.
            self.refused += 1
            self.refusals.append(f"{type(exc).__name__}: {exc}")
            return None
        finally:
            del self._sending[job_id]
        self.jobs.setdefault(job_id, job)
        return job

    async def run_steady(self, rate_per_s: float, stop: asyncio.Event, kinds: Iterable[Kind] = MIX) -> None:
        """Send the mix at a steady rate until `stop` is set; each send is its own task (a send may
        wait while the bus is away, the next ones still go out on time)."""
        for kind in itertools.cycle(kinds):
            if stop.is_set():
                return
            self._spawn(self.send(kind))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate_per_s)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- following ----------------------------------------------------------------------------

    async def _on_event(self, seq: int, event: Envelope[Any]) -> None:
        if not event.session_id.startswith(self.prefix):
            return
        if event.type == APPROVE_REQUEST and event.body.approval_id not in self.approvals:
            self.approvals.add(event.body.approval_id)
            self._spawn(self._approve(event.session_id, event.body.approval_id))
        elif event.type in REQUEST_TYPES.values() and event.id not in self._requests:
            self._requests.add(event.id)
            self.in_flight[event.type] += 1
        elif event.type in RESULT_OF and self.in_flight[RESULT_OF[event.type]] > 0:
            self.in_flight[RESULT_OF[event.type]] -= 1
        elif event.type == CHAT_OUT and event.body.is_final and event.body.status != "awaiting_approval":
            job = self.jobs.get(event.job_id or "") or self._sending.get(event.job_id or "")
            if job is not None and job.answer is None:
                job.answer, job.answered_at = event, time.monotonic()
        self._changed.set()

    async def _approve(self, session: str, approval_id: str) -> None:
        decision = Envelope[ApprovalDecision](
            id=f"approve-{approval_id}", type=APPROVE_DECISION, session_id=session,
            body=ApprovalDecision(approval_id=approval_id, approved=True, decided_by="fault-suite"),
        )  # fmt: skip
        while True:  # a person retries a click that failed; the id makes a retry harmless
            try:
                await self.bus.publish(decision, retry_for_s=5.0)
                return
            except BusUnavailable:
                await asyncio.sleep(0.5)  # the pace of the retries, not a wait for some state

    async def wait_for(self, predicate: Any, timeout_s: float, what: str) -> None:
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)

        try:
            await asyncio.wait_for(until(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; {self.summary()}") from None

    async def wait_in_flight(self, request_type: str, timeout_s: float = 30.0) -> None:
        await self.wait_for(lambda: self.in_flight[request_type] > 0, timeout_s, f"a {request_type} in flight")

    async def wait_answered(self, timeout_s: float) -> None:
        await self.wait_for(lambda: all(j.answer for j in self.jobs.values()), timeout_s, "every job's answer")

    def unanswered(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.answer is None]

    def summary(self) -> str:
        by_kind = Counter(j.kind for j in self.jobs.values())
        open_ = Counter(j.kind for j in self.unanswered())
        in_flight = dict(self.in_flight)
        return f"jobs {dict(by_kind)}, unanswered {dict(open_)}, refused {self.refused}, in flight {in_flight}"

    # --- the checks ---------------------------------------------------------------------------

    async def stored(self, event_type: str) -> list[Envelope[Any]]:
        events = []
        async for stored in self.bus.read_events(EVENTS.name, [f"{event_type}.*"]):
            if not stored.subject.rsplit(".", 1)[-1].startswith(self.prefix):
                continue
            event = decode(stored.subject, stored.data, stored.headers, fallback_id=None)
            if event.session_id.startswith(self.prefix):
                events.append(event)
        return events

    async def verify(self, data_dir: Path, timeout_s: float = 60.0) -> None:
        """Every accepted message: exactly one final answer (from the stream, not our tail). Every
        tool: its side effect at most once, and exactly once unless it reports an interrupted run.
        Nothing pending on any consumer."""
        with contextlib.suppress(AssertionError):  # the stream below is the judge; the tail only waits
            await self.wait_answered(timeout_s)
        wrong: dict[str, int] = {}

        async def each_answered_once() -> bool:
            nonlocal wrong
            finals: dict[str, int] = defaultdict(int)
            for event in await self.stored(CHAT_OUT):
                if event.body.is_final and event.body.status != "awaiting_approval":
                    finals[event.job_id or ""] += 1
            wrong = {j.job_id: finals.get(j.job_id, 0) for j in self.jobs.values() if finals.get(j.job_id, 0) != 1}
            return not wrong

        # Read again for a few seconds: seen once after a disk-full restart, a filtered read missed an
        # answer a full read had. The assert below says which jobs and what the stream holds for them.
        with contextlib.suppress(AssertionError):
            await eventually(each_answered_once, 2, 1, "every job answered exactly once")
        assert not wrong, f"jobs without exactly one answer: {wrong}; {self.summary()}; {await self.history(wrong)}"
        results = {e.body.request_id: e.body for e in await self.stored("tool.result")}
        runs = {e.job_id: e.body.request_id for e in await self.stored("tool.run")}
        for job in (j for j in self.jobs.values() if j.kind == "tool"):
            assert job.job_id in runs, f"approved tool job {job.job_id} never reached the tool worker"
            result = results.get(runs[job.job_id])
            assert result is not None, f"tool job {job.job_id} has no tool.result"
            ran = data_dir / "tool_worker" / "workspaces" / job.session / f"ran-{job.token}.txt"
            lines = ran.read_text().count("ran") if ran.exists() else 0
            assert lines <= 1, f"tool of job {job.job_id} ran {lines} times"
            if result.reason != "interrupted":
                assert lines == 1 and result.exit_code == 0, f"tool of job {job.job_id}: {result}"
        await self.wait_drained()

    async def history(self, job_ids: Iterable[str]) -> str:
        """What the stream holds for these jobs, for a failure message."""
        wanted, lines = set(job_ids), []
        async for stored in self.bus.read_events(EVENTS.name, ["*.*.*"]):
            try:
                event = decode(stored.subject, stored.data, stored.headers, fallback_id=None)
            except DecodeError:
                continue
            if event.job_id in wanted:
                lines.append(f"{stored.seq} {stored.subject} {event.job_id[:8]} {str(event.body)[:160]}")
        return "\n".join(lines)

    async def wait_drained(self, timeout_s: float = 30.0) -> None:
        async def drained() -> bool:
            states = {c.durable: await self.bus.consumer_state(c.stream, c.durable) for c in CONSUMERS}
            # A consumer that is not there belongs to a service this case does not run.
            busy = {k: s for k, s in states.items() if s is not None and (s.num_pending or s.num_ack_pending)}
            assert states[PLANNER_CHAT_IN.durable] is not None, "the planner's consumer is gone"
            assert not busy, f"consumers still holding messages: {busy}"
            return True

        await eventually(drained, timeout_s, 0.2, "every consumer drained")
