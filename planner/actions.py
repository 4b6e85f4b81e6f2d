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
    ActionBudget,
    ActionBuildTool,
    ActionMemory,
    ActionReadDocument,
    ActionRemember,
    ActionResponse,
    ActionSelfImprove,
    ActionStoreDocument,
    ActionTool,
    Body,
    BuildRequest,
    BuildResult,
    MemoryQuery,
    MemoryResult,
    MemoryStore,
    SourceMemory,
    ToolResult,
    ToolRun,
)
from bus_schemas.actions import ActionAskTwin, ActionHandoff
from bus_schemas.approval import CHANGEABLE, ApprovalChanges, ApprovalKind, ApprovalRecord, McpToolShown
from bus_schemas.budgets import Budget
from bus_schemas.chat import (
    BuildToolCommand,
    ExecuteTool,
    IssuedCommand,
    PromptForConfig,
    SelfImproveCommand,
    ShowMemoryPage,
)
from bus_schemas.documents import DocumentIngest, DocumentParse
from bus_schemas.joblog import LogLevel
from bus_schemas.jobs import MAX_STEP_SOURCES, JobRecord
from bus_schemas.subjects import BUILD_REQ, MEMORY_INGEST, MEMORY_PARSE, MEMORY_QUERY, MEMORY_STORE, TOOL_RUN
from bus_schemas.twin import PromptVersion, Twin
from records.budgets import amount
from records.jobs import Worker
from records.policy import RegistryTool, ToolPolicy, tool_policy
from records.prompts import prompt_diff
from records.tools import McpToolCatalog
from records.twins import TwinStore

from . import observations
from .subjobs import chain_text

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


@dataclass(frozen=True)
class BudgetRaise:
    """An action the planner carries out itself: a budget approved past, its limit raised to `to`
    (None: approved for the one call, the limit unchanged)."""

    scope: str
    period: Literal["day", "month"]
    unit: Literal["tokens", "money"]
    to: float | None


@dataclass(frozen=True)
class SubJob:
    """An action the planner carries out itself: a question to another twin, as a job of its own."""

    twin_id: str
    message: str


@dataclass(frozen=True)
class Handoff:
    """An action the planner carries out itself: the session goes on with another twin."""

    twin_id: str
    reason: str | None


Carried = WorkerRequest | PromptChange | BudgetRaise | SubJob | Handoff

A = TypeVar("A", bound=Body)
R = TypeVar("R")


class ActionKind(ABC, Generic[A, R]):
    """One action kind. `R` is what its result is: a worker's result event body, or the prompt
    version a change made."""

    action: ClassVar[type[Body]]
    approval: ClassVar[ApprovalKind]
    # The seed UI command `command` returns: which of the seed's reply markers answer it (planner/markers.py).
    issues: ClassVar[type[Body]]
    # Whether a seed reply marker (a chat message anyone in the session may send) may decide it.
    marker_decides: ClassVar[bool] = True

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
    def request(self, action: A, twin: Twin, request_id: str, approval_id: str | None) -> Carried:
        """What carrying out the (approved or always-allowed) action is."""

    @abstractmethod
    def observe(self, action: A, result: R, twin: Twin) -> str:
        """The result, as the text the next decision sees."""

    async def allow_always(self, twins: TwinStore, twin: Twin, record: ApprovalRecord) -> str | None:
        """Make an approval's "always allow" standing for the twin; what it now allows, for the job
        log (None: this kind has no "always")."""
        return None

    def amend(self, action: A, changes: ApprovalChanges) -> A:
        """The action as the person changed it before approving; Unchangeable if this kind takes no
        changes (or not these)."""
        raise Unchangeable(f"a {self.approval} approval cannot be changed, only approved or denied")

    def grants(self, result: R) -> str | None:
        """A tool the twin may use from now on because of this result (None: none)."""
        return None

    def follow_up(self, action: A, result: R, twin: Twin) -> Action | None:
        """The next step this result itself calls for, taken without deciding (None: decide)."""
        return None

    def cites(self, result: R) -> list[SourceMemory]:
        """The memories this result brought, for the answer's citations."""
        return []

    def ends_on_denial(self, action: A) -> str | None:
        """The job's answer when a person denies this (None: the job is told and decides again)."""
        return None

    def eval_pending(self, twin: Twin) -> bool:
        """Whether the approval is asked while an eval of it runs (ApprovalRequest.eval_pending)."""
        return False

    def refuses_decision(self, record: ApprovalRecord, approved: bool, twin: Twin) -> str | None:
        """Why this decision cannot be taken now (the approval stays pending), or None."""
        return None

    def bounds(self, action: A, job: JobRecord, twin: Twin) -> str | None:
        """Why the job's place in a tree of sub-jobs forbids this action (a cycle, too deep), or None."""
        return None


class Unchangeable(ValueError):
    """An approval's changes the action's kind does not take."""


def _changed(action: A, changes: ApprovalChanges, kind: ApprovalKind) -> A:
    given = {k: v for k, v in changes.model_dump().items() if v is not None}
    refused = sorted(set(given) - CHANGEABLE[kind])
    if refused:
        raise Unchangeable(f"{', '.join(refused)} cannot be changed on this approval")
    return action.model_copy(update=given)


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

    def cites(self, result: MemoryResult) -> list[SourceMemory]:
        return [
            SourceMemory(
                id=hit.id,
                text=hit.text[:600],
                score=hit.score,
                namespace=hit.namespace,
                kb=hit.kb,
                source=hit.source,
                page=hit.page,
                document_id=hit.document_id,
                session_id=hit.session_id,
            )
            for hit in result.hits[:MAX_STEP_SOURCES]
        ]


class Remember(ActionKind[ActionRemember, MemoryResult]):
    """A memory the twin proposes: a person approves (and may edit) it, unless the twin always
    allows memories in that namespace."""

    action = ActionRemember
    approval = "remember"
    issues = ShowMemoryPage

    def judge(self, action: ActionRemember, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        namespace = action.namespace or twin.memory_namespace
        if namespace in twin.always_remember:
            return Verdict("run", "always-remember", f"{twin.id} always allows memories in {namespace}", "remember")
        return Verdict("ask", "memory-write", "remembering needs a human's approval", "remember")

    def summary(self, action: ActionRemember, twin: Twin) -> str:
        why = f" because {action.why}" if action.why else ""
        return f"remember in {action.namespace or twin.memory_namespace}/{action.kb}{why}:\n{action.text}"

    def command(self, action: ActionRemember, twin: Twin, approval_id: str) -> IssuedCommand:
        return ShowMemoryPage(query=action.text[:4000], memory_id=approval_id, approval_id=approval_id)

    def request(self, action: ActionRemember, twin: Twin, request_id: str, approval_id: str | None) -> WorkerRequest:
        store = MemoryStore(
            request_id=request_id,
            text=action.text,
            namespace=action.namespace or twin.memory_namespace,
            kb=action.kb,
            approval_id=approval_id,
            metadata={"kind": "remembered", "why": action.why},
        )
        return WorkerRequest("memory", MEMORY_STORE, store, "memory")

    def observe(self, action: ActionRemember, result: MemoryResult, twin: Twin) -> str:
        return observations.from_remembered(result, action.namespace or twin.memory_namespace, action.kb)

    async def allow_always(self, twins: TwinStore, twin: Twin, record: ApprovalRecord) -> str:
        assert isinstance(record.action, ActionRemember)
        namespace = record.action.namespace or twin.memory_namespace
        await twins.allow_remember(twin.id, namespace)
        return f"{twin.id} now always allows memories in {namespace}"

    def amend(self, action: ActionRemember, changes: ApprovalChanges) -> ActionRemember:
        return _changed(action, changes, self.approval)


class DocumentReading(ActionKind[ActionReadDocument, MemoryResult]):
    """Converting and chunking a file the person sent: nothing is stored, so nothing is asked."""

    action = ActionReadDocument
    approval = "document"
    issues = ShowMemoryPage

    def judge(self, action: ActionReadDocument, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        return Verdict("run", "document-read", f"reading {action.document.filename} stores nothing", "document")

    def summary(self, action: ActionReadDocument, twin: Twin) -> str:
        return f"read {action.document.filename} ({action.document.size} bytes)"

    def command(self, action: ActionReadDocument, twin: Twin, approval_id: str) -> IssuedCommand:
        return ShowMemoryPage(query=action.document.filename, memory_id=approval_id, approval_id=approval_id)

    def request(
        self, action: ActionReadDocument, twin: Twin, request_id: str, approval_id: str | None
    ) -> WorkerRequest:
        parse = DocumentParse(
            request_id=request_id,
            document=action.document,
            namespace=action.namespace or twin.memory_namespace,
            kb=action.kb,
        )
        return WorkerRequest("memory", MEMORY_PARSE, parse, "memory")

    def observe(self, action: ActionReadDocument, result: MemoryResult, twin: Twin) -> str:
        return observations.from_document(result, action.document.filename, offered=not action.then_store)

    def follow_up(self, action: ActionReadDocument, result: MemoryResult, twin: Twin) -> Action | None:
        if not action.then_store or result.document is None or result.error:
            return None
        return ActionStoreDocument(
            document=action.document,
            parsed=result.document,
            namespace=action.namespace or twin.memory_namespace,
            kb=action.kb,
        )


class DocumentStoring(ActionKind[ActionStoreDocument, MemoryResult]):
    """A read document's chunks into memory: a person approves, and may change where they go."""

    action = ActionStoreDocument
    approval = "document"
    issues = ShowMemoryPage

    def judge(self, action: ActionStoreDocument, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        return Verdict("ask", "memory-write", "storing a document in memory needs a human's approval", "document")

    def summary(self, action: ActionStoreDocument, twin: Twin) -> str:
        parsed = action.parsed
        pages = f", {parsed.pages} pages" if parsed.pages is not None else ""
        head = (
            f"store {action.document.filename} ({action.document.size} bytes, {parsed.format}{pages}, "
            f"{parsed.chunks} chunks) in {action.namespace}/{action.kb}"
        )
        preview = "\n".join(f"[{i}] {text}" for i, text in enumerate(parsed.preview, 1))
        return f"{head}\n{preview}" if preview else head

    def command(self, action: ActionStoreDocument, twin: Twin, approval_id: str) -> IssuedCommand:
        return ShowMemoryPage(query=action.document.filename, memory_id=approval_id, approval_id=approval_id)

    def request(
        self, action: ActionStoreDocument, twin: Twin, request_id: str, approval_id: str | None
    ) -> WorkerRequest:
        assert approval_id is not None, "a document is stored only once approved"
        ingest = DocumentIngest(
            request_id=request_id,
            approval_id=approval_id,
            document=action.document,
            namespace=action.namespace,
            kb=action.kb,
        )
        return WorkerRequest("memory", MEMORY_INGEST, ingest, "memory")

    def observe(self, action: ActionStoreDocument, result: MemoryResult, twin: Twin) -> str:
        return observations.from_stored_document(result, action.document.filename, action.namespace, action.kb)

    def amend(self, action: ActionStoreDocument, changes: ApprovalChanges) -> ActionStoreDocument:
        return _changed(action, changes, self.approval)


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

    async def allow_always(self, twins: TwinStore, twin: Twin, record: ApprovalRecord) -> str:
        assert isinstance(record.action, ActionTool)
        # An MCP tool is pinned to the tool as the person saw it when asked, not as listed now.
        seen = record.mcp.digest if record.mcp is not None else None
        await twins.allow_always(twin.id, record.action.tool_name, seen)
        return f"{twin.id} now always allows {record.action.tool_name}"


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

    def eval_pending(self, twin: Twin) -> bool:
        return twin.eval_gate is not None

    def refuses_decision(self, record: ApprovalRecord, approved: bool, twin: Twin) -> str | None:
        # A denial is always taken. An eval that failed blocks whether or not the twin still has a gate;
        # a missing or running one blocks only while the twin is gated (an ungated twin runs none).
        if not approved:
            return None
        found = record.eval
        if found is not None and found.ok is False:
            rate = f"{found.pass_rate:.0%}" + (f", {found.required:.0%} required" if found.required is not None else "")
            return f"the eval of this prompt on {found.set_id} did not pass ({found.error or rate})"
        if twin.eval_gate is None:
            return None
        if found is None:
            return f"the eval of this prompt on {twin.eval_gate.set_id} has not started yet"
        if found.state == "running":
            return f"the eval of this prompt on {found.set_id} is still running"
        return None


class BudgetKind(ActionKind[ActionBudget, Budget | None]):
    """The next LLM call would cross a budget (planner/budget.py decides it, never a model): always a
    person's decision. Approved, exactly one call passes (the limit raised first when the person
    gave one); denied, the twin answers that the budget is spent."""

    action = ActionBudget
    approval = "budget"
    # The seed's configuration prompt: a value (the new limit) or a refusal.
    issues = PromptForConfig
    # Who may decide depends on the scope (an admin for global and user budgets), which only PAGI's
    # approval doors check; a chat marker never decides it.
    marker_decides = False

    def judge(self, action: ActionBudget, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        reason = f"the next LLM call would cross the {action.period} {action.unit} budget of {action.scope}"
        return Verdict("ask", "budget", reason, "budget")

    def summary(self, action: ActionBudget, twin: Twin) -> str:
        def of(value: float) -> str:
            return amount(value, action.unit, action.currency)

        text = (
            f"{action.scope} {action.period} budget: spent {of(action.spent)} of {of(action.limit)}; "
            f"the next LLM call is estimated at {of(action.estimate)}"
        )
        return text + (f" (hard ceiling {of(action.ceiling)})" if action.ceiling is not None else "")

    def command(self, action: ActionBudget, twin: Twin, approval_id: str) -> IssuedCommand:
        prompt = f"{self.summary(action, twin)}. Approve once, approve and raise the limit, or deny."
        return PromptForConfig(
            config_key=f"budget.{action.period}.{action.unit}", prompt=prompt, approval_id=approval_id
        )

    def request(self, action: ActionBudget, twin: Twin, request_id: str, approval_id: str | None) -> BudgetRaise:
        return BudgetRaise(action.scope, action.period, action.unit, action.raise_to)

    def observe(self, action: ActionBudget, result: Budget | None, twin: Twin) -> str:
        head = f"budget approved past: one LLM call over the {action.period} {action.unit} budget of {action.scope}"
        if result is None:
            return head
        limit = result.tokens if action.unit == "tokens" else result.money
        return f"{head}; its limit is now {amount(limit or 0, action.unit, action.currency)}"

    def amend(self, action: ActionBudget, changes: ApprovalChanges) -> ActionBudget:
        given = {k for k, v in changes.model_dump().items() if v is not None}
        refused = sorted(given - CHANGEABLE[self.approval])
        if refused:
            raise Unchangeable(f"{', '.join(refused)} cannot be changed on a budget approval (only limit)")
        if changes.limit is None:
            raise Unchangeable("a budget approval's changes need a new limit")
        if action.ceiling is not None and changes.limit > action.ceiling:
            ceiling = amount(action.ceiling, action.unit, action.currency)
            raise Unchangeable(f"a limit of {changes.limit:g} is over the hard ceiling ({ceiling})")
        return action.model_copy(update={"raise_to": changes.limit})

    def ends_on_denial(self, action: ActionBudget) -> str:
        spent = amount(action.spent, action.unit, action.currency)
        limit = amount(action.limit, action.unit, action.currency)
        return (
            f"The {action.period} {action.unit} budget of {action.scope} is spent ({spent} of {limit}), "
            "and going past it was not approved, so I stop here."
        )


def _may_reach(target: str, twin: Twin, doing: str) -> Verdict:
    if target == twin.id:
        return Verdict("deny", "may-ask", f"{twin.id} cannot {doing} itself", "agent")
    if target not in twin.may_ask:
        return Verdict("deny", "may-ask", f"{target!r} is not among the twins {twin.id} may ask (may_ask)", "agent")
    return Verdict("run", "may-ask", f"{twin.id} may ask {target}", "agent")


class AskTwin(ActionKind[ActionAskTwin, str]):
    """A question to another twin in the caller's `may_ask`: a sub-job (planner/subjobs.py) whose
    answer is the observation. Nothing is asked of a person here: the sub-job's own gated steps are."""

    action = ActionAskTwin
    approval = "agent"
    issues = PromptForConfig
    marker_decides = False

    def judge(self, action: ActionAskTwin, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        return _may_reach(action.twin_id, twin, "ask")

    def bounds(self, action: ActionAskTwin, job: JobRecord, twin: Twin) -> str | None:
        chain = [*job.chain, job.twin_id]
        if action.twin_id in chain:
            return f"asking {action.twin_id} would be a cycle ({chain_text(chain, action.twin_id)})"
        if len(chain) > twin.max_depth:
            return (
                f"asking {action.twin_id} would go {len(chain)} sub-jobs deep ({chain_text(chain, action.twin_id)}), "
                f"over the depth limit of {twin.max_depth}"
            )
        return None

    def summary(self, action: ActionAskTwin, twin: Twin) -> str:
        return f"ask {action.twin_id}: {action.message}"

    def command(self, action: ActionAskTwin, twin: Twin, approval_id: str) -> IssuedCommand:
        return PromptForConfig(config_key="agent.ask", prompt=self.summary(action, twin), approval_id=approval_id)

    def request(self, action: ActionAskTwin, twin: Twin, request_id: str, approval_id: str | None) -> SubJob:
        return SubJob(action.twin_id, action.message)

    def observe(self, action: ActionAskTwin, result: str, twin: Twin) -> str:
        return result


class HandoffKind(ActionKind[ActionHandoff, str]):
    """The conversation goes on with another twin in the caller's `may_ask` (never from a sub-job:
    the session is the person's, not the asking twin's)."""

    action = ActionHandoff
    approval = "agent"
    issues = PromptForConfig
    marker_decides = False

    def judge(self, action: ActionHandoff, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
        return _may_reach(action.twin_id, twin, "hand the conversation to")

    def bounds(self, action: ActionHandoff, job: JobRecord, twin: Twin) -> str | None:
        if job.parent_job_id is not None:
            return f"a sub-job ({chain_text(job.chain, job.twin_id)}) cannot hand the conversation over"
        return None

    def summary(self, action: ActionHandoff, twin: Twin) -> str:
        why = f" ({action.reason})" if action.reason else ""
        return f"hand the conversation from {twin.id} to {action.twin_id}{why}"

    def command(self, action: ActionHandoff, twin: Twin, approval_id: str) -> IssuedCommand:
        return PromptForConfig(config_key="agent.handoff", prompt=self.summary(action, twin), approval_id=approval_id)

    def request(self, action: ActionHandoff, twin: Twin, request_id: str, approval_id: str | None) -> Handoff:
        return Handoff(action.twin_id, action.reason)

    def observe(self, action: ActionHandoff, result: str, twin: Twin) -> str:
        return result


KINDS: Final[dict[str, ActionKind[Any, Any]]] = {
    kind.action.model_fields["action_type"].default: kind
    for kind in (
        MemorySearch(),
        ToolUse(),
        ToolBuild(),
        SelfImprove(),
        Remember(),
        DocumentReading(),
        DocumentStoring(),
        BudgetKind(),
        AskTwin(),
        HandoffKind(),
    )
}

ANSWER: Final = Verdict("respond", "answer", "a direct answer needs no approval")


def kind_of(action_type: str) -> ActionKind[Any, Any]:
    """The kind of a gated action (every action but the direct answer)."""
    return KINDS[action_type]


def judge(action: Action, twin: Twin, tool: ToolPolicy | None = None) -> Verdict:
    if isinstance(action, ActionResponse):
        return ANSWER
    return kind_of(action.action_type).judge(action, twin, tool)
