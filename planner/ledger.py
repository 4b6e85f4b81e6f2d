"""The usage ledger: each usage.llm / usage.run event added into its totals in KV USAGE
(records/usage.py), one event at a time in stream order (USAGE_LEDGER holds one unacknowledged).

A total records the last stream sequence it counted, so a redelivered event (a crash between two
totals, a lost ack) is counted into the totals it missed and skipped by those it reached. A worker's
run names no user (the tool worker does not know the session's owner): the job it ran for does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bus_schemas import Envelope
from bus_schemas.usage import LlmUsage, RunUsage
from pagi.bus import Delivery
from pagi.stores import KVStore
from records.jobs import JobStore
from records.usage import count, day_of, keys_for


class LedgerHandler:
    def __init__(self, kv: KVStore, jobs: JobStore | None = None) -> None:
        self.kv = kv
        self.jobs = jobs

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body = event.body
        if not isinstance(body, LlmUsage | RunUsage):
            return
        if isinstance(body, RunUsage) and body.user_id is None and event.job_id and self.jobs is not None:
            job = await self.jobs.get(event.session_id, event.job_id)
            if job is not None and job.user_id:
                body = body.model_copy(update={"user_id": job.user_id})
        # Distinct keys, so all at once; one failing retries the event, and those it reached skip it.
        keys = keys_for(day_of(event.ts), body, event.session_id)
        await asyncio.gather(*(count(self.kv, key, body, delivery.stream_seq) for key in keys))
