"""The Synadia agent protocol on NATS: every twin a caller may use is an agent it can discover and prompt.

How the protocol (v0.3: `agents.<verb>.<agent>.<owner>.<session>`, one micro service `agents` per
agent, the session being the subject's last token) maps onto PAGI (bus_schemas/agents.py):

- the agent token is `pagi`; the owner is a PAGI user allowed to call over NATS (PAGI_NATS_AGENT_CALLERS,
  each with a NATS user `agent_<owner>` that may publish only its own owner's prompts:
  pagi/nats_users.py); the session is one PAGI session per owner and twin (`<owner>-<twin>`), so each
  twin the owner may use (records.access.may_see_twin) is one discovered agent, and the twin is chosen
  by picking that agent (its metadata names it: `twin`, `twin_name`), as the protocol picks a session;
- with API keys, only callers who hold a key are served, with that key's role; in development mode
  (no keys) a caller is a member;
- the registrations follow the twins: created, deleted and renamed twins are picked up every
  `SYNC_S` seconds; at most `MAX_AGENTS` agents per edge.

The protocol itself (the metadata, the ack, chunks, the terminator, error frames, heartbeats, `status`)
is Synadia's own host SDK (`synadia_ai.agent_service.AgentService`), handed the edge's connection by
the bus runtime (pagi.micro.agent_service): a maintained implementation of the exact wire rules rather
than a copy of them here. Every edge registers the same agents; the prompt endpoint's queue group
(`agents`, the protocol's) gives each prompt to one of them. What one prompt does: agents_prompt.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from synadia_ai.agent_service import AgentService

from bus_schemas import agents as protocol
from bus_schemas.twin import Twin
from pagi.bus import TRANSIENT_ERRORS
from pagi.micro import agent_service
from pagi.nats_users import agent_callers
from records.access import Caller, may_see_twin

from ..appkeys import AUTH_KEYS, BUS, STATE
from .agents_prompt import Agent, StartJob, handler_for
from .health import DoorState, register_door

log = logging.getLogger("edge.doors.agents")

SYNC_S: Final = 15.0
MAX_AGENTS: Final = 256
# Prompts one agent (an owner's session with a twin) serves at once on one edge; more wait in the
# subscription (nats-server bounds it) until one ends.
MAX_CONCURRENT_PROMPTS: Final = 4
STOP_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True)
class Wanted:
    agent: Agent
    twin_name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.agent.owner.user_id, self.agent.twin_id)


class AgentsDoor:
    """The agents this edge serves, kept in step with the callers and the twins."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.serving: dict[tuple[str, str], tuple[Wanted, AgentService]] = {}
        self._warned: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def callers(self) -> list[Caller]:
        try:
            names = agent_callers()
        except ValueError as exc:
            self._warn_once(str(exc))
            return []
        keys = self.app.get(AUTH_KEYS)
        if keys is None or not keys.enabled:
            return [Caller(name, "member") for name in names]
        served = []
        for name in names:
            if name in keys.by_user:
                served.append(Caller(name, keys.role_of(name)))
            else:
                self._warn_once(f"agents: caller {name} has no API key, so is no PAGI user here: not served")
        return served

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning(message)

    def wanted(self, callers: list[Caller], twins: list[Twin]) -> dict[tuple[str, str], Wanted]:
        out: dict[tuple[str, str], Wanted] = {}
        for who in callers:
            for twin in twins:
                if not may_see_twin(who, twin.owner):
                    continue
                if len(out) >= MAX_AGENTS:
                    self._warn_once(f"agents: more than {MAX_AGENTS} agents wanted; the rest are not served")
                    return out
                agent = Agent(who, protocol.session_for(who.user_id, twin.id), twin.id)
                one = Wanted(agent, twin.codename)
                out[one.key] = one
        return out

    async def sync(self) -> None:
        callers = self.callers()
        twins = await self.app[STATE].twins.list() if callers else []
        wanted = self.wanted(callers, twins)
        for key, (was, service) in list(self.serving.items()):
            if wanted.get(key) != was:
                del self.serving[key]
                await _stop(service)
        for key, one in wanted.items():
            if key not in self.serving:
                self.serving[key] = (one, await self._start(one))
                log.info("agents: serving %s", protocol.prompt_subject(one.agent.owner.user_id, one.agent.session_id))

    async def _start(self, one: Wanted) -> AgentService:
        agent = one.agent
        return await agent_service(
            self.app[BUS],
            agent=protocol.AGENT,
            owner=agent.owner.user_id,
            session_name=agent.session_id,
            description=f"PAGI twin {one.twin_name} ({agent.twin_id}) for {agent.owner.user_id}",
            metadata={protocol.META_TWIN: agent.twin_id, protocol.META_TWIN_NAME: one.twin_name},
            handler=handler_for(self.app, agent),
            interceptors=(StartJob(self.app, agent),),
            max_concurrent_prompts=MAX_CONCURRENT_PROMPTS,
            # Files are read and offered to the twin, stored in memory only if approved (agents_prompt.py).
            attachments_ok=True,
        )

    async def run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SYNC_S)
            if self._stopping.is_set():
                return
            await self._sync_logged()

    async def _sync_logged(self) -> None:
        try:
            await self.sync()
        except TRANSIENT_ERRORS as exc:
            log.warning("agents: the twins could not be read (%s); trying again in %.0f s", exc, SYNC_S)
        except Exception:
            log.exception("agents: keeping the registrations in step failed; trying again in %.0f s", SYNC_S)

    def state(self) -> DoorState:
        """For /health: up while the loop that keeps the registrations in step runs."""
        try:
            agent_callers()
        except ValueError as exc:
            return DoorState(False, {"error": str(exc)})
        running = self._task is not None and not self._task.done()
        return DoorState(running, {"agents": len(self.serving), "callers": len(self.callers())})

    async def start(self) -> None:
        await self._sync_logged()
        self._task = asyncio.create_task(self.run(), name="agents-door")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, STOP_TIMEOUT_S)
        for _, service in list(self.serving.values()):
            await _stop(service)
        self.serving.clear()


async def _stop(service: AgentService) -> None:
    # A prompt in flight is cancelled and gets its terminator; its job goes on (the console shows it).
    with contextlib.suppress(*TRANSIENT_ERRORS):
        await asyncio.wait_for(service.stop(), STOP_TIMEOUT_S)


def register(app: web.Application) -> None:
    door = AgentsDoor(app)
    try:
        configured = bool(agent_callers())
    except ValueError:
        configured = True  # a bad setting is a door that is there and down, said by its probe
    if configured:
        register_door(app, "agents", door.state)

    async def serve(app: web.Application) -> AsyncIterator[None]:
        await door.start()
        yield
        await door.stop()

    app.cleanup_ctx.append(serve)
