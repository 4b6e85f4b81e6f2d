"""`python -m planner`: consumes chat.in and drives each job to its answer."""

from __future__ import annotations

from collections.abc import Sequence

from bus_schemas.streams import PLANNER_CHAT_IN
from pagi.bus import Bus
from pagi.service import Route, run_service

from .chat_in import handle_chat_in


async def routes(bus: Bus) -> Sequence[Route]:
    return [Route(PLANNER_CHAT_IN, handle_chat_in, max_in_flight=128)]


if __name__ == "__main__":
    run_service("planner", routes)
