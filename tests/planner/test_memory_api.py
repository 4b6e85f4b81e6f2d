"""The memory over HTTP against the real memory worker: save, search, get, delete, stats, global
search, history, and clear errors."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient

from memory_worker.worker import MemoryWorker

Client = TestClient[web.Request, web.Application]


async def test_save_search_get_delete(edge: Client, memory_worker: MemoryWorker, session_id: str) -> None:
    saved = await edge.post(
        "/v1/memory",
        json={"session_id": session_id, "text": "The VPN gateway is 198.51.100.7 and rotates keys monthly.",
              "kb": "domain", "source": "message:abc"},
    )  # fmt: skip
    assert saved.status == 201, await saved.text()
    memory_id = (await saved.json())["id"]

    found = await (await edge.get("/v1/memory/search", params={"q": "198.51.100.7", "k": "3"})).json()
    [hit] = [r for r in found["results"] if r["id"] == memory_id]
    assert hit["kb"] == "domain" and hit["source"] == "message:abc"

    one = await (await edge.get(f"/v1/memory/{memory_id}")).json()
    assert one["text"].startswith("The VPN gateway")
    stats = await (await edge.get("/v1/memory/namespaces")).json()
    assert stats["namespaces"]["default"]["domain"] >= 1

    assert (await edge.delete(f"/v1/memory/{memory_id}")).status == 204
    assert (await edge.get(f"/v1/memory/{memory_id}")).status == 404
    assert (await edge.delete(f"/v1/memory/{memory_id}")).status == 404


async def test_bad_queries_get_clear_errors(edge: Client, memory_worker: MemoryWorker) -> None:
    assert (await edge.get("/v1/memory/search")).status == 400
    bad_k = await edge.get("/v1/memory/search", params={"q": "x", "k": "0"})
    assert bad_k.status == 400 and "between 1 and 100" in (await bad_k.json())["error"]
    short = await edge.get("/v1/search", params={"q": "a"})
    assert short.status == 400 and "at least 2 characters" in (await short.json())["error"]
    assert (await edge.get("/v1/memory/search", params={"q": "x", "namespace": "no such!"})).status == 400
    empty = await edge.post("/v1/memory", json={"session_id": "s", "text": ""})
    assert empty.status == 400


async def test_without_a_memory_worker_the_answer_is_503(edge: Client) -> None:
    response = await edge.get("/v1/memory/search", params={"q": "anything"})
    assert response.status == 503 and "memory worker unavailable" in (await response.json())["error"]


async def test_global_search_finds_chat_messages_and_history_lists_them(
    edge: Client, memory_worker: MemoryWorker, session_id: str
) -> None:
    await edge.post("/v1/chat", json={"message": "kernel panic at boot xyzzy42", "session_id": session_id})

    async def indexed() -> list[dict[str, object]]:
        while True:
            body = await (await edge.get("/v1/search", params={"q": "xyzzy42"})).json()
            if body["results"]:
                return list(body["results"])
            await asyncio.sleep(0.1)  # indexing is asynchronous; bounded by wait_for

    results = await asyncio.wait_for(indexed(), 10)
    assert results[0]["session_id"] == session_id and results[0]["kind"] == "message"
    history = await (await edge.get(f"/v1/sessions/{session_id}/history")).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    assert history["messages"][0]["text"] == "kernel panic at boot xyzzy42"
