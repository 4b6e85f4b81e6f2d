"""An approval's "always" for an MCP tool: the twin's policy pins the tool to the digest the person
saw when asked (`ApprovalRecord.mcp.digest`), so a changed registration or tool asks again."""

from __future__ import annotations

from bus_schemas.twin import Twin
from records import kvjson
from records.twins import TwinStore, twin_key


async def pin_always(twins: TwinStore, twin_id: str, tool_name: str, digest: str) -> None:
    def change(current: Twin) -> Twin | None:
        listed = current.always_allow if tool_name in current.always_allow else [*current.always_allow, tool_name]
        pins = {**current.always_allow_pins, tool_name: digest}
        if listed == current.always_allow and pins == current.always_allow_pins:
            return None
        return current.model_copy(update={"always_allow": listed, "always_allow_pins": pins})

    await kvjson.update(twins.kv, twin_key(twin_id), Twin, change)
    # TwinStore.allow_always pins only registry tools (requests-M2.md); until it takes a digest its
    # cache is dropped here, as it does itself, so the next call is judged by the new pin at once.
    twins._cache.pop(twin_id, None)
