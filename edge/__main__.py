"""`python -m edge`: the HTTP API, chat WebSocket and web UI on PAGI_HOST:PAGI_PORT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from pagi import eventloop, tracing
from pagi.logs import setup_logging
from pagi.service import READY_LINE
from pagi.settings import BusSettings, load_or_exit

from .app import make_app
from .front.security import InsecureBind
from .settings import EdgeSettings

log = logging.getLogger("edge")


async def serve(settings: EdgeSettings, bus_settings: BusSettings) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    # aiohttp has no header-read timeout of its own; its keep-alive timer is armed when a connection
    # opens and re-armed after each answer, and closes the connection if no complete request head
    # has arrived by then (aiohttp/web_protocol.py, connection_made and _process_keepalive). So the
    # keep-alive bound is the header bound; a request being handled (a WebSocket, an SSE stream) is
    # never cut by it.
    runner = web.AppRunner(
        make_app(settings, bus_settings=bus_settings),
        shutdown_timeout=5,
        access_log=None,
        keepalive_timeout=settings.header_timeout_s,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        log.info("%s: listening on http://%s:%d", READY_LINE, settings.host, settings.port)
        await stopping.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def main() -> None:
    bus_settings = load_or_exit(BusSettings, "edge")
    edge_settings = load_or_exit(EdgeSettings, "edge")
    setup_logging("edge", bus_settings.log_level)
    tracing.setup_tracing("edge")
    try:
        eventloop.run(serve(edge_settings, bus_settings), bus_settings.event_loop)
    except InsecureBind as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    finally:
        tracing.shutdown_tracing()


if __name__ == "__main__":
    main()
