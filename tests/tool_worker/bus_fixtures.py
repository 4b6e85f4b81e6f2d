"""Seeding the KV state a tool.run or build.req is checked against: a twin and a recorded approval."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bus_schemas.actions import Action
from bus_schemas.approval import ApprovalKind, ApprovalRecord
from bus_schemas.streams import APPROVALS, TWINS
from bus_schemas.twin import Twin
from pagi.bus import Bus


async def put_twin(bus: Bus, twin_id: str = "orchestrator", **settings: Any) -> Twin:
    now = datetime.now(UTC)
    twin = Twin(id=twin_id, codename=twin_id, created_at=now, updated_at=now, **settings)
    await (await bus.kv(TWINS)).put(f"twin.{twin_id}", twin.model_dump_json().encode())
    return twin


async def approve(
    bus: Bus,
    session_id: str,
    kind: ApprovalKind,
    action: Action,
    state: str = "approved",
    twin_id: str = "orchestrator",
) -> str:
    approval_id = uuid.uuid4().hex[:16]
    now = datetime.now(UTC)
    record = ApprovalRecord(
        approval_id=approval_id,
        session_id=session_id,
        job_id="job-1",
        twin_id=twin_id,
        step=1,
        kind=kind,
        action=action,
        summary="test",
        reason="test",
        policy="test",
        created_at=now,
        expires_at=now + timedelta(minutes=5),
        state=state,
        decided_by="tester" if state != "pending" else None,
    )
    await (await bus.kv(APPROVALS)).put(f"{session_id}.{approval_id}", record.model_dump_json().encode())
    return approval_id
