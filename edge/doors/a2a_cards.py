"""A2A agent cards: one per twin, and one for the install (its twins as skills, its endpoint the
default twin's, or any listed twin's with `metadata.twin_id`). The card types and their JSON (with the
A2A 0.3 fields a 0.3 client reads, merged in) are the SDK's (`a2a.types`, `agent_card_to_dict`).

Who sees what: a card is a public document in A2A (served at a well-known path without credentials),
so an anonymous card lists only shared twins, never a private one; the twins a caller may use
(their own private twins too, `records.access.may_see_twin`) are in the authenticated extended card
(`GetExtendedAgentCard`, `agent/getAuthenticatedExtendedCard` in 0.3), which the cards announce.
In development mode (no keys) the one person at the machine sees every twin.
"""

from __future__ import annotations

from importlib import metadata
from typing import Final

from a2a.types import a2a_pb2 as a2a
from aiohttp import web

from bus_schemas.twin import Twin
from records.access import Caller, may_see_twin
from records.twins import DEFAULT_TWIN_ID

from ..appkeys import AUTH_KEYS
from ..front.auth import authenticated_user, caller

RPC_PATH: Final = "/a2a"  # the install's JSON-RPC endpoint; a twin's is /a2a/{twin_id}
PROTOCOL_VERSIONS: Final = ("1.0", "0.3")  # both served at the same URL (the SDK's v0.3 compatibility)
SCHEME: Final = "pagiApiKey"
INPUT_MODES: Final = ["text/plain", "application/json"]  # a JSON data part carries an approval decision
OUTPUT_MODES: Final = ["text/plain"]


def _version() -> str:
    try:
        return metadata.version("pagi")
    except metadata.PackageNotFoundError:
        return "0"


def card_viewer(request: web.Request) -> Caller | None:
    """Who a card is for: the authenticated caller; None (anonymous: shared twins only) when keys are on
    and none was checked; in development mode the one person at the machine."""
    if authenticated_user(request) is not None or not request.app[AUTH_KEYS].enabled:
        return caller(request)
    return None


def may_list(viewer: Caller | None, twin: Twin) -> bool:
    if viewer is None:
        return twin.owner is None
    return may_see_twin(viewer, twin.owner)


def base_url(request: web.Request) -> str:
    # The Host header has passed the front door's allow-list, so it names this edge.
    return f"{request.scheme}://{request.host}"


def _describe(twin: Twin) -> str:
    parts = [p for p in (twin.designation, twin.mission) if p.strip()]
    text = ". ".join(parts) if parts else f"the PAGI twin {twin.id}"
    return text[:1000]


def skill_of(twin: Twin) -> a2a.AgentSkill:
    return a2a.AgentSkill(
        id=twin.id,
        name=twin.codename or twin.id,
        description=_describe(twin),
        tags=["pagi", "twin", "private" if twin.owner else "shared"],
        examples=["hello"],
        input_modes=INPUT_MODES,
        output_modes=OUTPUT_MODES,
    )


def _card(request: web.Request, name: str, description: str, path: str, skills: list[a2a.AgentSkill]) -> a2a.AgentCard:
    url = base_url(request) + path
    card = a2a.AgentCard(
        name=name,
        description=description,
        version=_version(),
        supported_interfaces=[
            a2a.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=v) for v in PROTOCOL_VERSIONS
        ],
        provider=a2a.AgentProvider(organization="PAGI", url=base_url(request)),
        capabilities=a2a.AgentCapabilities(streaming=True, push_notifications=False, extended_agent_card=True),
        default_input_modes=INPUT_MODES,
        default_output_modes=OUTPUT_MODES,
        skills=skills,
    )
    if request.app[AUTH_KEYS].enabled:
        card.security_schemes[SCHEME].http_auth_security_scheme.CopyFrom(
            a2a.HTTPAuthSecurityScheme(
                scheme="Bearer", description="a PAGI API key (PAGI_API_KEYS), sent as Authorization: Bearer <key>"
            )
        )
        requirement = a2a.SecurityRequirement()
        requirement.schemes[SCHEME].SetInParent()
        card.security_requirements.append(requirement)
    return card


def twin_card(request: web.Request, twin: Twin) -> a2a.AgentCard:
    return _card(
        request,
        twin.codename or twin.id,
        f"{_describe(twin)} (a PAGI twin; steps that need a human's approval are asked for, and the task "
        "waits in input-required until the approval is decided)",
        f"{RPC_PATH}/{twin.id}",
        [skill_of(twin)],
    )


def install_card(request: web.Request, twins: list[Twin]) -> a2a.AgentCard:
    """The install's card: the twins as skills; its endpoint talks to the default twin unless a message's
    `metadata.twin_id` names another listed one."""
    ordered = sorted(twins, key=lambda t: (t.id != DEFAULT_TWIN_ID, t.id))
    return _card(
        request,
        "PAGI",
        "PAGI digital twins. Each skill is a twin: send to this endpoint (the default twin, "
        f"{DEFAULT_TWIN_ID}, or the twin named in the message's metadata.twin_id), or to the twin's own "
        f"card at {RPC_PATH}/<twin_id>/.well-known/agent-card.json. Steps that need a human's approval "
        "leave the task in input-required until the approval is decided.",
        RPC_PATH,
        [skill_of(t) for t in ordered],
    )
