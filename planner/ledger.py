"""The usage ledger: each usage.llm / usage.run event added into its totals in KV USAGE
(records/usage.py), one event at a time in stream order (USAGE_LEDGER holds one unacknowledged).

A total records the last stream sequence it counted, so a redelivered event (a crash between two
totals, a lost ack) is counted into the totals it missed and skipped by those it reached.
"""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope
from bus_schemas.usage import LlmUsage, RunUsage
from pagi.bus import Delivery
from pagi.stores import KVStore
from records.usage import count, day_of, keys_for


class LedgerHandler:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body = event.body
        if not isinstance(body, LlmUsage | RunUsage):
            return
        for key in keys_for(day_of(event.ts), body, event.session_id):
            await count(self.kv, key, body, delivery.stream_seq)
