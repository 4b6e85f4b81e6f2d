"""Typed application state (aiohttp's AppKey)."""

from __future__ import annotations

from aiohttp import web

from pagi.bus import Bus

from .live.client_socket import ClientSocket
from .live.outbox import Outbox
from .live.session_hub import SessionHub
from .live.session_owner import SessionOwners
from .live.stream_settings import StreamSettings
from .live.telemetry_hub import TelemetryHub
from .settings import EdgeSettings

SETTINGS = web.AppKey("settings", EdgeSettings)
BUS = web.AppKey("bus", Bus)
HUB = web.AppKey("hub", SessionHub)
SOCKETS: web.AppKey[set[ClientSocket]] = web.AppKey("sockets")
STREAM_SETTINGS = web.AppKey("stream_settings", StreamSettings)
OWNERS = web.AppKey("owners", SessionOwners)
TELEMETRY_HUB = web.AppKey("telemetry_hub", TelemetryHub)
# Open SSE streams' outboxes, ended on shutdown.
STREAMS: web.AppKey[set[Outbox[bytes]]] = web.AppKey("streams")
