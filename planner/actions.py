"""What each action kind means to the planner: one class per kind, one entry in `KINDS`.

The wire shapes are `bus_schemas.actions`; this says what the planner does with each: what the
twin's policy says about it (`judge`), what the approval is for and what the modal shows
(`approval`, `summary`), the seed UI command that goes with the question (`command`), what carrying it
out means (`request`: a worker request, or the planner's own prompt change) and how its result
becomes the step's observation (`observe`). A direct answer (`ActionResponse`) is no kind: it ends
the job. A new kind is one more class here and its entry in `KINDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, Literal, TypeVar

from bus_schemas import (
    Action,
    ActionBuildTool,
    ActionMemory,
    ActionResponse,
    ActionSelfImprove,
    ActionTool,
    Body,
    BuildRequest,
    BuildResult,
    MemoryQuery,
    MemoryResult,
    ToolResult,
    ToolRun,
)
from bus_schemas.approval import ApprovalKind, McpToolShown
from bus_schemas.chat import BuildToolCommand, ExecuteTool, IssuedCommand, SelfImproveCommand, ShowMemoryPage
from bus_schemas.joblog import LogLevel
from bus_schemas.subjects import BUILD_REQ, MEMORY_QUERY, TOOL_RUN
from bus_schemas.twin import PromptVersion, Twin
from records.jobs import Worker
from records.policy import RegistryTool, ToolPolicy, tool_policy
from records.prompts import prompt_diff
from records.tools import McpToolCatalog

from . import observations

Outcome = Literal["respond", "ask", "run", "deny"]


@dataclass(frozen=True)
class Verdict:
    """What the twin's policy says about an action: answer, ask a human, run at once, or refuse."""

    outcome: Outcome
    policy: str
    reason: str
    kind: ApprovalKind | None = None


@dataclass(frozen=True)
class WorkerRequest:
    """An action carried out by a worker: the request event, and what the job then waits for."""

    worker: Worker
    event_type: str
    body: Body
    log_level: LogLevel


@dataclass(frozen=True)
class PromptChange:
    """An action the planner carries out itself: a new system prompt for the twin."""

    prompt: str
    rationale: str


A = TypeVar("A", bound=Body)
R = TypeVar("R")


class ActionKind(ABC, Generic[A, R]):
    """One action kind. `R` is what its result is: a worker's result event body, or the prompt
    version a change made."""

    action: ClassVar[type[Body]]
    approval: ClassVar[ApprovalKind]
    # The seed UI command `command` returns: which of the seed's reply markers answer it (planner/markers.py).
    issues: ClassVar[type[Body]]

    async def tool(self, action: A, mcp_tools: McpToolCatalog | None) -> ToolPolicy | None:
        """The rules of the tool the action runs (records.policy; None: this kind runs no tool)."""
        return None

    @abstractmethod
    def judge(self, action: A, twin: Twin, tool: ToolPolicy | None = None) -> Verdict: ...

    @abstractmethod
    def summary(self, action: A, twin: Twin) -> str:
        """What would run, for the person deciding."""

    def shown(self, tool: ToolPolicy | None) -> McpToolShown | None:
        """The MCP tool the approval is for, as the modal shows it (None: not an MCP tool)."""
        return tool.shown() if tool is not None else None

    @abstractmethod
    def command(self, action: A, twin: Twin, approval_id: str) -> IssuedCommand: ...

    @abstractmethod
    def request(self, action: A, twin: Twin, request_id: str, approval_id: str | None) -> WorkerRequest | PromptChange:
        """What carrying out the (approved or always-allowed) action is."""

    @abstractmethod
    def observe(self, action: A, result: R, twin: Twin) -> str:
        """The result, as the text the next decision sees."""

    def always_allows(self, action: A) -> str | None:
        """The tool an approval's "always allow" adds to the twin (None: this kind has none).
        `records.twins.allow_always` pins a built tool to its artifact then: a rebuild asks again."""
        return None

    def grants(self, result: R) -> str | None:
        """A tool the twin may use from now on because of this result (None: none)."""
        return None


class MemorySearch(ActionKind[ActionMemory, MemoryResult]):
    action = ActionMemory
    approval = "memory"
    issues = ShowMemoryPage

    def judge(self, action: ActionMemory, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        return Verdict("ask", "memory-access", "searching memory needs a human's approval", "memory")

    def summary(self, action: ActionMemory, twin: Twin) -> str:
        return f"search memory ({action.namespace or twin.memory_namespace}) for {action.query!r}"

    def command(self, action: ActionMemory, twin: Twin, approval_id: str) -> IssuedCommand:
        return ShowMemoryPage(query=action.query, memory_id=approval_id, approval_id=approval_id)

    def request(self, action: ActionMemory, twin: Twin, request_id: str, approval_id: str | None) -> WorkerRequest:
        query = MemoryQuery(
            request_id=request_id,
            query=action.query,
            namespace=action.namespace or twin.memory_namespace,
            top_k=action.top_k or 5,
        )
        return WorkerRequest("memory", MEMORY_QUERY, query, "memory")

    def observe(self, action: ActionMemory, result: MemoryResult, twin: Twin) -> str:
        return observations.from_memory(result, action.query)


class ToolUse(ActionKind[ActionTool, ToolResult]):
    action = ActionTool
    approval = "tool"
    issues = ExecuteTool

    async def tool(self, action: ActionTool, mcp_tools: McpToolCatalog | None) -> ToolPolicy:
        return await tool_policy(action.tool_name, mcp_tools)

    def judge(self, action: ActionTool, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        policy = tool or RegistryTool(action.tool_name)
        refused = policy.refusal(twin)
        if refused is not None:
            return Verdict("deny", policy.label, refused, "tool")
        bad_args = policy.arguments_problem(action.args)
        if bad_args is not None:
            return Verdict("deny", "tool-arguments", bad_args, "tool")
        if policy.always_in_force(twin):
            return Verdict("run", "always-allow", f"{twin.id} always allows {action.tool_name!r}", "tool")
        return Verdict("ask", policy.asks, "running a tool needs a human's approval", "tool")

    def summary(self, action: ActionTool, twin: Twin) -> str:
        return f"run tool {action.tool_name} with {action.args}"

    def command(self, action: ActionTool, twin: Twin, approval_id: str) -> IssuedCommand:
        return ExecuteTool(tool_name=action.tool_name, arguments=action.args, approval_id=approval_id)

    def request(self, action: ActionTool, twin: Twin, request_id: str, approval_id: str | None) -> WorkerRequest:
        run = ToolRun(request_id=request_id, approval_id=approval_id, tool_name=action.tool_name, args=action.args)
        return WorkerRequest("tool", TOOL_RUN, run, "tool")

    def observe(self, action: ActionTool, result: ToolResult, twin: Twin) -> str:
        return observations.from_tool(result)

    def always_allows(self, action: ActionTool) -> str | None:
        return action.tool_name


class ToolBuild(ActionKind[ActionBuildTool, BuildResult]):
    action = ActionBuildTool
    approval = "build"
    issues = BuildToolCommand

    def judge(self, action: ActionBuildTool, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        if not twin.code_generation:
            return Verdict("deny", "code-generation", f"code generation is switched off for {twin.id}", "build")
        return Verdict("ask", "tool-build", "building a tool needs a human's approval", "build")

    def summary(self, action: ActionBuildTool, twin: Twin) -> str:
        return f"build {action.language} tool {action.tool_name}:\n{action.code}"

    def command(self, action: ActionBuildTool, twin: Twin, approval_id: str) -> IssuedCommand:
        return BuildToolCommand(tool_name=action.tool_name, language=action.language, approval_id=approval_id)

    def request(self, action: ActionBuildTool, twin: Twin, request_id: str, approval_id: str | None) -> WorkerRequest:
        build = BuildRequest(
            request_id=request_id,
            approval_id=approval_id,
            tool_name=action.tool_name,
            language=action.language,
            code=action.code,
            description=action.description,
            args_schema=action.args_schema,
        )
        return WorkerRequest("build", BUILD_REQ, build, "plan")

    def observe(self, action: ActionBuildTool, result: BuildResult, twin: Twin) -> str:
        return observations.from_build(result)

    def grants(self, result: BuildResult) -> str | None:
        # A human approved building it for this twin, so the twin may use it (after approval).
        return result.tool_name if result.success else None


class SelfImprove(ActionKind[ActionSelfImprove, PromptVersion]):
    action = ActionSelfImprove
    approval = "self_improve"
    issues = SelfImproveCommand

    def judge(self, action: ActionSelfImprove, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        return Verdict("ask", "self-improve", "changing the system prompt needs a human's approval", "self_improve")

    def summary(self, action: ActionSelfImprove, twin: Twin) -> str:
        return f"change the system prompt ({action.rationale}):\n{prompt_diff(twin.directive_logic, action.new_prompt)}"

    def command(self, action: ActionSelfImprove, twin: Twin, approval_id: str) -> IssuedCommand:
        return SelfImproveCommand(diff=prompt_diff(twin.directive_logic, action.new_prompt), approval_id=approval_id)

    def request(self, action: ActionSelfImprove, twin: Twin, request_id: str, approval_id: str | None) -> PromptChange:
        return PromptChange(action.new_prompt, action.rationale)

    def observe(self, action: ActionSelfImprove, result: PromptVersion, twin: Twin) -> str:
        return f"The system prompt of {twin.id} is now version {result.version}."


KINDS: Final[dict[str, ActionKind[Any, Any]]] = {
    kind.action.model_fields["action_type"].default: kind
    for kind in (MemorySearch(), ToolUse(), ToolBuild(), SelfImprove())
}

ANSWER: Final = Verdict("respond", "answer", "a direct answer needs no approval")


def kind_of(action_type: str) -> ActionKind[Any, Any]:
    """The kind of a gated action (every action but the direct answer)."""
    return KINDS[action_type]


def judge(action: Action, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
    if isinstance(action, ActionResponse):
        return ANSWER
    return kind_of(action.action_type).judge(action, twin, tool)
