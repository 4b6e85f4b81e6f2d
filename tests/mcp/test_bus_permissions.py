"""The MCP server bucket's NATS permissions (nats.conf, generated from pagi/nats_users.py) against a
real nats-server: the edge registers and removes servers, the tool worker reads them and nothing more,
no other service sees them at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
import pytest

from bus_schemas.streams import MCP_SERVERS
from pagi.nats_users import OPERATOR

from ..security_bus.conftest import UserClient

ConnectAs = Callable[[str], Awaitable[UserClient]]
RECORD = b'{"name": "time"}'


async def test_the_edge_writes_the_tool_worker_reads_no_one_else(connect_as: ConnectAs) -> None:
    edge = await connect_as("edge")
    bucket = await edge.nc.jetstream(timeout=5.0).key_value(MCP_SERVERS.bucket)
    await bucket.put("time", RECORD)

    tool = await connect_as("tool")
    tool_view = await tool.nc.jetstream(timeout=5.0).key_value(MCP_SERVERS.bucket)
    assert (await tool_view.get("time")).value == RECORD
    # Reading is all: registering a server of its own is refused (and nothing is written).
    await tool.nc.publish(f"$KV.{MCP_SERVERS.bucket}.evil", b'{"name": "evil"}')
    await tool.nc.flush()
    assert "publish" in (await tool.refusals.wait_for(f"$KV.{MCP_SERVERS.bucket}.evil")).lower()

    for user in ("planner", "memory", "build", "telemetry"):
        client = await connect_as(user)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.Error)):
            await client.nc.jetstream(timeout=1.0).key_value(MCP_SERVERS.bucket)
        await client.refusals.wait_for(f"$JS.API.STREAM.INFO.KV_{MCP_SERVERS.bucket}")

    operator = await connect_as(OPERATOR)
    kept = await operator.nc.jetstream(timeout=5.0).key_value(MCP_SERVERS.bucket)
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await kept.get("evil")
    assert (await kept.get("time")).value == RECORD
