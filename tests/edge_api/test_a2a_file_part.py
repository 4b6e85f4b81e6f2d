"""A2A's file part with its bytes (edge/doors/a2a_handler.py), through the official `a2a-sdk` client:
uploaded as POST /v1/documents uploads a file (edge/uploads.py) and attached to the task's message;
a file PAGI does not read, or one by url (the edge fetches nothing), is the standard's invalid params."""

from __future__ import annotations

import hashlib

import pytest
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import InvalidParamsError

from bus_schemas import ChatIn
from bus_schemas.documents import document_id_of
from bus_schemas.streams import DOCUMENTS, UPLOADS
from edge.uploads import ATTACHED_ONLY, upload_key
from pagi.bus import Bus

from ..doors.a2a_stack import A2AStack, a2a_stack
from ..support import ObserveFactory
from ..workers_support import state_dir

__all__ = ["a2a_stack", "state_dir"]

pytestmark = pytest.mark.timeout(120)


def file_message(data: bytes, filename: str, text: str | None = None) -> a2a.SendMessageRequest:
    parts = [a2a.Part(text=text)] if text else []
    parts.append(a2a.Part(raw=data, filename=filename, media_type="text/plain"))
    return a2a.SendMessageRequest(message=a2a.Message(message_id=f"m-{filename}", role=a2a.ROLE_USER, parts=parts))


async def test_a_file_part_with_bytes_is_uploaded_and_attached(
    a2a_stack: A2AStack, bus: Bus, observe: ObserveFactory
) -> None:
    chat_in = await observe("chat.in.>")
    client = await a2a_stack.client("alice", streaming=False)
    data = b"the on-call rota: ada, then grace\n"
    events = [e async for e in client.send_message(file_message(data, "rota.txt"))]
    task = events[0].task
    sent = await chat_in.wait_for_count(lambda e: e.session_id == task.context_id, 1)
    body: ChatIn = sent[0].body
    digest = hashlib.sha256(data).hexdigest()
    assert body.message == ATTACHED_ONLY
    assert [(a.document_id, a.filename, a.size) for a in body.attachments] == [
        (document_id_of(digest), "rota.txt", len(data))
    ]
    assert await (await bus.object_store(DOCUMENTS)).get(digest) == data
    assert await (await bus.kv(UPLOADS)).get(upload_key("alice", document_id_of(digest))) is not None

    for refused in (
        file_message(b"MZ", "tool.exe", text="run this"),
        a2a.SendMessageRequest(
            message=a2a.Message(
                message_id="by-url", role=a2a.ROLE_USER, parts=[a2a.Part(url="http://example.com/a.pdf")]
            )
        ),
    ):
        with pytest.raises(InvalidParamsError):
            async for _ in client.send_message(refused):
                pass
