"""The edge restarted under 50 connected browsers: each reconnects, resumes from the last stream
sequence it saw, gets exactly what it missed (answers published while the edge was down), with no
duplicate and no gap, and then chats live again."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bus_schemas import ChatIn, Envelope, new_id
from bus_schemas.subjects import CHAT_IN
from pagi.bus import Bus

from ..stack import Stack
from ..support import VERBOSE, eventually

CLIENTS = 50


@dataclass
class Browser:
    """One tab: a WebSocket on its own user and session, keeping the largest `seq` it has seen."""

    url: str
    user: str
    session: str
    seqs: list[int] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # job id -> complete_message frames
    statuses: list[str] = field(default_factory=list)
    closed_with: int | None = None
    ws: aiohttp.ClientWebSocketResponse | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int:
        return max(self.seqs, default=0)

    async def connect(self, http: aiohttp.ClientSession, deadline_s: float = 60.0) -> None:
        async def accepted() -> aiohttp.ClientWebSocketResponse:
            try:
                return await http.ws_connect(f"{self.url}/ws/chat/{self.user}", protocols=VERBOSE)
            except (aiohttp.ClientError, OSError) as exc:  # the edge is not back yet: try again
                raise AssertionError(f"{type(exc).__name__}: {exc}") from exc

        self.ws = ws = await eventually(accepted, deadline_s, 0.2, f"the edge accepting {self.user}'s socket")
        self._reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame: dict[str, Any] = json.loads(msg.data)
            if frame.get("seq") is not None:
                self.seqs.append(int(frame["seq"]))
            if frame["type"] == "complete_message" and frame.get("is_final", True):
                job = frame.get("job_id") or ""
                self.answers[job] = self.answers.get(job, 0) + 1
            elif frame["type"] == "status_update":
                self.statuses.append(str(frame["status"]))
            self._changed.set()
        self.closed_with = ws.close_code
        self._changed.set()

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps({"session_id": self.session, "user_id": self.user, **frame}))

    async def wait(self, predicate: Any, timeout_s: float, what: str) -> None:
        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"{self.user}: no {what} in {timeout_s}s; statuses {self.statuses[-5:]}") from None


async def test_fifty_browsers_resume_across_an_edge_restart(stack: Stack, client: Bus) -> None:
    prefix = f"w{uuid.uuid4().hex[:6]}"
    browsers = [Browser(stack.edge_url, f"u{i}", f"{prefix}-{i}") for i in range(CLIENTS)]
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(b.connect(http) for b in browsers))
        await asyncio.gather(*(b.send({"message": "before the restart", "timestamp": 0}) for b in browsers))
        await asyncio.gather(*(b.wait(lambda b=b: len(b.answers) == 1, 60, "first answer") for b in browsers))

        # The edge goes away (a deploy): every socket is closed as "going away".
        await asyncio.to_thread(stack.services["edge"].stop)
        await asyncio.gather(*(b.wait(lambda b=b: b.closed_with is not None, 20, "close") for b in browsers))
        assert {b.closed_with for b in browsers} == {1001}
        # Meanwhile the session goes on without the edge (another tab, the CLI): answers are stored.
        missed: dict[str, str] = {}
        for b in browsers:
            job_id = new_id()
            missed[b.session] = job_id
            event = Envelope[ChatIn](
                id=job_id, type=CHAT_IN, session_id=b.session, job_id=job_id,
                body=ChatIn(message="while the edge was down", user_id=b.user),
            )  # fmt: skip
            await client.publish(event)
        marks = {b.session: b.last_seq for b in browsers}
        seen_before = {b.session: len(b.seqs) for b in browsers}

        await asyncio.to_thread(stack.services["edge"].start)
        await asyncio.gather(*(b.connect(http) for b in browsers))
        await asyncio.gather(*(b.send({"type": "resume", "resume_from": b.last_seq}) for b in browsers))
        await asyncio.gather(
            *(b.wait(lambda b=b: missed[b.session] in b.answers, 60, "missed answer") for b in browsers)
        )
        await asyncio.gather(*(b.send({"message": "after the restart", "timestamp": 1}) for b in browsers))
        await asyncio.gather(*(b.wait(lambda b=b: len(b.answers) == 3, 60, "live answer") for b in browsers))
        for b in browsers:
            await b.ws.close() if b.ws else None

    for b in browsers:
        after = b.seqs[seen_before[b.session] :]
        assert after and min(after) > marks[b.session], f"{b.user} got an event again after resuming"
        assert b.seqs == sorted(b.seqs) and len(set(b.seqs)) == len(b.seqs), f"{b.user}: {b.seqs}"
        assert all(count == 1 for count in b.answers.values()), f"{b.user}: {b.answers}"
        assert "resumed" in b.statuses
