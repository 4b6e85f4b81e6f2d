"""GET /health: is PAGI whole? The bus, every service (from heartbeats), the memory store, the sandbox, the doors.

200 with `"status": "ok"` when the bus answers and every known service has a live instance; 503
with `"status": "degraded"` and the reasons in `problems` otherwise. A service is known when it
is required (`PAGI_REQUIRED_SERVICES`) or this edge has heard from it since it started, so a
worker that stops (or stops sending heartbeats) turns the edge unhealthy. Under `pagi up`, the
supervisor's own heartbeat (`bus_schemas.supervision`) says at once when a worker exited, with its
exit code and how many times in a row, while it restarts it.

In keys mode, a caller without a key (a load balancer's probe) gets only `status` (and the same
status code): which services run where, their versions and hosts are for users. Development mode
serves loopback only, so there the details are always given.
"""

from __future__ import annotations

import time
from importlib.metadata import version
from typing import Any

from aiohttp import web

from bus_schemas import heartbeat as hb
from bus_schemas.streams import EVENTS, TOOLS
from bus_schemas.supervision import SUPERVISOR, ChildReport, from_details
from bus_schemas.tool import SANDBOX_STATUS_KEY, SandboxStatus
from pagi.bus import TRANSIENT_ERRORS, Bus
from pagi.heartbeat import Seen, ServiceView

from ..appkeys import AUTH_KEYS, BUS, HUB, SERVICES, SOCKETS
from ..doors.health import doors
from ..front.auth import authenticated_user


def _instance(seen: Seen, now: float) -> dict[str, Any]:
    beat = seen.heartbeat
    return {
        "instance": beat.instance,
        "host": beat.host,
        "pid": beat.pid,
        "version": beat.version,
        "started_at": beat.started_at.isoformat(),
        "last_seen_s": round(now - seen.received, 3),
        "metrics_url": beat.metrics_url,
        "consumers": {c.durable: {"pending": c.num_pending, "ack_pending": c.num_ack_pending} for c in beat.consumers},
        "details": beat.details,
    }


def _supervised(views: dict[str, ServiceView]) -> dict[str, ChildReport]:
    """What a live `pagi up` says about its children (nothing when the stack runs otherwise)."""
    view = views.get(SUPERVISOR)
    if view is None or not view.instances:
        return {}
    latest = max(view.instances, key=lambda seen: seen.received)
    return from_details(dict(latest.heartbeat.details))


def _restart_note(child: ChildReport) -> str | None:
    if child.crashes_in_a_row == 0:
        return None
    how = f"exited with code {child.last_exit_code}"
    if child.crashes_in_a_row > 1:
        how = f"crash-looping ({child.crashes_in_a_row} crashes in a row, last exit code {child.last_exit_code})"
    if child.state == "restarting":
        return f"{how}; pagi up restarts it in {child.restart_delay_s:g} s"
    if child.state == "starting":
        return f"{how}; pagi up restarted it, not ready yet"
    return None


def _services(views: dict[str, ServiceView], now: float, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    supervised = _supervised(views)
    for name, view in sorted(views.items()):
        up = bool(view.instances)
        entry: dict[str, Any] = {"status": "up" if up else "down"}
        entry["instances"] = [_instance(seen, now) for seen in view.instances]
        child = supervised.get(name)
        note = _restart_note(child) if child is not None else None
        if child is not None:
            entry["supervisor"] = child.model_dump()
        if not up:
            if view.last_seen is None:
                entry["last_seen_s"] = None
                problem = f"{name}: required, never heard from"
            else:
                entry["last_seen_s"] = round(now - view.last_seen, 1)
                problem = f"{name}: no live instance (last heard {entry['last_seen_s']} s ago)"
            problems.append(f"{problem}; {note}" if note else problem)
        elif note:
            # Its last heartbeat is still fresh, but that process is gone (and the new one not ready).
            entry["status"] = "restarting"
            problems.append(f"{name}: {note}")
        out[name] = entry
    return out


def _details(views: dict[str, ServiceView], service: str) -> dict[str, Any]:
    view = views.get(service)
    return dict(view.instances[0].heartbeat.details) if view and view.instances else {}


def _memory_store(views: dict[str, ServiceView], problems: list[str]) -> dict[str, Any]:
    view = views.get("memory_worker")
    if view is None or not view.instances:
        return {"status": "unknown", "reason": "no live memory_worker"}
    details = _details(views, "memory_worker")
    if hb.MEMORY_STORE_OK in details and not details[hb.MEMORY_STORE_OK]:
        problems.append("memory store: the memory worker reports its store is not answering")
        return {"status": "down", "location": details.get(hb.MEMORY_STORE)}
    if hb.MEMORY_STORE not in details:
        return {"status": "up", "location": None, "reason": "memory_worker does not report its store"}
    return {"status": "up", "location": details[hb.MEMORY_STORE]}


# What /health's sandbox summary shows, by the heartbeat key the tool worker reports it under.
_SANDBOX_BOUNDS = {
    "required": hb.SANDBOX_REQUIRED,
    "userns_disabled": hb.SANDBOX_USERNS_DISABLED,
    "seccomp": hb.SANDBOX_SECCOMP,
    "pids_scope": hb.SANDBOX_PIDS_SCOPE,
    "cgroup": hb.SANDBOX_CGROUP,
    "workspaces": hb.SANDBOX_WORKSPACES,
    "free_bytes": hb.SANDBOX_FREE_BYTES,
    "min_free_bytes": hb.SANDBOX_MIN_FREE_BYTES,
}


async def _sandbox(bus: Bus, views: dict[str, ServiceView]) -> dict[str, Any]:
    """The tool worker's isolation: from its heartbeat, else the status it keeps in KV."""
    details = _details(views, "tool_worker")
    if hb.SANDBOX in details:
        in_force = {name: details.get(key) for name, key in _SANDBOX_BOUNDS.items()}
        return {"mode": details[hb.SANDBOX], **in_force, "source": "heartbeat"}
    try:
        status = await (await bus.kv(TOOLS)).get_model(SANDBOX_STATUS_KEY, SandboxStatus)
    except TRANSIENT_ERRORS:
        status = None
    except ValueError:  # a status written by another version of the tool worker
        status = None
    if status is None:
        return {"mode": "unknown", "required": None, "source": None}
    return {
        "mode": status.isolation,
        "required": status.require_sandbox,
        "warning": status.warning,
        "userns_disabled": status.userns_disabled,
        "seccomp": status.seccomp,
        "pids_scope": status.pids_scope,
        "free_bytes": status.workspace_free_bytes,
        "updated_at": status.updated_at.isoformat(),
        "source": "kv",
    }


async def get_health(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    rtt_ms = await bus.rtt_ms()
    problems: list[str] = []
    if not bus.connected or rtt_ms is None:
        problems.append("bus: not connected")
    stream = await bus.stream_state(EVENTS.name) if rtt_ms is not None else None
    if rtt_ms is not None and stream is None:
        problems.append(f"bus: stream {EVENTS.name} not reachable")
    registry = request.app.get(SERVICES)
    views = registry.services() if registry is not None else {}
    now = time.monotonic()
    services = _services(views, now, problems)
    memory = _memory_store(views, problems)
    sandbox = await _sandbox(bus, views) if rtt_ms is not None else {"mode": "unknown"}
    door_states = doors(request.app, problems)
    healthy = not problems
    code = 200 if healthy else 503
    if request.app[AUTH_KEYS].enabled and authenticated_user(request) is None:
        return web.json_response({"status": "ok" if healthy else "degraded"}, status=code)
    return web.json_response(
        {
            "service": "edge",
            "status": "ok" if healthy else "degraded",
            "version": version("pagi"),
            "problems": problems,
            "bus": {
                "connected": bus.connected,
                "rtt_ms": None if rtt_ms is None else round(rtt_ms, 3),
                "events_stream": None if stream is None else {"messages": stream.messages, "bytes": stream.bytes},
            },
            "services": services,
            "memory_store": memory,
            "sandbox": sandbox,
            "doors": door_states,
            "websockets": len(request.app[SOCKETS]),
            "sessions_watched": request.app[HUB].sessions,
        },
        status=code,
    )
