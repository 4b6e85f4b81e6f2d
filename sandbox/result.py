"""What one sandboxed run produced."""

from __future__ import annotations

from dataclasses import dataclass, field

from bus_schemas.tool import Isolation, PidsScope, ToolFailure

Reason = ToolFailure
__all__ = ["Isolation", "PidsScope", "Reason", "RunResult"]


@dataclass
class RunResult:
    exit_code: int
    stdout: str
    stderr: str
    duration_ms: float
    truncated: bool
    isolation: Isolation
    # The run's CPU time (None: not measured, e.g. it overlapped another run: sandbox/child_cpu.py).
    cpu_ms: float | None = None
    files_changed: list[str] = field(default_factory=list)
    # What the sandbox removed to bring the workspace back under its quota.
    files_removed: list[str] = field(default_factory=list)
    reason: Reason | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.reason is None

    @classmethod
    def refused(cls, isolation: Isolation, reason: Reason, error: str) -> RunResult:
        return cls(
            exit_code=-1,
            stdout="",
            stderr=error,
            duration_ms=0.0,
            truncated=False,
            isolation=isolation,
            reason=reason,
            error=error,
        )
