"""The body of a JSON-RPC door's POST (A2A, MCP), read by PAGI before the door's SDK sees it: bounded in
size (a declared length or a chunked body over the limit is refused without reading it all), and
checked for depth by PAGI's bounded decoder, since the SDKs' own decoders have no depth limit (a deep
body was their recursion error)."""

from __future__ import annotations

from aiohttp import web

from bus_schemas.safe_json import PayloadError, loads_json


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge once it passes `limit` bytes (at most `limit + 1` are read)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    # StreamReader.read(n) answers what has arrived, up to n: a chunked body comes in several reads.
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def check_depth_only(body: bytes) -> None:
    """PayloadError for a body nested too deep; anything else (even invalid JSON) is the SDK's to answer."""
    try:
        loads_json(body, "JSON-RPC request", max_bytes=len(body) + 1)
    except PayloadError as exc:
        if "nested deeper" in str(exc):
            raise
