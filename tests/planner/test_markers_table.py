"""The seed's reply markers (planner/markers.py): one entry per marker the seed sends, which approval
kinds each may decide (through `ActionKind.issues`), and which pending approval it picks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bus_schemas import ActionMemory, ActionTool
from bus_schemas.approval import ApprovalRecord
from planner.markers import MARKERS, choose, parse

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def record(approval_id: str, kind: str, action: Any, age_s: float, expires_in_s: float = 60) -> ApprovalRecord:
    created = NOW - timedelta(seconds=age_s)
    return ApprovalRecord(
        approval_id=approval_id, session_id="s", job_id=f"j-{approval_id}", twin_id="orchestrator", step=1,
        kind=kind, action=action, summary="", reason="", policy="p", created_at=created,
        expires_at=NOW + timedelta(seconds=expires_in_s),
    )  # fmt: skip


def test_one_entry_per_marker_the_seed_sends() -> None:
    assert set(MARKERS) == {
        "TOOL_EXECUTED", "TOOL_DENIED", "MEMORY_SHOWN", "MEMORY_DENIED", "CONFIG_RESPONSE", "CONFIG_DENIED"
    }  # fmt: skip
    kinds = {tag: (m.command, set(m.approval_kinds), m.approved) for tag, m in MARKERS.items()}
    assert kinds == {
        "TOOL_EXECUTED": ("execute_tool", {"tool"}, True),
        "TOOL_DENIED": ("execute_tool", {"tool"}, False),
        # A memory search, a proposed memory and a document to store all open the seed's memory page.
        "MEMORY_SHOWN": ("show_memory_page", {"memory", "remember", "document"}, True),
        "MEMORY_DENIED": ("show_memory_page", {"memory", "remember", "document"}, False),
        # No PAGI approval asks with prompt_for_config: these decide nothing.
        "CONFIG_RESPONSE": ("prompt_for_config", set(), True),
        "CONFIG_DENIED": ("prompt_for_config", set(), False),
    }


def test_parse_reads_the_seeds_shapes_and_nothing_else() -> None:
    shapes = {
        "[TOOL_EXECUTED] command_exec - CONFIRMED": ("TOOL_EXECUTED", "command_exec"),
        "  [TOOL_EXECUTED] my-tool - CONFIRMED\n": ("TOOL_EXECUTED", "my-tool"),
        "[TOOL_EXECUTED] command_exec": ("TOOL_EXECUTED", "command_exec"),
        "[TOOL_DENIED] file_read": ("TOOL_DENIED", "file_read"),
        "[MEMORY_SHOWN] 0f3c": ("MEMORY_SHOWN", "0f3c"),
        "[MEMORY_DENIED] 0f3c": ("MEMORY_DENIED", "0f3c"),
        "[CONFIG_RESPONSE] api_key: a value: with colons": ("CONFIG_RESPONSE", "api_key"),
        "[CONFIG_DENIED] api_key": ("CONFIG_DENIED", "api_key"),
        "[TOOL_EXECUTED] command_exec - MAYBE": ("TOOL_EXECUTED", None),
        "[TOOL_DENIED] two names": ("TOOL_DENIED", None),
        "[MEMORY_SHOWN]": ("MEMORY_SHOWN", None),
    }
    for text, expected in shapes.items():
        marker = parse(text)
        assert marker is not None and (marker.tag, marker.name) == expected, text
    for text in ("approve it", "CONFIRMED", "[NOTE] hi", "[tool_executed] x", "please [TOOL_EXECUTED] x"):
        assert parse(text) is None, text


def test_choose_takes_the_newest_unexpired_match_of_the_right_kind() -> None:
    pending = [
        record("old", "tool", ActionTool(tool_name="command_exec"), age_s=30),
        record("new", "tool", ActionTool(tool_name="command_exec"), age_s=10),
        record("other-tool", "tool", ActionTool(tool_name="file_read"), age_s=1),
        record("expired", "tool", ActionTool(tool_name="command_exec"), age_s=0, expires_in_s=-1),
        record("mem", "memory", ActionMemory(query="q"), age_s=5),
    ]
    execute = parse("[TOOL_EXECUTED] command_exec - CONFIRMED")
    assert execute is not None
    chosen = choose(execute, pending, NOW)
    assert chosen.record is not None and chosen.record.approval_id == "new"
    assert chosen.why.endswith("approves approval new; 1 older matching one still pending")
    for text in ("[MEMORY_SHOWN] mem", "[MEMORY_DENIED] mem"):
        marker = parse(text)
        assert marker is not None
        memory = choose(marker, pending, NOW).record
        assert memory is not None and memory.approval_id == "mem", text
    for text in ("[MEMORY_SHOWN] new", "[TOOL_DENIED] mem", "[TOOL_DENIED] list_files", "[CONFIG_DENIED] k"):
        marker = parse(text)
        assert marker is not None and choose(marker, pending, NOW).record is None, text
