"""Which doors this edge serves, for /health (edge/api/health.py).

An HTTP door lives in the edge process, so it is up when its route is there; it may register a probe
of its own (`register_door`) to say more (the agents on NATS do: they are NATS micro services that
can be away while the edge serves HTTP). A door no probe and no route shows is "absent": this edge
was built or configured without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web


@dataclass(frozen=True)
class DoorState:
    up: bool
    detail: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[], DoorState]

# Every door the issue names, by the name /health and the metrics use, with the route that shows it.
DOOR_ROUTES: Final = {
    "openai": "/v1/chat/completions",
    "mcp": "/mcp",
    "a2a": "/a2a",
    "agents": None,  # on NATS, not HTTP: only its own probe can say
}
PROBES: Final = web.AppKey("door_probes", dict[str, Probe])


def register_door(app: web.Application, name: str, probe: Probe) -> None:
    """`probe` answers at once (no I/O: it reads the door's own state) whether the door is up."""
    app.setdefault(PROBES, {})[name] = probe


def _routes(app: web.Application) -> set[str]:
    paths: set[str] = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if isinstance(path, str):
            paths.add(path)
    return paths


def doors(app: web.Application, problems: list[str]) -> dict[str, dict[str, Any]]:
    """Each door's status (up, down, absent); a door that is there but down is a problem."""
    probes = app.get(PROBES, {})
    paths = _routes(app)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(DOOR_ROUTES) | set(probes)):
        probe = probes.get(name)
        route = DOOR_ROUTES.get(name)
        if probe is not None:
            try:
                state = probe()
            except Exception as exc:  # a probe must never take /health down with it
                state = DoorState(False, {"error": type(exc).__name__})
            entry: dict[str, Any] = {"status": "up" if state.up else "down", **state.detail}
            if not state.up:
                problems.append(f"door {name}: down")
        elif route is not None and route in paths:
            entry = {"status": "up"}
        else:
            entry = {"status": "absent"}
        if route is not None and route in paths:
            entry.setdefault("path", route)
        out[name] = entry
    return out
