"""Typed application state (aiohttp's AppKey)."""

from __future__ import annotations

from aiohttp import web

from pagi.bus import Bus

from .client_socket import ClientSocket
from .session_hub import SessionHub
from .settings import EdgeSettings

SETTINGS = web.AppKey("settings", EdgeSettings)
BUS = web.AppKey("bus", Bus)
HUB = web.AppKey("hub", SessionHub)
SOCKETS: web.AppKey[set[ClientSocket]] = web.AppKey("sockets")
