"""Every piece of the edge app's state, as typed aiohttp `AppKey`s, declared here and nowhere else.

Set where the part is made (`make_app`, or the part's `cleanup_ctx` when it needs the bus), read by
the handlers. The types come from modules that import nothing of this one, so it imports no cycle.
"""

from __future__ import annotations

from aiohttp import web

from pagi.bus import Bus
from pagi.heartbeat import Heartbeater, ServiceRegistry
from records.bundle import Records
from records.sessions import SessionOwners

from .front.auth import ApiKeys
from .front.rate_limit import FailureLimiter, RateLimiter
from .front.revoked import RevokedSessions
from .live.client_socket import ClientSocket
from .live.outbox import Outbox
from .live.session_hub import SessionHub
from .live.telemetry_hub import TelemetryHub
from .settings import EdgeSettings

# The whole configuration, read once at start.
SETTINGS = web.AppKey("settings", EdgeSettings)
BUS = web.AppKey("bus", Bus)

# The shared records (twins, prompts, approvals, jobs, tools), opened once for the whole edge; the
# HTTP API (edge/api/) reads them.
STATE = web.AppKey("records", Records)

# The front door (edge/front/).
AUTH_KEYS = web.AppKey("auth_keys", ApiKeys)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
FAILED_KEYS = web.AppKey("failed_keys", FailureLimiter)  # wrong API keys per address
REVOKED_SESSIONS = web.AppKey("revoked_sessions", RevokedSessions)  # logged-out cookies
SERVICES = web.AppKey("services", ServiceRegistry)  # heartbeats heard, behind /health
HEARTBEAT = web.AppKey("heartbeat", Heartbeater)  # the edge's own

# The live streams (edge/live/).
HUB = web.AppKey("hub", SessionHub)
SOCKETS: web.AppKey[set[ClientSocket]] = web.AppKey("sockets")
OWNERS = web.AppKey("owners", SessionOwners)
TELEMETRY_HUB = web.AppKey("telemetry_hub", TelemetryHub)
# Open SSE streams' outboxes, ended on shutdown.
STREAMS: web.AppKey[set[Outbox[bytes]]] = web.AppKey("streams")
