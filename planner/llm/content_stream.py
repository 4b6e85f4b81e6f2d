"""The user-visible text of a streamed ActionResponse: the top-level "content" string, decoded as it
arrives from partial JSON. Raw JSON never reaches the person."""

from __future__ import annotations

import re

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_STRING_STOP = re.compile(r'["\\]')

# What the string being read is: a top-level key, a value we decode, or anything else (skipped).
_KEY, _CONTENT, _ACTION_TYPE, _SKIP = "key", "content", "action_type", "skip"


class ContentExtractor:
    """Feed reply text piece by piece; `feed` returns the newly decoded content once the reply is known
    to be an ActionResponse (content seen before "action_type" is held back until then). Decoding
    mirrors `json.loads`, surrogate pairs included, so the pieces add up to the parsed content."""

    def __init__(self) -> None:
        self.action_type: str | None = None
        self._content: list[str] = []
        self._released = 0
        self._started = False
        self._finished = False
        self._depth = 0
        self._expect_key = True
        self._key = ""
        self._content_seen = False
        self._in_string = False
        self._role = _SKIP
        self._buffer: list[str] = []
        self._escape = False
        self._hex: str | None = None
        self._high: int | None = None

    @property
    def content(self) -> str:
        return "".join(self._content)

    def feed(self, text: str) -> str:
        if not self._finished:
            self._scan(text)
        if self.action_type != "ActionResponse":
            return ""
        content = self.content
        fresh = content[self._released :]
        self._released = len(content)
        return fresh

    def _scan(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n and not self._finished:
            if self._in_string:
                i = self._scan_string(text, i)
                continue
            char = text[i]
            i += 1
            if not self._started:
                if char == "{":
                    self._started, self._depth, self._expect_key = True, 1, True
                continue
            if char == '"':
                self._open_string()
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                self._finished = self._depth == 0
            elif self._depth == 1 and char == ",":
                self._expect_key = True
            elif self._depth == 1 and char == ":":
                self._expect_key = False

    def _open_string(self) -> None:
        self._in_string = True
        self._buffer = []
        if self._depth != 1:
            self._role = _SKIP
        elif self._expect_key:
            self._role = _KEY
        elif self._key == "content" and not self._content_seen:
            self._role = _CONTENT
            self._content_seen = True
        elif self._key == "action_type" and self.action_type is None:
            self._role = _ACTION_TYPE
        else:
            self._role = _SKIP

    def _scan_string(self, text: str, i: int) -> int:
        n = len(text)
        while i < n:
            if self._hex is not None:
                self._hex += text[i]
                i += 1
                if len(self._hex) == 4:
                    self._unicode(self._hex)
                    self._hex = None
                continue
            if self._escape:
                self._escape = False
                char = text[i]
                i += 1
                if char == "u":
                    self._hex = ""
                else:
                    self._put(_ESCAPES.get(char, char))
                continue
            stop = _STRING_STOP.search(text, i)
            end = stop.start() if stop else n
            if end > i:
                self._put(text[i:end])
            if stop is None:
                return n
            i = end + 1
            if text[end] == "\\":
                self._escape = True
            else:
                self._close_string()
                return i
        return i

    def _unicode(self, digits: str) -> None:
        try:
            code = int(digits, 16)
        except ValueError:
            # Not JSON; the final validation rejects the reply, nothing more to decode here.
            self._put(digits)
            return
        if self._high is not None:
            high, self._high = self._high, None
            if 0xDC00 <= code <= 0xDFFF:
                self._emit(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
                return
            self._emit(chr(high))
        if 0xD800 <= code <= 0xDBFF:
            self._high = code
        else:
            self._emit(chr(code))

    def _put(self, text: str) -> None:
        if self._high is not None:
            self._emit(chr(self._high))
            self._high = None
        self._emit(text)

    def _emit(self, text: str) -> None:
        if self._role == _CONTENT:
            self._content.append(text)
        elif self._role != _SKIP:
            self._buffer.append(text)

    def _close_string(self) -> None:
        if self._high is not None:
            self._emit(chr(self._high))
            self._high = None
        self._in_string = False
        if self._role == _KEY:
            self._key = "".join(self._buffer)
        elif self._role == _ACTION_TYPE:
            self.action_type = "".join(self._buffer)
        self._buffer = []
