"""Pending approvals in KV (`pagi_approvals`, key `<session>.<approval>`): they survive any restart
and can be answered from any client."""

from __future__ import annotations

from collections.abc import Callable

from bus_schemas.approval import ApprovalRecord
from bus_schemas.streams import APPROVALS
from pagi.bus import Bus
from pagi.stores import KVStore

from . import kvjson


def approval_key(session_id: str, approval_id: str) -> str:
    return f"{session_id}.{approval_id}"


def pending_key(session_id: str, approval_id: str) -> str:
    """An index entry beside the record while it is pending, so listing pending ones reads only them."""
    return f"{session_id}.{approval_id}.pending"


class ApprovalStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> ApprovalStore:
        return cls(await bus.kv(APPROVALS))

    async def create(self, record: ApprovalRecord) -> None:
        # The index first: a crash in between leaves an entry that `pending` cleans up, never an
        # approval that nobody lists (and so never expires).
        await self.kv.put(pending_key(record.session_id, record.approval_id), b"")
        await self.kv.create(approval_key(record.session_id, record.approval_id), record.model_dump_json().encode())

    async def get(self, session_id: str, approval_id: str) -> ApprovalRecord | None:
        return await self.kv.get_model(approval_key(session_id, approval_id), ApprovalRecord)

    async def find(self, approval_id: str) -> ApprovalRecord | None:
        """By id alone (for `POST /v1/approvals/{id}`)."""
        for key in await self.kv.keys(f"*.{approval_id}"):
            return await self.kv.get_model(key, ApprovalRecord)
        return None

    async def update(
        self, record: ApprovalRecord, change: Callable[[ApprovalRecord], ApprovalRecord | None]
    ) -> ApprovalRecord:
        updated = await kvjson.update(
            self.kv, approval_key(record.session_id, record.approval_id), ApprovalRecord, change
        )
        assert updated is not None
        if updated.state != "pending":
            await self.kv.delete(pending_key(updated.session_id, updated.approval_id))
        return updated

    async def pending(self, session_id: str | None = None) -> list[ApprovalRecord]:
        found = []
        for key in await self.kv.keys(f"{session_id or '*'}.*.pending"):
            session, approval_id, _ = key.split(".")
            record = await self.get(session, approval_id)
            if record is None:
                continue  # created in a moment, or its creation crashed: expiry cannot apply
            if record.state != "pending":
                await self.kv.delete(key)
                continue
            found.append(record)
        return sorted(found, key=lambda r: r.created_at)
