"""Asking and handing to twins, as models are offered them: only twins whose policy names some."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bus_schemas.twin import Twin
from planner.decider import allowed_actions
from planner.llm.tools import own_tools

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def twin(**settings: Any) -> Twin:
    return Twin(id="ops", codename="Ops", created_at=NOW, updated_at=NOW, **settings)


def test_a_twin_that_may_ask_nobody_is_not_offered_asking() -> None:
    assert not {"ActionAskTwin", "ActionHandoff"} & set(allowed_actions(twin()))
    names = {spec.name for spec in own_tools(allowed_actions(twin()))}
    assert "AskTwin" not in names and "Handoff" not in names


def test_a_twin_that_may_ask_is_offered_both_with_their_arguments() -> None:
    offered = {spec.name: spec for spec in own_tools(allowed_actions(twin(may_ask=["reviewer"])))}
    ask, hand = offered["AskTwin"], offered["Handoff"]
    assert ask.action_type == "ActionAskTwin" and set(ask.parameters["required"]) == {"twin_id", "message"}
    assert hand.action_type == "ActionHandoff" and hand.parameters["required"] == ["twin_id"]
    assert ask.parameters["additionalProperties"] is False
