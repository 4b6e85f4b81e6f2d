"""Results that always fit in one event: stdout/stderr are cut, never the event lost."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from bus_schemas.limits import MAX_EVENT_BYTES

# What a result may take on the bus and in KV, as JSON (the stricter of the two encodings: control
# characters are escaped), leaving room for the envelope.
RESULT_BUDGET = MAX_EVENT_BYTES - 64 * 1024
FIT_MARK = "\n[pagi: output truncated to fit one event]"

M = TypeVar("M", bound=BaseModel)


def fit(result: M, budget: int = RESULT_BUDGET) -> M:
    """Cut `stdout`/`stderr` (the longer first) until the result's JSON fits in `budget` bytes."""
    while (size := len(result.model_dump_json())) > budget:
        stdout, stderr = getattr(result, "stdout", ""), getattr(result, "stderr", "")
        if not stdout and not stderr:
            break
        field = "stdout" if len(stdout) >= len(stderr) else "stderr"
        text: str = stdout if field == "stdout" else stderr
        # Every character is at least one byte of JSON, so cutting the excess in characters is enough.
        keep = max(0, len(text) - (size - budget) - len(FIT_MARK) - 1024)
        update: dict[str, object] = {field: text[:keep] + FIT_MARK}
        if "truncated" in type(result).model_fields:
            update["truncated"] = True
        result = result.model_copy(update=update)
    return result
