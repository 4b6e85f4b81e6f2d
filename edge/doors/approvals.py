"""Deciding an approval, from any door: the one place (POST /v1/approvals/{id} in
edge/api/planner_api.py, the OpenAI, MCP and A2A doors, the agents' `query` answers on NATS).

The checks are the HTTP API's: the approval exists and lies in a session the caller may act in
(`records.access.may_act_in_session`; else it is answered as missing, 404), "always" only for who
may change the twin's policy (403), still pending (409), not expired (410). `changes` (what the person
changed before approving: a proposed memory's text, a document's or memory's namespace/kb) only with
an approval, only for the kinds that take them (400); a document is approved only into a namespace
the decider may write, as asked or as changed, and a changed memory's namespace too
(`records.access.check_namespace_write`, 403). A budget approval raises (or passes) a spending limit:
approving one of a `global` or `user:` budget is an admin's, of a `twin:` budget whoever may change
the twin (403); a denial only needs the session. A self-improvement of a twin gated by an eval set is
approved only once its eval is done and passed (409 while running or missing, or when it failed),
as the planner also refuses. The decision is a normal
`approve.decision` event, so the planner stays the one that decides and the record in KV says who did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from bus_schemas import ApprovalDecision, Envelope
from bus_schemas.actions import ActionBudget, ActionRemember, ActionStoreDocument
from bus_schemas.approval import CHANGEABLE, ApprovalChanges, ApprovalRecord
from bus_schemas.subjects import APPROVE_DECISION, TOKEN_RE
from pagi.bus import TRANSIENT_ERRORS
from records.access import Caller, Denied, check_namespace_write, may_act_in_session, may_change_twin

from ..appkeys import BUS, OWNERS, STATE
from .errors import NOT_ACCEPTED, DoorRefused

# The kinds a person may change before approving, and what of each (bus_schemas.approval.ApprovalChanges).


async def visible_approval(app: web.Application, who: Caller | None, approval_id: str) -> ApprovalRecord:
    """The approval, if `who` may act in its session (None: development mode, the one person); else 404."""
    if not TOKEN_RE.fullmatch(approval_id):
        raise DoorRefused(404, f"no approval {approval_id[:64]!r}")
    try:
        record = await app[STATE].approvals.find(approval_id)
        if record is not None and who is not None:
            if not may_act_in_session(who, await app[OWNERS].owner(record.session_id)):
                record = None
    except TRANSIENT_ERRORS:
        raise DoorRefused(503, "cannot read the approval now (the bus is away); retry") from None
    if record is None:
        raise DoorRefused(404, f"no approval {approval_id}")
    return record


async def decide(
    app: web.Application,
    who: Caller | None,
    approval_id: str,
    *,
    approved: bool,
    always: bool = False,
    reason: str | None,
    recorded_as: str,
    changes: ApprovalChanges | None = None,
) -> Envelope[ApprovalDecision]:
    """Publish `who`'s decision on the approval (recorded as `recorded_as`) and return the event.
    Raises DoorRefused: 404 none the caller may see, 403 'always' by one who may not change the
    twin, 409 decided already, 410 expired, 503 the bus did not take it; 400 changes with a denial or
    to a kind that takes none, 403 a namespace the decider may not write."""
    record = await visible_approval(app, who, approval_id)
    if changes is not None:
        _check_changes(record, approved, changes)
    if approved:
        _check_target(who, record, changes, await _twin_namespace(app, record))
        if isinstance(record.action, ActionBudget) and who is not None:
            await _check_budget(app, who, record.action)
        if record.kind == "self_improve":
            await _check_eval(app, record)
    if approved and always:
        twin = await app[STATE].twins.get(record.twin_id)  # a missing twin: nothing to change
        if twin is not None and who is not None and not may_change_twin(who, twin.owner):
            # Refused whole: "always" would change the twin's policy, which this caller may not.
            raise DoorRefused(
                403,
                f"'always' changes twin {twin.id}'s policy, which only "
                + ("an admin" if twin.owner is None else "its owner or an admin")
                + " may change; decide this approval without it",
            )
    if record.state != "pending":
        raise DoorRefused(409, f"approval {approval_id} was already {record.state}")
    if datetime.now(UTC) >= record.expires_at:
        raise DoorRefused(410, f"approval {approval_id} expired at {record.expires_at.isoformat()}")
    event = Envelope[ApprovalDecision](
        type=APPROVE_DECISION,
        session_id=record.session_id,
        job_id=record.job_id,
        twin_id=record.twin_id,
        body=ApprovalDecision(
            approval_id=approval_id,
            approved=approved,
            always=always,
            reason=reason[:4000] if reason else None,
            decided_by=recorded_as[:128],
            changes=changes,
        ),
    )
    try:
        await app[BUS].publish(event)
    except NOT_ACCEPTED as exc:
        raise DoorRefused(503, f"decision not accepted: {exc}") from None
    return event


def _check_changes(record: ApprovalRecord, approved: bool, changes: ApprovalChanges) -> None:
    if not approved:
        raise DoorRefused(400, "changes come with an approval: a denial changes nothing (send approved: true)")
    given = set(changes.model_dump(exclude_none=True))
    allowed = CHANGEABLE.get(record.kind, frozenset())
    if not allowed:
        raise DoorRefused(400, f"a {record.kind} approval takes no changes: approve or deny it as asked")
    if not given <= allowed:
        refused = ", ".join(sorted(given - allowed))
        raise DoorRefused(
            400, f"a {record.kind} approval cannot change {refused} (it may change {', '.join(sorted(allowed))})"
        )


async def _twin_namespace(app: web.Application, record: ApprovalRecord) -> str | None:
    """Where a proposed memory that names no namespace goes: its twin's own (as the planner resolves it)."""
    if not isinstance(record.action, ActionRemember) or record.action.namespace is not None:
        return None
    return (await app[STATE].twins.get_or_default(record.twin_id)).memory_namespace


def _check_target(
    who: Caller | None, record: ApprovalRecord, changes: ApprovalChanges | None, twin_namespace: str | None
) -> None:
    """Approving a document or a proposed memory stores it in memory as the decider: the namespace it
    goes into (as changed, else as asked, else the twin's own) must be one they may write, as Save to
    Memory's is."""
    namespace = changes.namespace if changes is not None else None
    if namespace is None and isinstance(record.action, ActionStoreDocument | ActionRemember):
        namespace = record.action.namespace or twin_namespace
    if namespace is None or who is None:
        return
    try:
        check_namespace_write(who, namespace)
    except Denied as denied:
        raise DoorRefused(403, f"{denied}; approve it into a namespace you may write (changes.namespace)") from None


async def _check_budget(app: web.Application, who: Caller, action: ActionBudget) -> None:
    """Approving past a budget spends what its owner set: the install's and a user's are an admin's to
    pass (a member passing their own would make their limit meaningless), a twin's whoever may change
    the twin."""
    kind, _, name = action.scope.partition(":")
    if kind == "twin":
        twin = await app[STATE].twins.get(name)
        if twin is not None and may_change_twin(who, twin.owner):
            return
        owner = "an admin" if twin is None or twin.owner is None else "its owner or an admin"
        raise DoorRefused(403, f"the budget of twin {name} may be passed or raised only by {owner}; deny it instead")
    if not who.is_admin:
        what = "the install's" if kind == "global" else f"user {name}'s"
        raise DoorRefused(403, f"{what} budget may be passed or raised only by an admin; deny it instead")


async def _check_eval(app: web.Application, record: ApprovalRecord) -> None:
    """The planner's rule (its SelfImprove kind refuses the same), checked before publishing: an eval
    that did not pass blocks the approval, and a gated twin's self-improvement waits for its eval."""
    found = record.eval
    if found is not None and found.ok is False:
        rate = f"pass rate {found.pass_rate:.0%}" + (
            f", {found.required:.0%} required" if found.required is not None else ""
        )
        raise DoorRefused(
            409,
            f"approval {record.approval_id}'s eval on set {found.set_id} did not pass ({found.error or rate}); deny it",
        )
    twin = await app[STATE].twins.get(record.twin_id)
    if twin is None or twin.eval_gate is None:
        return
    if found is None:
        raise DoorRefused(
            409, f"approval {record.approval_id} waits for its eval on set {twin.eval_gate.set_id}; try again"
        )
    if found.state == "running":
        raise DoorRefused(409, f"approval {record.approval_id}'s eval on set {found.set_id} is still running")
