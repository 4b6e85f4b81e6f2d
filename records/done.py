"""Once per request id: claim before the side effect, record the result after it (KV `pagi_done`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, Literal, TypeVar, cast

from pydantic import BaseModel

from .stores import KV

R = TypeVar("R", bound=BaseModel)  # the record kept per request
Result = TypeVar("Result", bound=BaseModel)  # what the request produced

Claim = Literal["claimed", "done", "interrupted"]


class Ledger(Generic[R, Result]):
    """Records of the `model` kind (`state` running/done, `result`, `worker`), under `<prefix>.<id>`."""

    def __init__(self, kv: KV, prefix: str, model: type[R], worker: str) -> None:
        self.kv = kv
        self.prefix = prefix
        self.model = model
        self.worker = worker

    def key(self, request_id: str) -> str:
        return f"{self.prefix}.{request_id}"

    async def claim(self, request_id: str) -> tuple[Claim, R | None]:
        """`claimed`: ours to run. `done`: ran before, here is its record. `interrupted`: a run started
        and never finished (its worker died): it must not run again."""
        running = self.model.model_validate({"state": "running", "worker": self.worker})
        if await self.kv.create(self.key(request_id), running.model_dump_json().encode()):
            return "claimed", None
        found = await self.kv.get(self.key(request_id))
        if found is None:  # expired between the two calls: claim again
            return await self.claim(request_id)
        record = self.model.model_validate_json(found[0])
        return ("done" if getattr(record, "state", None) == "done" else "interrupted"), record

    async def finish(self, request_id: str, record: R) -> None:
        await self.kv.put(self.key(request_id), record.model_dump_json().encode())

    async def once(self, request_id: str, perform: Callable[[bool], Awaitable[Result]]) -> Result:
        """The request's result, its side effect performed at most once: the recorded result when it
        ran before; else `perform(interrupted)`, whose result is recorded. `interrupted` is true when a
        run started and its worker died: `perform` must then report that, not run it again."""
        claim, record = await self.claim(request_id)
        recorded = getattr(record, "result", None)
        if claim == "done" and recorded is not None:
            return cast(Result, recorded)
        result = await perform(claim == "interrupted")
        await self.finish(
            request_id, self.model.model_validate({"state": "done", "result": result, "worker": self.worker})
        )
        return result
