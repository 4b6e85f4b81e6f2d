"""Bounds shared by every producer and consumer of the contract."""

from typing import Final

MAX_MESSAGE_CHARS: Final = 32_000
MAX_EVENT_BYTES: Final = 1024 * 1024
MAX_TEXT_CHARS: Final = 256_000
# How deeply JSON or msgpack we read from anyone may nest (an object or array is one level). Our
# deepest shape is about 8 (an envelope, a body, an action, its arguments and what they hold); 64
# leaves tool arguments room while keeping every later `json.dumps`/`msgpack.packb`/validation of
# the value far from Python's recursion limit (1000) and msgpack's packer limit (511).
MAX_JSON_DEPTH: Final = 64
