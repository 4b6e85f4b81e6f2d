"""Scrubbing secrets out of anything shown to a person (audit responses, replay output).

Events are not meant to carry secrets (API keys are sealed in KV, never put on the bus), but a
person can type one into a tool's arguments. What leaves PAGI for a reader goes through `scrub`:
values under secret-sounding keys, and strings shaped like well-known credentials, are replaced.
"""

from __future__ import annotations

import re
from typing import Any, Final

REDACTED: Final = "[redacted]"
_SECRET_KEY: Final = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|token|authori[sz]ation|credential|private[_-]?key|cookie|sealed)", re.I
)
# Shapes of credentials whatever key they sit under: provider keys, bearer tokens, PEM private keys.
_SECRET_VALUE: Final = re.compile(
    r"(sk-[A-Za-z0-9_-]{16,}|sk-ant-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|Bearer\s+[A-Za-z0-9._~+/=-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)"
)
# Keys that sound secret but are not (counts, ids, limits).
_NOT_SECRET: Final = frozenset({"max_tokens", "tokens", "token_count", "prompt_tokens", "completion_tokens"})


def scrub_text(text: str) -> str:
    return _SECRET_VALUE.sub(REDACTED, text)


def scrub(value: Any) -> Any:
    """A copy of a JSON-like value with secrets replaced."""
    if isinstance(value, dict):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and key not in _NOT_SECRET and _SECRET_KEY.search(key) and item
                else scrub(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value
