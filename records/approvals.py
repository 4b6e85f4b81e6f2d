"""Approvals in KV (`pagi_approvals`, key `<session>.<approval>`): they survive any restart and can
be answered from any client. The planner creates and settles them; the edge lists them; the workers
re-read them before acting.

The life of an approval (every move a compare-and-set; a move already made is a no-op)::

    pending --approve--> approved      (a human said yes: the planner dispatches the action, once:
                                        the record names the one request id it may run as)
    pending --deny-----> denied        (a human said no: the job is told and decides again)
    pending --expire---> expired       (nobody answered in time: the job ends, nothing ran)
    pending --cancel---> cancelled     (the job was cancelled while it waited)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bus_schemas import Action, derived_id
from bus_schemas.approval import ApprovalRecord
from bus_schemas.streams import APPROVALS
from pagi.bus import Bus
from pagi.stores import KVStore

from . import kvjson

ApprovalChange = Callable[[ApprovalRecord], ApprovalRecord | None]


def approval_key(session_id: str, approval_id: str) -> str:
    """`approval_key("*", id)` finds an approval by id alone."""
    return f"{session_id}.{approval_id}"


def pending_key(session_id: str, approval_id: str) -> str:
    """An index entry beside the record while it is pending, so listing pending ones reads only them.
    `pending_key(session or "*", "*")` is the pattern of a session's (or every) pending entry."""
    return f"{session_id}.{approval_id}.pending"


def request_for(approval_id: str) -> str:
    """The one worker request an approval may be used for: the planner dispatches the approved
    action under this id, and the workers refuse the approval for any other (records/policy.py)."""
    return derived_id(approval_id, "request")


# --- the moves -----------------------------------------------------------------------------------


def _settle(
    state: str, by: str, at: datetime, reason: str | None, event_id: str, action: Action | None = None
) -> ApprovalChange:
    def change(current: ApprovalRecord) -> ApprovalRecord | None:
        if current.state != "pending":
            return None
        return current.model_copy(
            update={
                "state": state,
                "decided_by": by,
                "decided_at": at,
                "decision_reason": reason,
                "decision_event_id": event_id,
                "request_id": request_for(current.approval_id) if state == "approved" else None,
                "action": action or current.action,
            }
        )

    return change


def approve(by: str, at: datetime, reason: str | None, event_id: str, action: Action | None = None) -> ApprovalChange:
    """Recorded with the deciding event's id, so a redelivery of that event is recognised. `action`:
    the action as the person changed it before approving (what then runs, and what the record keeps)."""
    return _settle("approved", by, at, reason, event_id, action)


def deny(by: str, at: datetime, reason: str | None, event_id: str) -> ApprovalChange:
    return _settle("denied", by, at, reason, event_id)


def expire(current: ApprovalRecord) -> ApprovalRecord | None:
    return current.model_copy(update={"state": "expired"}) if current.state == "pending" else None


def cancel(current: ApprovalRecord) -> ApprovalRecord | None:
    return current.model_copy(update={"state": "cancelled"}) if current.state == "pending" else None


# --- the store -----------------------------------------------------------------------------------


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
        for key in await self.kv.keys(approval_key("*", approval_id)):
            return await self.kv.get_model(key, ApprovalRecord)
        return None

    async def update(self, record: ApprovalRecord, change: ApprovalChange) -> ApprovalRecord:
        """Apply one of the moves above by compare-and-set; the pending index follows the state."""
        updated = await kvjson.update(
            self.kv, approval_key(record.session_id, record.approval_id), ApprovalRecord, change
        )
        assert updated is not None
        if updated.state != "pending":
            await self.kv.delete(pending_key(updated.session_id, updated.approval_id))
        return updated

    async def pending(self, session_id: str | None = None) -> list[ApprovalRecord]:
        found = []
        for key in await self.kv.keys(pending_key(session_id or "*", "*")):
            session, approval_id, _ = key.split(".")
            record = await self.get(session, approval_id)
            if record is None:
                continue  # created in a moment, or its creation crashed: expiry cannot apply
            if record.state != "pending":
                await self.kv.delete(key)
                continue
            found.append(record)
        return sorted(found, key=lambda r: r.created_at)
