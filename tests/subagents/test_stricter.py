"""A sub-job's policy: only what every twin on its chain may (planner/subjobs.py `stricter`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bus_schemas import derived_id
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.twin import Twin
from planner.subjobs import chain_text, child_id, running_child, stricter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def twin(twin_id: str, **settings: Any) -> Twin:
    return Twin(id=twin_id, codename=twin_id, created_at=NOW, updated_at=NOW, **settings)


def test_tools_mcp_tools_always_and_depth_are_intersected() -> None:
    reviewer = twin(
        "reviewer", allowed_tools=["file_read", "command_exec"], always_allow=["file_read", "command_exec"],
        mcp_tools=["git/*", "time/now"], always_remember=["notes", "ops"], max_depth=5,
    )  # fmt: skip
    ops = twin(
        "ops", allowed_tools=["file_read"], always_allow=["file_read"], mcp_tools=["git/log", "time/*"],
        always_remember=["ops"], code_generation=False, max_depth=2,
    )  # fmt: skip
    strict = stricter(reviewer, [ops])
    assert strict.id == "reviewer" and strict.allowed_tools == ["file_read"] and strict.always_allow == ["file_read"]
    # `git/*` narrowed to the caller's `git/log`; `time/now` kept (the caller has `time/*`).
    assert sorted(strict.mcp_tools) == ["git/log", "time/now"]
    assert strict.always_remember == ["ops"] and strict.code_generation is False and strict.max_depth == 2
    assert stricter(reviewer, []) == reviewer
    # Every twin on the chain counts, not only the last.
    root = twin("root", allowed_tools=[], mcp_tools=[])
    assert stricter(reviewer, [root, ops]).allowed_tools == [] and stricter(reviewer, [root, ops]).mcp_tools == []


def test_the_chain_reads_root_first_and_a_finished_parent_still_names_its_sub_job() -> None:
    assert chain_text(["ops", "reviewer"], "tester") == "ops → reviewer → tester"
    step = JobStep(step=1, trigger_id="t", action_type="ActionAskTwin", action={}, decided_by="deterministic")
    job = JobRecord(job_id="j", session_id="s", twin_id="ops", message="m", created_at=NOW, updated_at=NOW)
    job = job.model_copy(update={"steps": [step]})
    assert running_child(job) == child_id(derived_id("t", "request"))
    answered = job.model_copy(update={"steps": [step.model_copy(update={"observation": "done"})]})
    assert running_child(answered) is None
