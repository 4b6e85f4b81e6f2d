"""The planner's action table (planner/actions.py): every action kind of the wire union has exactly
one entry, and each entry says what its kind means."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import pytest

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
    BuildRequest,
    BuildResult,
    MemoryQuery,
    ToolResult,
    ToolRun,
)
from bus_schemas.actions import ActionAskTwin, ActionHandoff
from bus_schemas.approval import ApprovalChanges, ApprovalKind, ApprovalRecord
from bus_schemas.budgets import Budget
from bus_schemas.documents import DocumentRef, ParsedDocument, document_id_of
from bus_schemas.evals import EvalGate, EvalSummary
from bus_schemas.jobs import JobRecord
from bus_schemas.memory import MemoryHit, MemoryResult, MemoryStore
from bus_schemas.subjects import BUILD_REQ, MEMORY_INGEST, MEMORY_PARSE, MEMORY_QUERY, MEMORY_STORE, TOOL_RUN
from bus_schemas.twin import PromptVersion, Twin
from planner.actions import (
    ANSWER,
    KINDS,
    BudgetRaise,
    Handoff,
    PromptChange,
    SubJob,
    Unchangeable,
    WorkerRequest,
    judge,
    kind_of,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DOC = DocumentRef(document_id=document_id_of("c" * 64), digest="c" * 64, filename="runbook.pdf", size=2048)
PARSED = ParsedDocument(
    document_id=DOC.document_id, filename="runbook.pdf", size=2048, format="pdf", pages=2, chunks=3,
    characters=40, preview=["rotate the keys", "then the certificates"],
    excerpt="rotate the keys\n\nthen the certificates",
)  # fmt: skip

BUDGET = ActionBudget(scope="user:alice", period="day", unit="tokens", limit=10_000, spent=9_800, estimate=1_300,
                      ceiling=50_000)  # fmt: skip


def twin(**settings: Any) -> Twin:
    fields: dict[str, Any] = {"codename": "T", "directive_logic": "Be kind.", "memory_namespace": "notes"}
    return Twin(id="t1", created_at=NOW, updated_at=NOW, **{**fields, **settings})


def action_types() -> set[str]:
    (union, _discriminator) = get_args(Action)
    return {member.model_fields["action_type"].default for member in get_args(union)}


def test_every_action_kind_but_the_direct_answer_has_one_entry() -> None:
    # A new action kind in bus_schemas.actions without an entry here fails this test.
    assert set(KINDS) == action_types() - {"ActionResponse"}
    for action_type, kind in KINDS.items():
        assert kind.action.model_fields["action_type"].default == action_type
    assert {kind.approval for kind in KINDS.values()} == set(get_args(ApprovalKind))


def test_each_kind_names_the_seed_command_it_issues() -> None:
    # planner/markers.py finds which approvals a seed marker may decide through `issues`.
    actions = {
        "ActionMemory": ActionMemory(query="q"),
        "ActionTool": ActionTool(tool_name="echo"),
        "ActionBuildTool": ActionBuildTool(tool_name="t", language="python", code="print(1)", description="d"),
        "ActionSelfImprove": ActionSelfImprove(new_prompt="Be terse.", rationale="shorter"),
        "ActionRemember": ActionRemember(text="the VPN is on 10.0.3.17"),
        "ActionReadDocument": ActionReadDocument(document=DOC),
        "ActionStoreDocument": ActionStoreDocument(document=DOC, parsed=PARSED, namespace="notes"),
        "ActionBudget": BUDGET,
        "ActionAskTwin": ActionAskTwin(twin_id="reviewer", message="is this safe?"),
        "ActionHandoff": ActionHandoff(twin_id="billing"),
    }
    for action_type, kind in KINDS.items():
        assert type(kind.command(actions[action_type], twin(), "ap")) is kind.issues, action_type


def test_a_direct_answer_needs_no_approval() -> None:
    assert judge(ActionResponse(content="hi"), twin()) is ANSWER and ANSWER.outcome == "respond"
    with pytest.raises(KeyError):
        kind_of("ActionResponse")


def test_memory_search() -> None:
    action, kind = ActionMemory(query="CVE-2024-1"), kind_of("ActionMemory")
    assert judge(action, twin()).outcome == "ask"
    assert kind.summary(action, twin()) == "search memory (notes) for 'CVE-2024-1'"
    command = {"command": "show_memory_page", "query": "CVE-2024-1", "memory_id": "ap", "approval_id": "ap"}
    assert kind.command(action, twin(), "ap").model_dump() == command
    request = kind.request(action, twin(), "rq", "ap")
    assert isinstance(request, WorkerRequest) and (request.worker, request.event_type) == ("memory", MEMORY_QUERY)
    assert request.body == MemoryQuery(request_id="rq", query="CVE-2024-1", namespace="notes", top_k=5)
    hit = MemoryHit(id="m1", score=0.9, text="t", kb="domain", namespace="notes", source="a.pdf", page=3)
    (cited,) = kind.cites(MemoryResult(request_id="rq", hits=[hit]))
    assert (cited.id, cited.source, cited.page, cited.namespace) == ("m1", "a.pdf", 3, "notes")
    with pytest.raises(Unchangeable):
        kind.amend(action, ApprovalChanges(text="other"))


def test_tool_use() -> None:
    action, kind = ActionTool(tool_name="python", args={"code": "1"}), kind_of("ActionTool")
    assert judge(action, twin()).outcome == "ask"
    assert judge(action, twin(always_allow=["python"])).outcome == "run"
    assert judge(action, twin(allowed_tools=[])).outcome == "deny"
    assert kind.command(action, twin(), "ap").model_dump()["command"] == "execute_tool"
    request = kind.request(action, twin(), "rq", "ap")
    assert isinstance(request, WorkerRequest) and (request.worker, request.event_type) == ("tool", TOOL_RUN)
    assert request.body == ToolRun(request_id="rq", approval_id="ap", tool_name="python", args={"code": "1"})
    result = ToolResult(request_id="rq", tool_name="python", exit_code=0, stdout="1", isolation="bwrap")
    assert kind.observe(action, result, twin()).startswith("Tool python exited with code 0")
    with pytest.raises(Unchangeable):
        kind.amend(action, ApprovalChanges(namespace="x"))


def test_tool_build() -> None:
    action = ActionBuildTool(tool_name="wc", language="python", code="print(1)", description="count")
    kind = kind_of("ActionBuildTool")
    assert judge(action, twin()).outcome == "ask" and judge(action, twin(code_generation=False)).outcome == "deny"
    assert kind.command(action, twin(), "ap").model_dump()["command"] == "build_tool"
    request = kind.request(action, twin(), "rq", "ap")
    assert isinstance(request, WorkerRequest) and (request.worker, request.event_type) == ("build", BUILD_REQ)
    assert isinstance(request.body, BuildRequest) and request.body.code == "print(1)"
    built = BuildResult(request_id="rq", tool_name="wc", success=True, version=1, artifact_digest="sha256:x")
    assert kind.grants(built) == "wc" and kind.grants(built.model_copy(update={"success": False})) is None


def test_self_improvement_is_the_planner_s_own_prompt_change() -> None:
    action, kind = ActionSelfImprove(new_prompt="Be terse.", rationale="shorter"), kind_of("ActionSelfImprove")
    assert judge(action, twin()).outcome == "ask"
    assert "-Be kind.\n+Be terse." in kind.summary(action, twin())
    command = kind.command(action, twin(), "ap").model_dump()
    assert command["command"] == "self_improve" and "+Be terse." in command["diff"]
    assert kind.request(action, twin(), "rq", "ap") == PromptChange("Be terse.", "shorter")
    version = PromptVersion(version=3, prompt="Be terse.", author="self-improve", created_at=NOW)
    assert kind.observe(action, version, twin()) == "The system prompt of t1 is now version 3."


def test_a_proposed_memory_asks_unless_its_namespace_is_always_allowed_and_may_be_edited() -> None:
    action, kind = ActionRemember(text="the VPN is on 10.0.3.17", why="asked twice"), kind_of("ActionRemember")
    assert judge(action, twin()).outcome == "ask" and kind.approval == "remember"
    assert judge(action, twin(always_remember=["notes"])).outcome == "run"
    assert judge(action.model_copy(update={"namespace": "ops"}), twin(always_remember=["notes"])).outcome == "ask"
    assert "because asked twice" in kind.summary(action, twin())
    request = kind.request(action, twin(), "rq", "ap")
    assert isinstance(request, WorkerRequest) and (request.worker, request.event_type) == ("memory", MEMORY_STORE)
    assert isinstance(request.body, MemoryStore)
    assert (request.body.text, request.body.namespace, request.body.approval_id) == (action.text, "notes", "ap")
    edited = kind.amend(action, ApprovalChanges(text="the VPN is on 10.0.3.18", kb="domain"))
    assert (edited.text, edited.kb, edited.why) == ("the VPN is on 10.0.3.18", "domain", "asked twice")
    stored = MemoryResult(request_id="rq", stored_id="m1", created=[True])
    assert kind.observe(action, stored, twin()) == "Remembered in notes/mind as m1."


def test_a_read_upload_calls_for_its_gated_store_and_a_read_attachment_does_not() -> None:
    kind = kind_of("ActionReadDocument")
    upload = ActionReadDocument(document=DOC, namespace="team", kb="body", then_store=True)
    assert judge(upload, twin()).outcome == "run"
    request = kind.request(upload, twin(), "rq", None)
    assert isinstance(request, WorkerRequest) and request.event_type == MEMORY_PARSE
    read = MemoryResult(request_id="rq", document=PARSED)
    follow = kind.follow_up(upload, read, twin())
    assert follow == ActionStoreDocument(document=DOC, parsed=PARSED, namespace="team", kb="body")
    assert kind.follow_up(upload.model_copy(update={"then_store": False}), read, twin()) is None
    failed = MemoryResult(request_id="rq", error="not a PDF", error_kind="unreadable")
    assert kind.follow_up(upload, failed, twin()) is None
    assert kind.observe(upload, failed, twin()) == "Could not read runbook.pdf: not a PDF"
    offered = kind.observe(upload.model_copy(update={"then_store": False}), read, twin())
    assert "Its text:" in offered and "rotate the keys" in offered


def test_storing_a_document_always_asks_shows_a_preview_and_may_move() -> None:
    kind = kind_of("ActionStoreDocument")
    action = ActionStoreDocument(document=DOC, parsed=PARSED, namespace="notes")
    assert judge(action, twin(always_remember=["notes"])).outcome == "ask"
    summary = kind.summary(action, twin())
    assert "runbook.pdf (2048 bytes, pdf, 2 pages, 3 chunks) in notes/domain" in summary
    assert "[1] rotate the keys" in summary
    moved = kind.amend(action, ApprovalChanges(namespace="team", kb="body"))
    assert (moved.namespace, moved.kb) == ("team", "body")
    with pytest.raises(Unchangeable, match="text"):
        kind.amend(action, ApprovalChanges(text="x"))
    request = kind.request(action, twin(), "rq", "ap")
    assert isinstance(request, WorkerRequest) and request.event_type == MEMORY_INGEST
    done = MemoryResult(request_id="rq", stored_count=3, new_count=2)
    assert (
        kind.observe(action, done, twin()) == "Stored 3 chunks of runbook.pdf in notes/domain (2 new, 1 already known)."
    )


def test_a_budget_always_asks_says_what_was_spent_and_may_be_raised_up_to_its_ceiling() -> None:
    kind = kind_of("ActionBudget")
    verdict = judge(BUDGET, twin(always_allow=["python"], always_remember=["notes"]))
    assert (verdict.outcome, verdict.policy, verdict.kind) == ("ask", "budget", "budget")
    assert kind.summary(BUDGET, twin()) == (
        "user:alice day budget: spent 9,800 tokens of 10,000 tokens; the next LLM call is estimated at "
        "1,300 tokens (hard ceiling 50,000 tokens)"
    )
    money = BUDGET.model_copy(update={"unit": "money", "limit": 2.0, "spent": 1.995, "estimate": 0.01, "ceiling": None})
    assert kind.summary(money, twin()) == (
        "user:alice day budget: spent 1.995 USD of 2 USD; the next LLM call is estimated at 0.01 USD"
    )
    assert kind.request(BUDGET, twin(), "rq", "ap") == BudgetRaise("user:alice", "day", "tokens", None)
    raised = kind.amend(BUDGET, ApprovalChanges(limit=20_000))
    assert raised.raise_to == 20_000 and raised.limit == 10_000
    assert kind.request(raised, twin(), "rq", "ap") == BudgetRaise("user:alice", "day", "tokens", 20_000)
    with pytest.raises(Unchangeable, match="ceiling"):
        kind.amend(BUDGET, ApprovalChanges(limit=60_000))
    with pytest.raises(Unchangeable, match="text"):
        kind.amend(BUDGET, ApprovalChanges(text="x", limit=20_000))
    with pytest.raises(Unchangeable, match="new limit"):
        kind.amend(BUDGET, ApprovalChanges())
    budget = Budget(scope="user:alice", period="day", tokens=20_000, updated_by="root", updated_at=NOW)
    assert kind.observe(raised, budget, twin()).endswith("its limit is now 20,000 tokens")
    assert "one LLM call over the day tokens budget of user:alice" in kind.observe(BUDGET, None, twin())
    denied = kind.ends_on_denial(BUDGET)
    assert denied is not None and "budget of user:alice is spent (9,800 tokens of 10,000 tokens)" in denied
    # Only a budget ends its job on a denial; every other kind decides again.
    assert [t for t, k in KINDS.items() if k.ends_on_denial(BUDGET) is not None] == ["ActionBudget"]


def _self_improve_record(summary: EvalSummary | None) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id="ap", session_id="s", job_id="j", twin_id="t1", step=1, kind="self_improve",
        action=ActionSelfImprove(new_prompt="Be terse.", rationale="shorter"), summary="", reason="",
        policy="self-improve", created_at=NOW, expires_at=NOW, eval=summary,
    )  # fmt: skip


def test_a_gated_self_improvement_waits_for_a_passing_eval_and_a_denial_is_always_taken() -> None:
    kind = kind_of("ActionSelfImprove")
    gated = twin(eval_gate=EvalGate(set_id="regress", min_pass_rate=0.8))
    assert kind.eval_pending(gated) and not kind.eval_pending(twin())
    assert not any(k.eval_pending(gated) for t, k in KINDS.items() if t != "ActionSelfImprove")
    running = EvalSummary(set_id="regress", run_id="r", state="running", required=0.8)
    failed = running.model_copy(update={"state": "done", "passed": 1, "total": 4, "pass_rate": 0.25, "ok": False})
    passed = running.model_copy(update={"state": "done", "passed": 4, "total": 4, "pass_rate": 1.0, "ok": True})
    assert "not started" in (kind.refuses_decision(_self_improve_record(None), True, gated) or "")
    assert "still running" in (kind.refuses_decision(_self_improve_record(running), True, gated) or "")
    assert "did not pass (25%, 80% required)" in (
        kind.refuses_decision(_self_improve_record(failed), True, gated) or ""
    )
    # A failed eval blocks even after the gate is taken off the twin; no eval on an ungated twin does not.
    assert kind.refuses_decision(_self_improve_record(failed), True, twin()) is not None
    assert kind.refuses_decision(_self_improve_record(None), True, twin()) is None
    assert kind.refuses_decision(_self_improve_record(passed), True, gated) is None
    for summary in (None, running, failed):
        assert kind.refuses_decision(_self_improve_record(summary), False, gated) is None
    assert all(k.refuses_decision(_self_improve_record(None), True, gated) is None
               for t, k in KINDS.items() if t != "ActionSelfImprove")  # fmt: skip


def _job(twin_id: str = "t1", chain: list[str] | None = None, parent: str | None = None) -> JobRecord:
    return JobRecord(job_id="j", session_id="s", twin_id=twin_id, message="m", created_at=NOW, updated_at=NOW,
                     chain=chain or [], parent_job_id=parent, parent_step=1 if parent else None)  # fmt: skip


def test_asking_a_twin_needs_it_in_the_policy_and_refuses_cycles_and_depth() -> None:
    kind = kind_of("ActionAskTwin")
    ask = ActionAskTwin(twin_id="reviewer", message="is this safe?")
    refused = judge(ask, twin())
    assert refused.outcome == "deny" and "'reviewer' is not among the twins t1 may ask" in refused.reason
    assert judge(ask, twin(may_ask=["reviewer"])).outcome == "run"
    assert judge(ActionAskTwin(twin_id="t1", message="me?"), twin(may_ask=["t1"])).outcome == "deny"
    assert kind.request(ask, twin(), "r", None) == SubJob("reviewer", "is this safe?")
    assert kind.bounds(ask, _job(), twin(may_ask=["reviewer"])) is None
    cycle = kind.bounds(ask, _job("t1", ["reviewer", "ops"], "p"), twin())
    assert cycle is not None and "cycle (reviewer → ops → t1 → reviewer)" in cycle
    deep = kind.bounds(ask, _job("t1", ["a", "b", "c"], "p"), twin())
    assert deep is not None and "over the depth limit of 3" in deep
    assert kind.bounds(ask, _job("t1", ["a"], "p"), twin(max_depth=1)) is not None
    assert kind.bounds(ask, _job("t1", ["a"], "p"), twin(max_depth=2)) is None


def test_a_handoff_needs_the_target_in_the_policy_and_never_leaves_a_sub_job() -> None:
    kind = kind_of("ActionHandoff")
    hand = ActionHandoff(twin_id="billing", reason="a refund")
    assert judge(hand, twin()).outcome == "deny"
    assert judge(hand, twin(may_ask=["billing"])).outcome == "run"
    assert kind.request(hand, twin(), "r", None) == Handoff("billing", "a refund")
    assert kind.bounds(hand, _job(), twin()) is None
    assert "cannot hand the conversation over" in (kind.bounds(hand, _job("t1", ["ops"], "p"), twin()) or "")
