"""Replay-based evals: recorded turns, what a good answer must satisfy, and how a prompt version did.

An eval set (KV `pagi_evals`, key `set.<set_id>`) belongs to one twin and holds cases captured from
real sessions: the user's message, the turns before it, and the recorded steps (action, raw reply,
result). `eval.run.<session>` asks the planner's eval runner to re-run every case with a prompt
version; it answers `eval.result.<session>` (kept too, key `run.<set_id>.<run_id>`). Nothing is run
again: a step's result is the recorded one for the same action, or "(not run in an eval)". A model is
called only where the prompt changed what it saw; its reply is kept (KV `pagi_eval_replies`, by the
digest of what it saw), so the same run again calls nothing.

A twin's `eval_gate` names the set its self-improvements are run against: the approval shows the
result (`ApprovalRecord.eval`) and, with `min_pass_rate`, cannot be approved below it (it is denied
by the eval gate instead).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .actions import Action
from .envelope import Body
from .limits import MAX_TEXT_CHARS
from .subjects import TOKEN_RE

MAX_CASES: Final = 200
MAX_CHECKS: Final = 20
MAX_HISTORY: Final = 20
MAX_RECORDED_STEPS: Final = 64

CheckKind = Literal["exact", "regex", "must_call", "must_not_call", "must_ask_approval", "rubric"]
CHECK_KINDS: Final = ("exact", "regex", "must_call", "must_not_call", "must_ask_approval", "rubric")


class EvalCheck(BaseModel):
    """What a good answer must satisfy. `value`: the exact answer (exact), a regular expression the
    answer must match (regex, Python syntax, searched), a tool or action name (must_call,
    must_not_call: a tool name, `server/tool` for MCP, or an action type such as ActionRemember),
    nothing (must_ask_approval), or what a grader model judges the answer by (rubric)."""

    model_config = ConfigDict(extra="forbid")

    kind: CheckKind
    value: str = Field(default="", max_length=4000)


class EvalTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TEXT_CHARS)


class RecordedStep(BaseModel):
    """One step of the recorded job, with the result it had (None: it had none, e.g. a denial ended it)."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1)
    action: Action
    raw: str = Field(default="", max_length=MAX_TEXT_CHARS)
    decided_by: str = Field(max_length=200)
    observation: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    # The step waited for a person's approval.
    asked_approval: bool = False


class EvalCase(BaseModel):
    """One recorded turn and its checks."""

    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(pattern=TOKEN_RE.pattern)
    session_id: str = Field(max_length=64)
    job_id: str = Field(max_length=64)
    message: str = Field(max_length=MAX_TEXT_CHARS)
    history: list[EvalTurn] = Field(default_factory=list, max_length=MAX_HISTORY)
    steps: list[RecordedStep] = Field(default_factory=list, max_length=MAX_RECORDED_STEPS)
    # The recorded final answer, and the prompt version the twin had then (None: not known).
    answer: str = Field(default="", max_length=MAX_TEXT_CHARS)
    prompt_version: int | None = Field(default=None, ge=1)
    checks: list[EvalCheck] = Field(default_factory=list, max_length=MAX_CHECKS)


class EvalCaseWrite(BaseModel):
    """A case as a person picks it: a recorded turn (its session, and its job or None for the
    session's last one) and the checks."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=TOKEN_RE.pattern)
    job_id: str | None = Field(default=None, pattern=TOKEN_RE.pattern)
    checks: list[EvalCheck] = Field(min_length=1, max_length=MAX_CHECKS)


class EvalSetWrite(BaseModel):
    """`POST /v1/evals`: a new set (or `pagi eval create`), its cases captured from real sessions."""

    model_config = ConfigDict(extra="forbid")

    set_id: str = Field(pattern=TOKEN_RE.pattern)
    twin_id: str = Field(pattern=TOKEN_RE.pattern)
    description: str = Field(default="", max_length=2000)
    cases: list[EvalCaseWrite] = Field(min_length=1, max_length=MAX_CASES)


class EvalSet(BaseModel):
    """As kept in KV `pagi_evals` (key `set.<set_id>`)."""

    model_config = ConfigDict(extra="forbid")

    set_id: str = Field(pattern=TOKEN_RE.pattern)
    twin_id: str = Field(pattern=TOKEN_RE.pattern)
    description: str = Field(default="", max_length=2000)
    cases: list[EvalCase] = Field(default_factory=list, max_length=MAX_CASES)
    created_by: str = Field(max_length=160)
    created_at: datetime


class EvalRunRequest(BaseModel):
    """`POST /v1/evals/{set_id}/runs`: what a person may ask of a run (the rest of an `EvalRun` is the
    edge's: its ids and who asked; or the eval gate's: an approval's prompt and id)."""

    model_config = ConfigDict(extra="forbid")

    prompt_version: int | None = Field(default=None, ge=1)
    baseline: bool = True


class EvalRunStarted(BaseModel):
    """The 202 of `POST /v1/evals/{set_id}/runs`: the result is `GET /v1/evals/{set_id}/runs/{run_id}`,
    its events in `session_id`."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    set_id: str
    session_id: str


class EvalRun(Body):
    """`eval.run.<session>`: re-run a set's cases with a prompt version (None: the twin's current
    one), and (`baseline`) with the current version too, for the diff."""

    run_id: str = Field(pattern=TOKEN_RE.pattern)
    set_id: str = Field(pattern=TOKEN_RE.pattern)
    prompt_version: int | None = Field(default=None, ge=1)
    # A prompt not yet a version: the self-improvement an approval proposes.
    prompt: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    baseline: bool = True
    requested_by: str = Field(max_length=160)
    # Set by the eval gate: the self-improve approval the result is for.
    approval_id: str | None = Field(default=None, max_length=64)


class CheckOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CheckKind
    value: str = Field(default="", max_length=4000)
    # None: not judged (a rubric with no grader model configured); it counts neither way.
    passed: bool | None
    detail: str = Field(default="", max_length=2000)


class CaseResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str
    passed: bool
    checks: list[CheckOutcome] = Field(default_factory=list)
    answer: str = Field(default="", max_length=MAX_TEXT_CHARS)
    # What the re-run did: action types and tool names, in order, and whether a step asked approval.
    actions: list[str] = Field(default_factory=list)
    asked_approval: bool = False
    llm_calls: int = 0
    # Calls answered from a recorded reply (the session's own, or one an earlier eval kept).
    replayed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    # The same case with the twin's current prompt (None: no baseline run).
    baseline_passed: bool | None = None
    error: str | None = Field(default=None, max_length=2000)


class EvalResult(Body):
    """`eval.result.<session>`, and KV `pagi_evals` key `run.<set_id>.<run_id>`."""

    run_id: str
    set_id: str
    twin_id: str
    prompt_version: int | None = None
    state: Literal["running", "done", "failed"] = "done"
    error: str | None = Field(default=None, max_length=2000)
    cases: list[CaseResult] = Field(default_factory=list, max_length=MAX_CASES)
    passed: int = 0
    failed: int = 0
    pass_rate: float = 0.0
    baseline_version: int | None = None
    baseline_pass_rate: float | None = None
    llm_calls: int = 0
    replayed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    seconds: float = 0.0
    approval_id: str | None = None
    started_at: datetime
    finished_at: datetime | None = None


class EvalSetList(BaseModel):
    """`GET /v1/evals`."""

    model_config = ConfigDict(extra="forbid")

    sets: list[EvalSet] = Field(default_factory=list)


class EvalSetView(BaseModel):
    """`GET /v1/evals/{set_id}`: the set and its most recent results, newest first."""

    model_config = ConfigDict(extra="forbid")

    set: EvalSet
    results: list[EvalResult] = Field(default_factory=list)


class EvalSummary(BaseModel):
    """What a self-improve approval shows of its eval (`ApprovalRecord.eval`)."""

    model_config = ConfigDict(extra="forbid")

    set_id: str
    run_id: str
    state: Literal["running", "done", "failed"]
    passed: int = 0
    total: int = 0
    pass_rate: float = 0.0
    baseline_pass_rate: float | None = None
    # The twin's gate: the pass rate the approval needs (None: shown only, never required).
    required: float | None = None
    # Whether it may be approved on this eval (None: still running).
    ok: bool | None = None
    error: str | None = Field(default=None, max_length=2000)


class EvalGate(BaseModel):
    """A twin's policy: its self-improvements are run against this set; with `min_pass_rate`, one
    below it is never offered for approval (the eval gate denies it, saying why)."""

    model_config = ConfigDict(extra="forbid")

    set_id: str = Field(pattern=TOKEN_RE.pattern)
    min_pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)
