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


class ApprovalStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> ApprovalStore:
        return cls(await bus.kv(APPROVALS))

    async def create(self, record: ApprovalRecord) -> None:
        await self.kv.create(approval_key(record.session_id, record.approval_id), record.model_dump_json().encode())

    async def get(self, session_id: str, approval_id: str) -> ApprovalRecord | None:
        return await self.kv.get_model(approval_key(session_id, approval_id), ApprovalRecord)

    async def find(self, approval_id: str) -> ApprovalRecord | None:
        """By id alone (for `POST /v1/approvals/{id}`)."""
        for key in await self.kv.keys():
            if key.endswith(f".{approval_id}"):
                return await self.kv.get_model(key, ApprovalRecord)
        return None

    async def update(
        self, record: ApprovalRecord, change: Callable[[ApprovalRecord], ApprovalRecord | None]
    ) -> ApprovalRecord:
        updated = await kvjson.update(
            self.kv, approval_key(record.session_id, record.approval_id), ApprovalRecord, change
        )
        assert updated is not None
        return updated

    async def pending(self, session_id: str | None = None) -> list[ApprovalRecord]:
        found = []
        for key in await self.kv.keys():
            if session_id is not None and not key.startswith(f"{session_id}."):
                continue
            record = await self.kv.get_model(key, ApprovalRecord)
            if record is not None and record.state == "pending":
                found.append(record)
        return sorted(found, key=lambda r: r.created_at)
