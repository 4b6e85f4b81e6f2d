"""The real stack as the document tests use it: a real nats-server (tests/conftest.py), the real
planner and memory worker (which reads an upload before its approval is asked) in this test's event
loop, and the real edge on a free port with API keys for alice, bob
(members) and root (an admin), and a small upload limit so an oversize file is quick to send."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas.documents import DocumentRef
from bus_schemas.streams import DOCUMENTS, UPLOADS
from edge.app import make_app
from edge.settings import EdgeSettings
from edge.uploads import upload_key
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer

KEYS: Final = {
    "alice": "alice-docs-key-0123456789ab",
    "bob": "bob-docs-key-0123456789abcd",
    "root": "root-docs-key-0123456789abc",
}
UPLOAD_LIMIT: Final = 64 * 1024
# Below the upload limit: a file may be larger than any JSON body (the upload route has its own limit).
BODY_LIMIT: Final = 32 * 1024
UPLOAD_WAIT_S: Final = 5.0


@dataclass
class DocumentsStack:
    http: TestClient[web.Request, web.Application]
    bus: Bus

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[user]}"}

    async def upload(
        self,
        user: str,
        data: bytes,
        filename: str = "notes.md",
        headers: dict[str, str] | None = None,
        **fields: str,
    ) -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        form.add_field("file", data, filename=filename, content_type=content_type)
        return await self.http.post("/v1/documents", data=form, headers={**self.auth(user), **(headers or {})})

    async def stored(self, data: bytes) -> bytes | None:
        return await (await self.bus.object_store(DOCUMENTS)).get(hashlib.sha256(data).hexdigest())

    async def object_messages(self) -> int:
        state = await self.bus.stream_state(f"OBJ_{DOCUMENTS.bucket}")
        assert state is not None
        return state.messages

    async def upload_record(self, user: str, document_id: str) -> DocumentRef | None:
        found = await (await self.bus.kv(UPLOADS)).get(upload_key(user, document_id))
        return None if found is None else DocumentRef.model_validate_json(found[0])

    async def chat(self, user: str, **body: Any) -> aiohttp.ClientResponse:
        return await self.http.post("/v1/chat", json=body, headers=self.auth(user))


@pytest.fixture
async def documents_stack(
    bus: Bus, planner: list[PullConsumer], memory_worker: MemoryWorker
) -> AsyncIterator[DocumentsStack]:
    keys = ",".join(f"{key}:{user}" + (":admin" if user == "root" else "") for user, key in KEYS.items())
    settings = EdgeSettings(
        PAGI_API_KEYS=keys,
        PAGI_CHAT_TIMEOUT_S=10,
        PAGI_RATE_LIMIT_BURST=200,
        PAGI_MAX_UPLOAD_BYTES=UPLOAD_LIMIT,
        PAGI_MAX_BODY_BYTES=BODY_LIMIT,
        PAGI_UPLOAD_WAIT_S=UPLOAD_WAIT_S,
    )
    async with TestClient(TestServer(make_app(settings, bus=bus))) as http:
        yield DocumentsStack(http, bus)
