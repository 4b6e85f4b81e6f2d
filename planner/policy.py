"""What a twin's policy says about an action: answer, ask a human, run at once, or refuse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bus_schemas import Action, ActionBuildTool, ActionMemory, ActionSelfImprove, ActionTool
from bus_schemas.approval import ApprovalKind
from bus_schemas.twin import Twin

Outcome = Literal["respond", "ask", "run", "deny"]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    policy: str
    reason: str
    kind: ApprovalKind | None = None


def judge(action: Action, twin: Twin) -> Verdict:
    if isinstance(action, ActionMemory):
        return Verdict("ask", "memory-access", "searching memory needs a human's approval", "memory")
    if isinstance(action, ActionTool):
        if action.tool_name not in twin.allowed_tools:
            return Verdict(
                "deny", "allowed-tools", f"tool {action.tool_name!r} is not among {twin.id}'s allowed tools", "tool"
            )
        if action.tool_name in twin.always_allow:
            return Verdict("run", "always-allow", f"{twin.id} always allows {action.tool_name!r}", "tool")
        return Verdict("ask", "tool-run", "running a tool needs a human's approval", "tool")
    if isinstance(action, ActionBuildTool):
        if not twin.code_generation:
            return Verdict("deny", "code-generation", f"code generation is switched off for {twin.id}", "build")
        return Verdict("ask", "tool-build", "building a tool needs a human's approval", "build")
    if isinstance(action, ActionSelfImprove):
        return Verdict("ask", "self-improve", "changing the system prompt needs a human's approval", "self_improve")
    return Verdict("respond", "answer", "a direct answer needs no approval")
