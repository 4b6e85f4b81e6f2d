"""The tool registry: built-ins from code, built tools from the KV bucket."""

from __future__ import annotations

from bus_schemas.tool import BUILTIN_TOOL_NAMES, TOOL_NAME_RE, ToolRecord

from .builtins import BUILTINS
from .stores import KV

assert set(BUILTINS) == BUILTIN_TOOL_NAMES, "bus_schemas.tool.BUILTIN_TOOL_NAMES is out of date"


def builtin_record(name: str) -> ToolRecord:
    builtin = BUILTINS[name]
    return ToolRecord(name=name, description=builtin.description, args_schema=builtin.json_schema(), kind="builtin")


class ToolRegistry:
    def __init__(self, kv: KV) -> None:
        self.kv = kv

    async def publish_builtins(self) -> None:
        """Write the built-ins' entries so the edge and the planner see their schemas."""
        for name in BUILTINS:
            await self.kv.put(name, builtin_record(name).model_dump_json().encode())

    async def get(self, name: str) -> ToolRecord | None:
        if name in BUILTINS:
            return builtin_record(name)
        if not TOOL_NAME_RE.match(name):  # other keys of the bucket (the sandbox status) are not tools
            return None
        found = await self.kv.get(name)
        return None if found is None else ToolRecord.model_validate_json(found[0])

    async def put_built(self, record: ToolRecord) -> ToolRecord:
        """Register a build as the next version of its tool; compare-and-set, so copies of the build
        worker racing on one name still hand out each version once."""
        if record.name in BUILTINS or record.kind != "built":
            raise ValueError(f"{record.name!r} is a built-in tool name")
        while True:
            found = await self.kv.get(record.name)
            if found is None:
                first = record.model_copy(update={"version": 1})
                if await self.kv.create(record.name, first.model_dump_json().encode()):
                    return first
                continue
            previous = ToolRecord.model_validate_json(found[0])
            nxt = record.model_copy(update={"version": previous.version + 1})
            if await self.kv.update(record.name, nxt.model_dump_json().encode(), found[1]):
                return nxt

    async def entries(self) -> list[ToolRecord]:
        records = [builtin_record(name) for name in BUILTINS]
        for key in sorted(await self.kv.keys()):
            if key not in BUILTINS and (record := await self.get(key)) is not None:
                records.append(record)
        return records
