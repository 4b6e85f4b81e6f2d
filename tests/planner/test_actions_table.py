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
    ActionResponse,
    ActionSelfImprove,
    ActionTool,
    BuildRequest,
    BuildResult,
    MemoryQuery,
    ToolResult,
    ToolRun,
)
from bus_schemas.subjects import BUILD_REQ, MEMORY_QUERY, TOOL_RUN
from bus_schemas.twin import PromptVersion, Twin
from planner.actions import ANSWER, KINDS, PromptChange, WorkerRequest, judge, kind_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)


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
    assert {kind.approval for kind in KINDS.values()} == {"memory", "tool", "build", "self_improve"}


def test_each_kind_names_the_seed_command_it_issues() -> None:
    # planner/markers.py finds which approvals a seed marker may decide through `issues`.
    actions = {
        "ActionMemory": ActionMemory(query="q"),
        "ActionTool": ActionTool(tool_name="echo"),
        "ActionBuildTool": ActionBuildTool(tool_name="t", language="python", code="print(1)", description="d"),
        "ActionSelfImprove": ActionSelfImprove(new_prompt="Be terse.", rationale="shorter"),
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
    assert kind.always_allows(action) is None


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
    assert kind.always_allows(action) == "python"


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
