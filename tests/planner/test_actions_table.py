"""The planner's action table (planner/actions.py): every action kind of the wire union has exactly
one entry, and each entry says what its kind means."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from bus_schemas import (
    Action,
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
from bus_schemas.approval import ApprovalChanges, ApprovalKind
from bus_schemas.documents import DocumentRef, ParsedDocument, document_id_of
from bus_schemas.memory import MemoryHit, MemoryResult, MemoryStore
from bus_schemas.subjects import BUILD_REQ, MEMORY_INGEST, MEMORY_PARSE, MEMORY_QUERY, MEMORY_STORE, TOOL_RUN
from bus_schemas.twin import PromptVersion, Twin
from planner.actions import ANSWER, KINDS, PromptChange, Unchangeable, WorkerRequest, judge, kind_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DOC = DocumentRef(document_id=document_id_of("c" * 64), digest="c" * 64, filename="runbook.pdf", size=2048)
PARSED = ParsedDocument(
    document_id=DOC.document_id, filename="runbook.pdf", size=2048, format="pdf", pages=2, chunks=3,
    characters=40, preview=["rotate the keys", "then the certificates"],
    excerpt="rotate the keys\n\nthen the certificates",
)  # fmt: skip


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
