"""What one build produced."""

from __future__ import annotations

from dataclasses import dataclass

from bus_schemas.build import BuildFailure


@dataclass
class BuildOutcome:
    success: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    artifact: bytes | None = None
    error: str | None = None
    reason: BuildFailure | None = None
    artifact_digest: str | None = None
    version: int | None = None
    # The build's sandboxed CPU time (None: not measured: it overlapped another run, sandbox/child_cpu.py).
    cpu_ms: float | None = None
