"""`pagi up` as a child process whose output a test reads line by line (the `pagi_up` fixture in
tests/conftest.py starts one from the checkout; tests/packaging from an installed wheel)."""

from __future__ import annotations

import asyncio
from pathlib import Path


class Up:
    def __init__(self, proc: asyncio.subprocess.Process, web_port: int, nats_port: int, data_dir: Path) -> None:
        self.proc = proc
        self.web_port = web_port
        self.nats_port = nats_port
        self.data_dir = data_dir
        self.lines: list[str] = []
        self.eof = False
        self._new_line = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())
            self._new_line.set()
        self.eof = True
        self._new_line.set()

    async def wait_line(self, text: str, timeout: float, after: int = 0) -> str:
        async def find() -> str:
            while True:
                for line in self.lines[after:]:
                    if text in line:
                        return line
                if self.eof:
                    raise AssertionError(f"pagi up exited before {text!r}:\n" + "\n".join(self.lines[-40:]))
                self._new_line.clear()
                await self._new_line.wait()

        return await asyncio.wait_for(find(), timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"
