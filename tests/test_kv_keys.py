"""Listing a bucket's keys (`pagi.stores.KVStore.keys`) is complete even when many listings run at
once right after the writes: nats-py's own end-of-data marker could come before entries already
delivered, and a busy edge then listed nothing (seen as an MCP server missing from its own list)."""

from __future__ import annotations

import asyncio
import uuid

from bus_schemas.streams import DONE
from pagi.bus import Bus


async def test_concurrent_listings_right_after_writes_see_every_live_key(bus: Bus) -> None:
    kv = await bus.kv(DONE)
    mine = f"t{uuid.uuid4().hex[:8]}"  # keys of this test's own under a token of their own
    assert await kv.keys(f"{mine}.>") == []
    names = [f"{mine}.k{i:03d}" for i in range(60)]
    await asyncio.gather(*(kv.put(name, b"v") for name in names))
    await kv.delete(names[0])
    listings = await asyncio.gather(*(kv.keys(f"{mine}.>") for _ in range(40)))
    assert all(sorted(found) == names[1:] for found in listings), {len(f) for f in listings}
    assert await kv.keys(f"{mine}.k059") == [f"{mine}.k059"] and await kv.keys(f"{mine}.none") == []
