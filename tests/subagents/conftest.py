"""The planner with its sweeper, twins and a sender: tests/planner's fixtures, shared."""

from __future__ import annotations

from ..planner.conftest import full_planner, make_twin, say, twins

__all__ = ["full_planner", "make_twin", "say", "twins"]
