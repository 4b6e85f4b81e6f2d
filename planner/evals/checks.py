"""A case's checks against what a re-run did: its answer, the actions it decided, whether it asked.

A rubric is judged by a grader model (env `PAGI_EVAL_GRADER=provider:model`, its base URL from
`PAGI_EVAL_GRADER_URL` or the preset's); without one it is not judged (passed None), and a case passes
when every judged check did."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bus_schemas.evals import CheckOutcome, EvalCheck

from ..llm import LLMError, LLMProvider
from ..llm.messages import ChatMessage
from ..llm.reply import json_text

GRADER_ENV = "PAGI_EVAL_GRADER"
GRADER_URL_ENV = "PAGI_EVAL_GRADER_URL"
GRADER_PROMPT = (
    "You grade one answer of an assistant against a rubric. Reply with one JSON object only: "
    '{"pass": true or false, "why": "one short sentence"}.'
)


@dataclass(frozen=True)
class Taken:
    """One action a re-run decided: its type, and the name a check calls it by (a tool's name)."""

    action_type: str
    name: str

    def called(self, value: str) -> bool:
        return value in (self.action_type, self.name)


@dataclass
class Run:
    """What a re-run of a case did."""

    answer: str = ""
    taken: list[Taken] = field(default_factory=list)
    asked_approval: bool = False


def grader_spec(env: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """(provider, model, base URL or None) from the environment; None: no grader configured."""
    spec = env.get(GRADER_ENV, "").strip()
    provider, _, model = spec.partition(":")
    if not provider or not model:
        return None
    return provider, model, env.get(GRADER_URL_ENV) or None


async def grade(grader: LLMProvider, rubric: str, message: str, answer: str) -> tuple[bool | None, str]:
    asked = [
        ChatMessage("system", GRADER_PROMPT),
        ChatMessage("user", f"Rubric:\n{rubric}\n\nThe user's message:\n{message}\n\nThe answer:\n{answer}"),
    ]
    try:
        completion = await grader.complete(asked, json_mode=True)
        verdict = json.loads(json_text(completion.text))
    except (LLMError, ValueError) as exc:
        return None, f"grader failed: {exc}"[:2000]
    if not isinstance(verdict, dict) or not isinstance(verdict.get("pass"), bool):
        return None, "grader's reply had no boolean 'pass'"
    return verdict["pass"], str(verdict.get("why", ""))[:2000]


def check(c: EvalCheck, run: Run) -> CheckOutcome:
    """Every kind but rubric (graded by `grade`)."""
    passed: bool | None
    detail = ""
    if c.kind == "exact":
        passed = run.answer.strip() == c.value.strip()
        detail = "" if passed else f"answer was {run.answer[:300]!r}"
    elif c.kind == "regex":
        try:
            passed = re.search(c.value, run.answer) is not None
        except re.error as exc:
            passed, detail = False, f"not a regular expression: {exc}"
        else:
            detail = "" if passed else f"no match in {run.answer[:300]!r}"
    elif c.kind in ("must_call", "must_not_call"):
        called = any(t.called(c.value) for t in run.taken)
        passed = called if c.kind == "must_call" else not called
        detail = "called: " + (", ".join(t.name for t in run.taken) or "nothing")
    elif c.kind == "must_ask_approval":
        passed = run.asked_approval
        detail = "" if passed else "no step asked for approval"
    else:
        passed, detail = None, "no grader model configured"
    return CheckOutcome(kind=c.kind, value=c.value, passed=passed, detail=detail[:2000])


async def check_all(
    checks: Sequence[EvalCheck], run: Run, message: str, grader: LLMProvider | None
) -> list[CheckOutcome]:
    outcomes = []
    for c in checks:
        outcome = check(c, run)
        if c.kind == "rubric" and grader is not None:
            passed, detail = await grade(grader, c.value, message, run.answer)
            outcome = outcome.model_copy(update={"passed": passed, "detail": detail})
        outcomes.append(outcome)
    return outcomes


def passed(outcomes: Sequence[CheckOutcome]) -> bool:
    """Every judged check passed (a rubric nobody graded counts neither way)."""
    return all(o.passed for o in outcomes if o.passed is not None)
