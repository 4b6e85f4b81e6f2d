"""The build worker's Prometheus figures: one count per build it answered, by language and outcome."""

from __future__ import annotations

from typing import Literal

from bus_schemas.build import BuildFailure
from pagi.metrics import BUILDS

from .outcome import BuildOutcome

Outcome = Literal["ok", "failed", "rejected"]

# The build ran and did not produce a tool; every other reason means it was refused before it ran.
FAILED: frozenset[BuildFailure] = frozenset({"timeout", "compile_error"})


def outcome_label(outcome: BuildOutcome) -> Outcome:
    if outcome.success:
        return "ok"
    return "failed" if outcome.reason is None or outcome.reason in FAILED else "rejected"


def record_build(language: str, outcome: BuildOutcome) -> None:
    BUILDS.labels(language=language, outcome=outcome_label(outcome)).inc()
