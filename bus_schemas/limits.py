"""Bounds shared by every producer and consumer of the contract."""

from typing import Final

MAX_MESSAGE_CHARS: Final = 32_000
MAX_EVENT_BYTES: Final = 1024 * 1024
MAX_TEXT_CHARS: Final = 256_000
