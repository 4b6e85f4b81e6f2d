"""Defence in depth: the worker re-reads the twin's policy and the recorded approval before acting."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, Literal

from bus_schemas.approval import ApprovalKind, ApprovalRecord
from bus_schemas.twin import Twin

from .approvals import approval_key
from .stores import KV
from .twins import DEFAULT_TWIN_ID, always_allowed, twin_key

# A request id keys the done-ledger (`<kind>.<request id>` in KV, records/done.py): one KV token.
REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9_=-]{1,64}$")


def malformed_request(request_id: str) -> str | None:
    """Why a worker request can never be carried out (so it is answered at once with an error
    result, not retried until it is dead-lettered), or None."""
    if not REQUEST_ID_RE.match(request_id):
        return "invalid request id: use 1-64 characters of A-Z a-z 0-9 _ = -"
    return None


class PolicyError(PermissionError):
    def __init__(self, reason: Literal["not_allowed", "not_approved"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def load_twin(twins: KV, twin_id: str | None) -> Twin:
    found = await twins.get(twin_key(twin_id or DEFAULT_TWIN_ID))
    if found is None:
        raise PolicyError("not_allowed", f"unknown twin {twin_id or DEFAULT_TWIN_ID!r}: no policy to run under")
    return Twin.model_validate_json(found[0])


async def check_approval(
    approvals: KV,
    session_id: str,
    approval_id: str | None,
    request_id: str,
    kind: ApprovalKind,
    matches: Callable[[Any], bool],
) -> ApprovalRecord:
    """The approval must be recorded, approved, for this kind of action, for exactly this action, and
    for this request: one approval lets one request run (a second request naming it is refused; a
    redelivery of the same request is answered from the done-ledger, records/done.py)."""
    if not approval_id:
        raise PolicyError("not_approved", f"no approval id: a {kind} needs a human's approval")
    found = await approvals.get(approval_key(session_id, approval_id))
    if found is None:
        raise PolicyError("not_approved", f"approval {approval_id} is not recorded for this session")
    record = ApprovalRecord.model_validate_json(found[0])
    if record.state != "approved":
        raise PolicyError("not_approved", f"approval {approval_id} is {record.state}, not approved")
    if record.kind != kind or not matches(record.action):
        raise PolicyError("not_approved", f"approval {approval_id} was given for a different action")
    if record.request_id is None:
        raise PolicyError("not_approved", f"approval {approval_id} names no request to run; ask for a new approval")
    if record.request_id != request_id:
        raise PolicyError(
            "not_approved",
            f"approval {approval_id} was given for request {record.request_id}, not {request_id}: "
            "one approval runs one request",
        )
    return record


async def check_tool_run(
    twins: KV,
    approvals: KV,
    session_id: str,
    twin_id: str | None,
    approval_id: str | None,
    request_id: str,
    tool: str,
    args: Any,
    digest: str | None = None,
) -> None:
    """`digest`: the artifact the worker is about to run (None for a built-in)."""
    twin = await load_twin(twins, twin_id)
    if tool not in twin.allowed_tools:
        raise PolicyError("not_allowed", f"tool {tool!r} is not among {twin.id}'s allowed tools")
    if not approval_id and always_allowed(twin, tool, digest):
        return

    def same(action: Any) -> bool:
        return getattr(action, "tool_name", None) == tool and getattr(action, "args", None) == args

    await check_approval(approvals, session_id, approval_id, request_id, "tool", same)


async def check_build(
    twins: KV,
    approvals: KV,
    session_id: str,
    twin_id: str | None,
    approval_id: str | None,
    request_id: str,
    tool: str,
    language: str,
    code: str,
) -> ApprovalRecord:
    """The build's recorded approval (whose `decided_by` says whether an admin approved it)."""
    twin = await load_twin(twins, twin_id)
    if not twin.code_generation:
        raise PolicyError("not_allowed", f"{twin.id}'s code-generation policy is off: it may not build tools")

    def same(action: Any) -> bool:
        fields = ("tool_name", "language", "code")
        return tuple(getattr(action, f, None) for f in fields) == (tool, language, code)

    return await check_approval(approvals, session_id, approval_id, request_id, "build", same)
