"""Sub-jobs (ActionAskTwin): a twin asks another a question as a step of its own job.

A sub-job is a job of its own in the same session (its events in the parent's session, so one replay
shows the whole tree): its id derives from the parent step's request id, its first trigger too, so a
redelivered parent step finds the sub-job it already started. It runs under the stricter of the
policies of every twin on its chain (`stricter`): it never uses a tool, an MCP tool or an always-allow
that a twin that led to it may not. Its answer becomes the asking step's observation
(`Planner.subjob_done`, called by `Planner.finish`); cancelling a job cancels its sub-job first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bus_schemas import derived_id
from bus_schemas.actions import ActionAskTwin
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.twin import Twin
from records.mcp_servers import mcp_tool_allowed

ARROW = " → "


def chain_text(chain: Sequence[str], twin_id: str) -> str:
    """`ops → reviewer`: who asked whom, root first."""
    return ARROW.join([*chain, twin_id])


def child_id(request_id: str) -> str:
    return derived_id(request_id, "subjob")


def start_trigger(child_job_id: str) -> str:
    return derived_id(child_job_id, "subjob-start")


def answered_trigger(child_job_id: str) -> str:
    return derived_id(child_job_id, "answered")


def child_of(parent: JobRecord, step: JobStep, action: ActionAskTwin, request_id: str, at: datetime) -> JobRecord:
    return JobRecord(
        job_id=child_id(request_id),
        session_id=parent.session_id,
        twin_id=action.twin_id,
        user_id=parent.user_id,
        message=action.message,
        created_at=at,
        updated_at=at,
        parent_job_id=parent.job_id,
        parent_step=step.step,
        chain=[*parent.chain, parent.twin_id],
    )


def running_child(job: JobRecord) -> str | None:
    """The sub-job a job waits for: its last step asked a twin and has no answer yet (the sub-job's
    id derives from that step's request id)."""
    if job.steps and job.steps[-1].action_type == "ActionAskTwin" and job.steps[-1].observation is None:
        return child_id(derived_id(job.steps[-1].trigger_id, "request"))
    return None


def _mcp_allowed(twin: Twin, entry: str) -> bool:
    server, _, tool = entry.partition("/")
    if tool == "*":
        return entry in twin.mcp_tools
    return mcp_tool_allowed(twin.mcp_tools, server, tool)


def stricter(twin: Twin, callers: Sequence[Twin]) -> Twin:
    """`twin` as a sub-job asked through `callers` runs it: only what every one of them may do."""
    allowed = list(twin.allowed_tools)
    always = list(twin.always_allow)
    remember = list(twin.always_remember)
    mcp = list(twin.mcp_tools)
    code_generation = twin.code_generation
    max_depth = twin.max_depth
    for caller in callers:
        allowed = [t for t in allowed if t in caller.allowed_tools]
        always = [t for t in always if t in caller.always_allow]
        remember = [n for n in remember if n in caller.always_remember]
        mine = [e for e in mcp if _mcp_allowed(caller, e)]
        # A caller's `server/tool` that this twin's `server/*` covers is kept, narrowed to it.
        current = _with_mcp(twin, mcp)
        theirs = [e for e in caller.mcp_tools if e not in mine and _mcp_allowed(current, e)]
        mcp = mine + theirs
        code_generation = code_generation and caller.code_generation
        max_depth = min(max_depth, caller.max_depth)
    return twin.model_copy(
        update={
            "allowed_tools": allowed,
            "always_allow": always,
            "always_remember": remember,
            "mcp_tools": mcp,
            "code_generation": code_generation,
            "max_depth": max_depth,
        }
    )


def _with_mcp(twin: Twin, entries: list[str]) -> Twin:
    return twin.model_copy(update={"mcp_tools": entries})
