"""The tool registry (KV `pagi_tools`): one entry per tool, built-ins included, as everyone reads it.

The tool worker writes the built-ins' entries at start and passes them in as `builtins`, so it answers
for them from code even before the bucket has them; the build worker registers built tools; the edge
and the planner read entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from bus_schemas.tool import BUILTIN_TOOL_NAMES, TOOL_NAME_RE, ToolRecord

from .stores import KV


class ToolRegistry:
    def __init__(self, kv: KV, builtins: Mapping[str, ToolRecord] | None = None) -> None:
        self.kv = kv
        self.builtins = dict(builtins or {})

    async def publish_builtins(self) -> None:
        """Write the built-ins' entries so the edge and the planner see their schemas."""
        for name, record in self.builtins.items():
            await self.kv.put(name, record.model_dump_json().encode())

    async def get(self, name: str) -> ToolRecord | None:
        if name in self.builtins:
            return self.builtins[name]
        if not TOOL_NAME_RE.match(name):  # other keys of the bucket (the sandbox status) are not tools
            return None
        found = await self.kv.get(name)
        return None if found is None else ToolRecord.model_validate_json(found[0])

    async def put_built(self, record: ToolRecord) -> ToolRecord:
        """Register a build as the next version of its tool; compare-and-set, so copies of the build
        worker racing on one name still hand out each version once."""
        if record.name in BUILTIN_TOOL_NAMES or record.kind != "built":
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
        records = list(self.builtins.values())
        for key in sorted(await self.kv.keys()):
            if key not in self.builtins and (record := await self.get(key)) is not None:
                records.append(record)
        return records
