"""Publishing to a stream and awaiting its ack, without nats-py's request machinery.

nats-py's `JetStreamContext.publish` goes through `Client.request`: a random token, a future with a
done-callback, `asyncio.wait_for` (a timer per publish), stdlib JSON and a PubAck dataclass. Per
publish that is about 36 µs of CPU against 20 µs this way (bench/README.md, "Round trip"), and the
chat path publishes five to six times a message. Here one subscription takes every ack, futures are
keyed by a counter, and one sweeper times out what is late; errors are nats-py's own exceptions,
so callers (and TRANSIENT_ERRORS) treat them as before.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any, Final

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ._subscription import unsubscribe_quietly

# How often late acks are looked for: a timed-out publish fails at most this much after its timeout.
SWEEP_S: Final = 0.25
NO_RESPONDERS: Final = "503"


class AckedPublisher:
    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = ""
        self._tokens = itertools.count()
        self._waiting: dict[str, tuple[asyncio.Future[int], float]] = {}
        self._sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], timeout_s: float) -> int:
        """The stream sequence the server stored the message at; nats-py's errors otherwise."""
        if self._sub is None:
            await self._start()
        token = str(next(self._tokens))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[token] = (future, time.monotonic() + timeout_s)
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
            return await future
        finally:
            self._waiting.pop(token, None)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await unsubscribe_quietly(self._sub)
        for future, _ in self._waiting.values():
            if not future.done():
                future.set_exception(nats.errors.ConnectionClosedError())

    async def _start(self) -> None:
        async with self._starting:
            if self._sub is not None:
                return
            self._prefix = self._nc.new_inbox() + "."
            self._sub = await self._nc.subscribe(self._prefix + "*", cb=self._on_ack)
            self._sweeper = asyncio.create_task(self._sweep())

    async def _on_ack(self, msg: Msg) -> None:
        waiting = self._waiting.get(msg.subject[len(self._prefix) :])
        if waiting is None or waiting[0].done():
            return  # late: its publish already timed out (and was retried under the same Nats-Msg-Id)
        future = waiting[0]
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            reply: Any = orjson.loads(msg.data)
            if "error" in reply:
                nats.js.errors.APIError.from_error(reply["error"])  # raises the error's own class
            future.set_result(int(reply["seq"]))
        except Exception as exc:  # an APIError, or an ack we cannot read: the publisher's to handle
            future.set_exception(exc)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            now = time.monotonic()
            for future, deadline in list(self._waiting.values()):
                if deadline <= now and not future.done():
                    future.set_exception(nats.errors.TimeoutError())
