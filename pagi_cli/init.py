"""`pagi init`: create or update every stream, KV bucket and object store, once, then exit.

The one bootstrap for a stack `pagi up` does not start (compose runs it as an init service the
others wait for). It needs the operator's credentials in NATS_URL: no service's own user may create
or change a stream (pagi/nats_users.py), so a service only checks the topology is there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Final

from pagi.bus import TRANSIENT_ERRORS, Bus, BusUnavailable
from pagi.credentials import url_user, without_credentials
from pagi.nats_users import OPERATOR

from .options import add_bus_options, bus_url, connect_bus

# Compose starts it beside nats-server, which may take a few seconds to listen.
CONNECT_TIMEOUT_S: Final = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_bus_options(parser)
    parser.set_defaults(connect_timeout=CONNECT_TIMEOUT_S)


async def bootstrap(args: argparse.Namespace) -> list[str]:
    """The streams now on the bus, each created or brought up to date."""
    return await bootstrap_bus(await connect_bus(args, "pagi-init"))


async def bootstrap_url(url: str, connect_timeout_s: float = 10.0) -> list[str]:
    """The same from code (tests and benchmarks that start services against their own server)."""
    return await bootstrap_bus(await Bus.connect(url, "pagi-init", connect_timeout_s=connect_timeout_s))


async def bootstrap_bus(bus: Bus) -> list[str]:
    try:
        await bus.ensure_topology()
        await bus.wait_for_topology(timeout_s=5.0)
        return bus.topology_needed()
    finally:
        await bus.close()


def run(args: argparse.Namespace) -> int:
    url = bus_url(args)
    where = without_credentials(url)
    user = url_user(url)
    try:
        names = asyncio.run(bootstrap(args))
    except BusUnavailable as exc:
        print(f"pagi init: {exc}", file=sys.stderr)
        return 1
    except TRANSIENT_ERRORS as exc:
        # A permission refusal looks like no answer to nats-py: the request went nowhere.
        who = f"user {user!r}" if user else "no user"
        print(
            f"pagi init: {where} did not answer creating the streams ({type(exc).__name__}) as {who}: "
            f"NATS_URL must carry the {OPERATOR!r} user's credentials (PAGI_NATS_OPERATOR_PASSWORD)",
            file=sys.stderr,
        )
        return 1
    print(f"pagi init: {len(names)} streams ready on {where}: {', '.join(names)}", flush=True)
    return 0
