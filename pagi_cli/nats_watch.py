"""`pagi up` keeps its nats-server running: started again, with the children's backoff, if it exits.

The services reconnect by themselves once it is back (same port, same store); meanwhile the edge's
/health says the bus is not connected. Nothing else restarts the server in `pagi up`'s layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from .nats_server import NatsServer, NatsServerError
from .supervisor import RestartPolicy

POLL_S = 0.5


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def keep_nats_up(server: NatsServer, policy: RestartPolicy, stop: asyncio.Event) -> None:
    crashes, started_at = 0, time.monotonic()
    while not stop.is_set():
        await _wait(stop, POLL_S)
        proc = server.proc
        if stop.is_set() or proc is None or proc.poll() is None:
            continue
        crashes, delay = policy.after_crash(crashes, started_at)
        print(
            f"pagi: nats-server exited with code {proc.returncode}; restarting in {delay:.1f}s "
            f"(crash {crashes} in a row; its log: {server.log_file})",
            flush=True,
        )
        await _wait(stop, delay)
        if stop.is_set():
            return
        started_at = time.monotonic()
        try:
            await asyncio.to_thread(server.start)
        except NatsServerError as exc:  # its process is gone again: the next poll counts it
            print(f"pagi: nats-server did not start again: {exc}", flush=True)
        else:
            print(f"pagi: nats-server is back on {server.url}", flush=True)
