"""Every PAGI process as a NATS micro service (ADR-32), with nats-py's own `nats.micro`.

A service registers one micro service named after itself (`planner`, `memory_worker`, ..., `edge`),
so any NATS micro client (`nats micro ls`, `nats micro info planner`) finds every running instance
through `$SRV.PING`, `$SRV.INFO[.<name>]` and `$SRV.STATS[.<name>]`, and its metadata carries the
instance's facts (instance id, host, pid, metrics URL, sandbox, memory store). Request/reply APIs
(`api.memory`) are micro endpoints: counted in STATS, their errors in the `Nats-Service-Error` and
`Nats-Service-Error-Code` headers.

Liveness for `/health` stays with heartbeats (`pagi.heartbeat`; docs/architecture.md says why).

The Synadia agent protocol's micro services (`agents`, one per owner and session, edge/doors/agents_nats.py)
are served by Synadia's own host SDK (`synadia_ai.agent_service`: the ack, the streamed chunks, the
terminator, errors, heartbeats and `status` exactly as the protocol says); `agent_service` hands it this
connection, so the bus runtime stays the one place a nats-py client is handed out.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import socket
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from nats.micro import add_service
from nats.micro.request import ERROR_CODE_HEADER, ERROR_HEADER, Request
from nats.micro.service import SEMVER_REGEX, Service, ServiceConfig, ServiceVerb, control_subject
from nats.micro.service import Endpoint as MicroEndpoint
from pydantic import BaseModel

from .bus import TRANSIENT_ERRORS, Bus

if TYPE_CHECKING:
    from synadia_ai.agent_service import AgentService, PromptHandler, RequestInterceptor

__all__ = [
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "PING_ALL",
    "Answer",
    "Endpoint",
    "MicroService",
    "agent_service",
    "endpoint",
]

# Every micro service answers this: `nats micro ls` starts here.
PING_ALL: Final = control_subject(ServiceVerb.PING)

DESCRIPTIONS: Final = {
    "edge": "HTTP API, chat WebSocket, SSE streams and the web UI",
    "planner": "decides each chat message's actions and drives every job to its answer",
    "memory_worker": "memory: knowledge bases, save-to-memory, hybrid search, the api.memory endpoint",
    "tool_worker": "runs approved tools in the sandbox",
    "build_worker": "builds new tools from source and registers them",
    "telemetry_agent": "this host's CPU, memory, disk, network and GPU figures",
}


def pagi_version() -> str:
    try:
        return importlib.metadata.version("pagi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def new_instance_id() -> str:
    """This process's instance id, readable in /health and `nats micro ls`: host, pid and a nonce."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def micro_name(name: str) -> str:
    """A micro service name allows only letters, digits, `-` and `_`."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name) or "pagi"


def micro_version(version: str) -> str:
    """Micro requires a semantic version; a package without one (an unbuilt checkout) says 0.0.0."""
    return version if SEMVER_REGEX.match(version) else "0.0.0"


def as_metadata(facts: Mapping[str, object]) -> dict[str, str]:
    """Micro metadata is strings only: scalars as JSON (`true`, `3`), strings as they are, None left out."""
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in facts.items() if value is not None
    }


@dataclass(frozen=True)
class Answer:
    """An endpoint's reply: the body, and for a refusal the micro error (code and reason) in headers."""

    body: BaseModel
    error_code: str | None = None  # by micro convention an HTTP-like status: "400", "404", "503"
    error: str | None = None


EndpointHandler = Callable[[bytes], Awaitable[Answer]]


class MicroService:
    """One registered micro service on one connection; at most one per connection (see `registered`)."""

    def __init__(self, bus: Bus, service: Service, instance: str, metadata: dict[str, str]) -> None:
        self.bus = bus
        self.instance = instance
        self._service = service
        # nats.micro answers PING/INFO/STATS from the very dict it was given, so refreshing this one in
        # place keeps every answer current (tests/observability/test_micro.py pins that).
        self._metadata = metadata

    @classmethod
    async def register(
        cls,
        bus: Bus,
        name: str,
        instance: str,
        facts: Mapping[str, object] | None = None,
        description: str | None = None,
    ) -> MicroService:
        """Register `name` on this connection; `instance` (and `facts`) go into its metadata."""
        # Never empty (it always names the instance): nats.micro would swap an empty dict for its own.
        live = {**as_metadata(facts or {}), "instance": instance}
        config = ServiceConfig(
            name=micro_name(name),
            version=micro_version(pagi_version()),
            description=description or DESCRIPTIONS.get(name, f"PAGI {name}"),
            metadata=live,
        )
        service = await add_service(bus.nc, config)
        registered = cls(bus, service, instance, live)
        _registered[bus] = registered
        return registered

    @property
    def id(self) -> str:
        return self._service.id

    def update(self, facts: Mapping[str, object]) -> None:
        """Replace the facts in this instance's metadata (what PING, INFO and STATS answer from now on)."""
        fresh = {**as_metadata(facts), "instance": self.instance}
        self._metadata.clear()
        self._metadata.update(fresh)

    async def add_endpoint(self, name: str, subject: str, handler: EndpointHandler, queue_group: str) -> None:
        registered: list[MicroEndpoint] = []

        async def on_request(request: Request) -> None:
            answer = await handler(request.data)
            data = answer.body.model_dump_json(exclude_none=True).encode()
            if answer.error_code is not None:
                for one in registered:
                    count_error(one, answer)
            # A request without a reply subject (a plain publish) has nobody to answer; a bus that is
            # away drops the answer as it would any core message.
            with contextlib.suppress(ValueError, *TRANSIENT_ERRORS):
                if answer.error_code is None:
                    await request.respond(data)
                else:
                    await request.respond_error(answer.error_code, answer.error or "refused", data)

        await self._service.add_endpoint(name=name, subject=subject, handler=on_request, queue_group=queue_group)
        registered.extend(e for e in self._service._endpoints if e._name == name)

    async def stop(self) -> None:
        if _registered.get(self.bus) is self:
            del _registered[self.bus]
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self._service.stop()


def count_error(endpoint: MicroEndpoint, answer: Answer) -> None:
    """Count a refusal in the endpoint's STATS (`num_errors`, `last_error`), as Go's micro and ADR-32
    do for every error response. nats.micro counts only exceptions its handler raised, and raising
    would lose the reply body a refusal carries, so the counters are bumped here."""
    endpoint._num_errors += 1
    endpoint._last_error = f"{answer.error_code}:{answer.error or 'refused'}"  # type: ignore[assignment]


# The micro service each connection registered (a process has one, made by its Heartbeater), so an
# endpoint added later by the service's own code joins it rather than registering a second service.
_registered: weakref.WeakKeyDictionary[Bus, MicroService] = weakref.WeakKeyDictionary()


def registered(bus: Bus) -> MicroService | None:
    return _registered.get(bus)


@dataclass
class Endpoint:
    service: MicroService
    owns_service: bool

    async def stop(self) -> None:
        """Stop the service if it was registered for this endpoint alone. nats.micro cannot remove one
        endpoint from a service, so an endpoint of the process's service lives until that stops."""
        if self.owns_service:
            await self.service.stop()


async def endpoint(bus: Bus, name: str, subject: str, handler: EndpointHandler, queue_group: str) -> Endpoint:
    """Answer requests on `subject` as endpoint `name` of this connection's micro service (one of its
    own, named after the connection, when none is registered, e.g. in a test); every copy of the
    service joins `queue_group`, so each request is answered once."""
    service = registered(bus)
    owns = service is None
    if service is None:
        service = await MicroService.register(bus, bus.name, new_instance_id())
    await service.add_endpoint(name, subject, handler, queue_group)
    return Endpoint(service, owns)


async def agent_service(
    bus: Bus,
    *,
    agent: str,
    owner: str,
    session_name: str,
    description: str,
    metadata: dict[str, str],
    handler: PromptHandler,
    interceptors: tuple[RequestInterceptor, ...] = (),
    max_concurrent_prompts: int = 1,
    heartbeat_interval_s: int = 30,
    attachments_ok: bool = True,
) -> AgentService:
    """One agent of the Synadia agent protocol on this connection, started: a micro service named
    `agents` serving `agents.prompt|status.<agent>.<owner>.<session_name>` and heartbeating; stop it
    with its `stop()`. The SDK is imported here: only the edge serves agents, so no other service loads it."""
    from synadia_ai.agent_service import AgentService

    service = AgentService(
        agent=agent,
        owner=owner,
        session_name=session_name,
        nc=bus.nc,
        description=description,
        extra_metadata=metadata,
        interceptors=interceptors,
        max_concurrent_prompts=max_concurrent_prompts,
        heartbeat_interval_s=heartbeat_interval_s,
        attachments_ok=attachments_ok,
    )
    service.on_prompt(handler)
    await service.start()
    return service
