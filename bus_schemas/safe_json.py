"""Reading JSON and msgpack from anyone: size and nesting depth bounded, every failure one error.

`json.loads` recurses in C and raises RecursionError (not ValueError) on `[` x 5000; the msgpack
unpacker raises StackError past 1024 levels. Here orjson (which stops at 1024 levels without
recursing) and msgpack parse, then a walk of the result, only when the payload has enough brackets
(or msgpack container headers) to be that deep at all, enforces `MAX_JSON_DEPTH`. Both parsers
return the same Python types as `json.loads`: msgpack's bin and extension types, which JSON cannot
express and which would fail later when the value is written out again, are refused.

Every failure is a `PayloadError` naming what was wrong, never echoing the input.
"""

from __future__ import annotations

from typing import Any, Final

import msgpack
import orjson

from .limits import MAX_EVENT_BYTES, MAX_JSON_DEPTH

# The msgpack type bytes that open a container: fixmap, fixarray, map16/32, array16/32. A payload
# with fewer of these bytes (anywhere, string contents included) than the depth limit cannot be
# deeper than it, so the walk is skipped for almost every real event.
_MSGPACK_CONTAINER_BYTES: Final = bytes([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])
_CONTAINERS: Final = (dict, list)


class PayloadError(ValueError):
    """The bytes are not a payload we will read; the message says what was wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads_json(
    data: bytes | bytearray | memoryview | str,
    what: str = "payload",
    max_bytes: int = MAX_EVENT_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """`data` parsed as JSON, or PayloadError ("<what> is not valid JSON: …", "… is nested deeper …")."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    _check_size(len(raw), what, max_bytes)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise PayloadError(_too_deep(what, max_depth)) from None
        raise PayloadError(f"{what} is not valid JSON: {exc}") from None
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        check_depth(value, what, max_depth)
    return value


def loads_msgpack(
    data: bytes | bytearray | memoryview,
    what: str = "payload",
    max_bytes: int = MAX_EVENT_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """`data` unpacked as msgpack (JSON types only), or PayloadError saying what was wrong."""
    raw = bytes(data)
    _check_size(len(raw), what, max_bytes)
    try:
        value = msgpack.unpackb(
            raw,
            raw=False,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_bin_len=0,
            max_ext_len=0,
            max_str_len=max_bytes,
            max_array_len=max_bytes,
            max_map_len=max_bytes,
        )
    except msgpack.StackError:
        raise PayloadError(_too_deep(what, max_depth)) from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        # TypeError: an unhashable map key (strict_map_key lets only str and bytes through).
        raise PayloadError(f"{what} is not valid msgpack: {type(exc).__name__} {exc}".rstrip()) from None
    if len(raw) - len(raw.translate(None, _MSGPACK_CONTAINER_BYTES)) > max_depth:
        check_depth(value, what, max_depth)
    return value


def check_depth(value: Any, what: str = "payload", max_depth: int = MAX_JSON_DEPTH) -> None:
    """PayloadError when `value` (plain JSON types) nests deeper than `max_depth`; iterative, so
    it is safe on anything a parser returned (`json.JSONDecoder.raw_decode` too)."""
    if type(value) not in _CONTAINERS:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if type(node) is dict else node:
            if type(child) in _CONTAINERS:
                if depth >= max_depth:
                    raise PayloadError(_too_deep(what, max_depth))
                stack.append((child, depth + 1))


def _check_size(size: int, what: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise PayloadError(f"{what} is {size} bytes, over the {max_bytes} limit")


def _too_deep(what: str, max_depth: int) -> str:
    return f"{what} is nested deeper than {max_depth} levels"


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"extension type {code} is not accepted (JSON types only)")
