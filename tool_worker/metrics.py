"""The tool worker's Prometheus figures: one count and one duration per run it answered."""

from __future__ import annotations

from typing import Literal

from pagi.metrics import TOOL_RUN_SECONDS, TOOL_RUNS
from sandbox import Reason, RunResult

Exit = Literal["ok", "error", "timeout", "killed", "refused"]

# Stopped at a limit while running; every other reason means the tool never ran (or was not let on).
KILLED_AT_A_LIMIT: frozenset[Reason] = frozenset({"output_limit", "cpu_limit", "file_size_limit", "workspace_quota"})


def exit_label(run: RunResult) -> Exit:
    if run.reason is None:
        return "ok" if run.exit_code == 0 else "error"
    if run.reason == "timeout":
        return "timeout"
    if run.reason in KILLED_AT_A_LIMIT:
        return "killed"
    if run.reason == "spawn_failed":
        return "error"
    return "refused"


def record_run(run: RunResult) -> None:
    exit = exit_label(run)
    TOOL_RUNS.labels(isolation=run.isolation, exit=exit).inc()
    if exit != "refused":  # nothing ran: its zero would only drag the times down
        TOOL_RUN_SECONDS.labels(isolation=run.isolation).observe(run.duration_ms / 1000.0)
