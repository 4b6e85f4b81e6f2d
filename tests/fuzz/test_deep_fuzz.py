"""Nested payloads drawn with hypothesis, JSON and msgpack, every consumed event type: the bounded
decoders agree with the standard parsers wherever those work, refuse exactly what nests deeper than
MAX_JSON_DEPTH, and the codec never raises anything but DecodeError.

The payloads are written byte by byte (a spine of arrays and objects, each with a few siblings),
not with `json.dumps`, which itself recurses and could not write the deep ones.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus_schemas import DecodeError, decode
from bus_schemas.limits import MAX_JSON_DEPTH
from bus_schemas.safe_json import PayloadError, check_depth, loads_json, loads_msgpack

from .messages import CONSUMED

# One level of the spine: an array or an object, and how many scalar siblings sit before the child.
levels = st.lists(st.tuples(st.booleans(), st.integers(0, 2)), min_size=1, max_size=1500)
# Mostly near the limit, where an off-by-one would show.
near_limit = st.lists(
    st.tuples(st.booleans(), st.integers(0, 2)), min_size=MAX_JSON_DEPTH - 3, max_size=MAX_JSON_DEPTH + 3
)
spines = st.one_of(near_limit, levels)


def as_json(spine: list[tuple[bool, int]]) -> bytes:
    head, tail = [], []
    for is_array, siblings in spine:
        if is_array:
            head.append("[" + "1," * siblings)
            tail.append("]")
        else:
            head.append("{" + "".join(f'"s{i}":"[{{",' for i in range(siblings)) + '"k":')
            tail.append("}")
    return ("".join(head) + "null" + "".join(reversed(tail))).encode()


def as_msgpack(spine: list[tuple[bool, int]]) -> bytes:
    out = bytearray()
    for is_array, siblings in spine:
        if is_array:
            out.append(0x90 | (siblings + 1))
            out += b"\x01" * siblings
        else:
            out.append(0x80 | (siblings + 1))
            for i in range(siblings):
                out += msgpack.packb(f"s{i}") + msgpack.packb("[{")
            out += msgpack.packb("k")
    return bytes(out) + b"\xc0"


def reference_depth(value: Any) -> int:
    """Plain recursion: only called on values the standard parsers could build."""
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(spine=spines, as_bytes=st.sampled_from([as_json, as_msgpack]))
def test_bounded_decoders_agree_with_the_standard_ones_and_refuse_exactly_the_deep(
    spine: list[tuple[bool, int]], as_bytes: Any
) -> None:
    data = as_bytes(spine)
    loads = loads_json if as_bytes is as_json else loads_msgpack
    if len(spine) > MAX_JSON_DEPTH:
        with pytest.raises(PayloadError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
            loads(data)
        return
    value = loads(data)
    standard = json.loads(data) if as_bytes is as_json else msgpack.unpackb(data, raw=False)
    assert value == standard
    assert reference_depth(value) == len(spine)
    check_depth(value)  # at most the limit: no error


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(spine=spines, as_bytes=st.sampled_from([as_json, as_msgpack]), event_type=st.sampled_from(CONSUMED))
def test_the_codec_only_ever_raises_decode_error(spine: list[tuple[bool, int]], as_bytes: Any, event_type: str) -> None:
    data = as_bytes(spine)
    # The spine as a field of a body, and on its own (not an object: refused either way).
    wrapped = b'{"message": ' + data + b"}" if as_bytes is as_json else b"\x81\xa7message" + data
    for payload in (data, wrapped):
        try:
            decode(f"{event_type}.s1", payload, None, fallback_id="x")
        except DecodeError as exc:
            assert exc.session_id == "s1"
            if len(spine) + (payload is wrapped) > MAX_JSON_DEPTH:
                assert "nested deeper" in exc.reason
