"""`python -m telemetry_agent [--host-id X]`: this host's telemetry onto the bus every interval."""

from __future__ import annotations

import argparse
import asyncio
import logging

from pagi.bus import Bus
from pagi.service import no_routes, run_service

from .agent import publish_samples
from .config import INTERVAL_ENV, check_host_id, default_host_id, interval_s
from .sampler import Sampler

log = logging.getLogger("telemetry_agent")


def parse_args(argv: list[str] | None = None) -> tuple[str, float]:
    parser = argparse.ArgumentParser(
        prog="python -m telemetry_agent",
        description="Publish this host's telemetry on telemetry.host.<host-id> every interval.",
        epilog=f"environment: NATS_URL (default nats://127.0.0.1:4222), {INTERVAL_ENV} "
        "(default 1000, minimum 100), LOG_LEVEL",
    )
    parser.add_argument(
        "--host-id",
        help="subject token naming this host (default: the host name, sanitised); "
        "give each agent on one machine its own",
    )
    args = parser.parse_args(argv)
    try:
        host_id = default_host_id() if args.host_id is None else check_host_id(args.host_id)
        interval = interval_s()
    except ValueError as exc:
        parser.error(str(exc))
    return host_id, interval


def main(argv: list[str] | None = None) -> None:
    host_id, interval = parse_args(argv)

    async def background(bus: Bus, stopping: asyncio.Event) -> None:
        sampler = Sampler(host_id)
        log.info("publishing telemetry.host.%s every %g s (%s)", host_id, interval, INTERVAL_ENV)
        try:
            await publish_samples(bus, stopping, sampler, interval)
        finally:
            sampler.close()

    run_service("telemetry_agent", no_routes, background)


if __name__ == "__main__":
    main()
