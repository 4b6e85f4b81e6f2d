"""The incremental extractor of a streamed ActionResponse's content."""

from __future__ import annotations

import json
import random

import pytest

from planner.llm.content_stream import ContentExtractor

TRICKY = [
    "plain text",
    'quotes " and backslashes \\ and slashes /',
    "lines\nand\ttabs\r\nand \b \f controls \u0001",
    "accents: café, naïve; CJK: 漢字; emoji: 😀👍🏽 and a flag 🇫🇷",
    'braces { } [ ] and fake keys "content": "no", \'action_type\'',
    "",
]


def feed_in_pieces(text: str, seed: int) -> tuple[list[str], ContentExtractor]:
    extractor = ContentExtractor()
    rng = random.Random(seed)
    pieces: list[str] = []
    i = 0
    while i < len(text):
        step = rng.randint(1, 4)
        piece = extractor.feed(text[i : i + step])
        if piece:
            pieces.append(piece)
        i += step
    return pieces, extractor


@pytest.mark.parametrize("content", TRICKY)
@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "utf8"])
def test_pieces_add_up_to_the_parsed_content(content: str, ensure_ascii: bool) -> None:
    reply = json.dumps({"action_type": "ActionResponse", "content": content}, ensure_ascii=ensure_ascii)
    for seed in range(20):
        pieces, _ = feed_in_pieces(reply, seed)
        assert "".join(pieces) == json.loads(reply)["content"]


def test_lone_surrogates_decode_as_json_loads_does() -> None:
    reply = '{"action_type": "ActionResponse", "content": "a\\ud83d\\n\\ud83d\\u0041\\udc00z"}'
    for seed in range(10):
        pieces, _ = feed_in_pieces(reply, seed)
        assert "".join(pieces) == json.loads(reply)["content"]


def test_content_before_action_type_is_held_until_the_type_is_known() -> None:
    extractor = ContentExtractor()
    assert extractor.feed('{"content": "held back", ') == ""
    assert extractor.feed('"action_type": "ActionResponse"') == "held back"
    assert extractor.feed("}") == ""


def test_other_actions_stream_nothing() -> None:
    reply = json.dumps({"action_type": "ActionTool", "tool_name": "x", "args": {"content": "secret args"}})
    pieces, extractor = feed_in_pieces(reply, 1)
    assert pieces == []
    assert extractor.action_type == "ActionTool"


def test_nested_content_keys_are_not_the_content() -> None:
    reply = '{"action_type": "ActionResponse", "meta": {"content": "nested"}, "list": ["content"], "content": "top"}'
    pieces, _ = feed_in_pieces(reply, 3)
    assert "".join(pieces) == "top"


def test_fences_and_text_before_the_object_are_skipped() -> None:
    reply = 'Here you go:\n```json\n{"action_type": "ActionResponse", "content": "fenced"}\n```'
    pieces, _ = feed_in_pieces(reply, 5)
    assert "".join(pieces) == "fenced"


def test_text_after_the_object_is_ignored() -> None:
    extractor = ContentExtractor()
    extractor.feed('{"action_type": "ActionResponse", "content": "one"}')
    assert extractor.feed(' {"content": "two"}') == ""
    assert extractor.content == "one"
