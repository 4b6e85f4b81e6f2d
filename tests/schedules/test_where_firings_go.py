"""Where a scheduled message can land, against a real nats-server: a schedule header on PAGI_EVENTS
is refused by the server, and a definition in PAGI_SCHEDULES can only fire inside that stream, so
nobody schedules an `approve.decision` (or any other event) by putting a header on a message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import nats.js.errors
import pytest
from nats.js.client import JetStreamContext

from bus_schemas.schedules import SCHEDULE_DEF
from pagi.bus import Bus
from pagi_cli.nats_server import NatsServer


@pytest.fixture
async def raw_js(bus: Bus, nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """A client nobody here wrote (nats-py itself), on the stack's topology (the `bus` fixture's)."""
    client = await nats.connect(nats_server.url)
    yield client.jetstream()
    await client.close()


async def test_a_schedule_header_on_an_event_is_refused(raw_js: JetStreamContext) -> None:
    headers = {"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "approve.decision.s1"}
    with pytest.raises(nats.js.errors.BadRequestError, match="message schedules is disabled"):
        await raw_js.publish("chat.in.s1", b"{}", headers=headers)


@pytest.mark.parametrize("target", ["approve.decision.s1", "chat.in.s1"])
async def test_a_definition_cannot_fire_outside_the_schedules_stream(raw_js: JetStreamContext, target: str) -> None:
    headers = {"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": target}
    with pytest.raises(nats.js.errors.BadRequestError):
        await raw_js.publish(f"{SCHEDULE_DEF}.probe", b"{}", headers=headers)
