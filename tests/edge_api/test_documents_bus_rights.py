"""An upload under nats.conf's real users (tests/security_bus): the edge's user may put a document in
`pagi_documents`, record it in `pagi_uploads` and start its job, and nothing more of those stores: the
tool worker's user can neither write a document nor read who uploaded what."""

from __future__ import annotations

import hashlib

import aiohttp
import nats.errors
import nats.js.errors
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import streams as st
from edge.app import make_app
from edge.settings import EdgeSettings
from edge.uploads import upload_key
from pagi.bus import Bus

from ..security_bus.conftest import SecureBus, bare_secure_server, secure_server

__all__ = ["bare_secure_server", "secure_server"]

REFUSED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.Error)


async def test_the_edges_user_stores_an_upload_and_the_tool_worker_cannot(secure_server: SecureBus) -> None:
    edge = await Bus.connect(secure_server.url("edge"), "edge", connect_timeout_s=5)
    tool = await Bus.connect(secure_server.url("tool"), "tool_worker", connect_timeout_s=5)
    settings = EdgeSettings(PAGI_API_KEYS="alice-bus-rights-key-01234:alice", PAGI_UPLOAD_WAIT_S=1)
    data = b"# rights\n"
    digest = hashlib.sha256(data).hexdigest()
    try:
        async with TestClient(TestServer(make_app(settings, bus=edge))) as http:
            form = aiohttp.FormData()
            form.add_field("file", data, filename="rights.md")
            response = await http.post(
                "/v1/documents", data=form, headers={"Authorization": "Bearer alice-bus-rights-key-01234"}
            )
            assert response.status == 201, await response.text()
            document_id = (await response.json())["document"]["document_id"]
        assert await (await edge.object_store(st.DOCUMENTS)).get(digest) == data
        assert await (await edge.kv(st.UPLOADS)).get(upload_key("alice", document_id)) is not None
        with pytest.raises(REFUSED):  # the tool worker may not even look the store up
            await (await tool.nc.jetstream(timeout=1.0).object_store(st.DOCUMENTS.bucket)).put("f" * 64, b"forged")
        with pytest.raises(REFUSED):
            await tool.nc.jetstream(timeout=1.0).key_value(st.UPLOADS.bucket)
    finally:
        await tool.close()
        await edge.close()
