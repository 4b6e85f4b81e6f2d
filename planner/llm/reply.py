"""A model's reply text → a validated action, or the reason it is not one."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from pydantic import ValidationError

from bus_schemas import Action
from bus_schemas.limits import MAX_JSON_DEPTH
from bus_schemas.safe_json import PayloadError, check_depth

from .instructions import ACTION_ADAPTER

_FENCED = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n?(.*?)\r?\n?[ \t]*```", re.DOTALL)
MAX_REASON_ERRORS = 5
_DECODER = json.JSONDecoder()


class InvalidReply(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def json_text(reply: str) -> str:
    """The reply from its JSON object on: as is, inside ```json fences, or from the first `{`."""
    text = reply.strip()
    if text.startswith("{"):
        return text
    fenced = _FENCED.search(text)
    if fenced and fenced.group(1).strip().startswith("{"):
        return fenced.group(1).strip()
    start = text.find("{")
    return text[start:] if start >= 0 else text


def parse_action(reply: str, allowed: Collection[str] | None = None) -> Action:
    text = json_text(reply)
    if not text:
        raise InvalidReply("the reply was empty")
    try:
        # The first complete value; models sometimes add a remark after the object, which is ignored
        # (as the streamed content extractor ignores it).
        data, _ = _DECODER.raw_decode(text)
        check_depth(data, "the reply")
    except json.JSONDecodeError as error:
        raise InvalidReply(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except RecursionError:
        raise InvalidReply(f"the reply nests deeper than {MAX_JSON_DEPTH} levels") from None
    except PayloadError as error:
        raise InvalidReply(str(error)) from None
    if not isinstance(data, dict):
        raise InvalidReply(f"expected a JSON object, got a JSON {type(data).__name__}")
    try:
        action = ACTION_ADAPTER.validate_python(data)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in e['loc']) or 'reply'}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        ]
        more = f" (and {len(problems) - MAX_REASON_ERRORS} more)" if len(problems) > MAX_REASON_ERRORS else ""
        raise InvalidReply(
            "does not match the action schema: " + "; ".join(problems[:MAX_REASON_ERRORS]) + more
        ) from None
    if allowed is not None and action.action_type not in allowed:
        raise InvalidReply(f"{action.action_type} is not allowed here (allowed: {', '.join(sorted(allowed))})")
    return action
