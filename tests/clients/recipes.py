"""The `nats ...` recipes of README.md and docs/*.md, read from the files, and bash to run them with the
official NATS JavaScript client (`natscli.mjs`, behind `bin/nats`) as the `nats` on PATH.

A recipe is one `nats` command line of a fenced `sh` block (backslash continuations joined), run as
written: placeholders such as `<approval_id>` are the only thing a test fills in. A line ending in
`&` (a `nats sub` left running) is started as written, followed by `wait`, and read while it runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..support import eventually

CLIENTS: Final = Path(__file__).resolve().parent
CHECKOUT: Final = CLIENTS.parent.parent
NATS_BIN: Final = CLIENTS / "bin"
DOCS: Final = (CHECKOUT / "README.md", *sorted((CHECKOUT / "docs").glob("*.md")))
RUN_TIMEOUT_S: Final = 30.0

_FENCE = re.compile(r"^```(\S*)\s*$")
# A trailing shell comment: whitespace, `#`, a space (a `#` inside a JSON payload is never like that).
_COMMENT = re.compile(r"\s+#\s.*$")


@dataclass(frozen=True)
class Recipe:
    doc: str  # relative to the checkout
    line: int
    text: str  # the command as written, continuations joined, its comment kept

    @property
    def command(self) -> str:
        """The command without its trailing comment: what tests name a recipe by."""
        return _COMMENT.sub("", self.text).strip()


def _sh_lines(doc: Path) -> Iterator[tuple[int, str]]:
    """(line number, logical line) of every fenced sh block, continuations joined."""
    in_sh = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(doc.read_text().splitlines(), start=1):
        fence = _FENCE.match(line.strip())
        if fence:
            in_sh = not in_sh and fence.group(1) in ("sh", "bash", "shell")
            continue
        if not in_sh:
            continue
        start, text = pending if pending else (number, "")
        text = f"{text} {line.strip()}" if text else line.strip()
        if text.endswith("\\"):
            pending = (start, text[:-1].rstrip())
            continue
        pending = None
        yield start, text


def doc_recipes(docs: tuple[Path, ...] = DOCS, root: Path = CHECKOUT) -> list[Recipe]:
    return [
        Recipe(str(doc.relative_to(root)), number, text)
        for doc in docs
        for number, text in _sh_lines(doc)
        if text.startswith("nats ")
    ]


def readme_setup_line() -> str:
    """The README's own first step (`source .pagi/pagi.env ...`), which every recipe runs after."""
    setup = [text for _, text in _sh_lines(CHECKOUT / "README.md") if text.startswith("source .pagi/pagi.env")]
    assert setup, "README.md's bus recipes no longer start with `source .pagi/pagi.env`"
    return setup[0]


# Which test runs which recipe: filled at import by `covers`, compared with the docs by
# test_bus_recipes.py::test_every_recipe_in_the_docs_is_run_by_a_test.
COVERED: dict[str, str] = {}


def covers(*commands: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        for command in commands:
            COVERED[command] = f"{test.__module__}::{test.__name__}"
        return test

    return mark


def recipe(command: str) -> Recipe:
    """The recipe the docs write as `command` (without its comment); fails when the docs changed it."""
    found = [r for r in doc_recipes() if r.command == command]
    assert found, f"no recipe {command!r} in README.md or docs/*.md any more"
    return found[0]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def fill(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    left = re.findall(r"<[a-z_]+>", text)
    assert not left, f"placeholders {left} not filled in {text!r}"
    return text


@dataclass
class Shell:
    """bash in the directory a user started `pagi up` in (`.pagi/` under it), with `nats` on PATH."""

    cwd: Path
    setup: str = field(default_factory=readme_setup_line)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
        env["PATH"] = f"{NATS_BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    def script(self, text: str) -> str:
        return f"set -e\n{self.setup}\n{text}\n"

    async def run(self, text: str, timeout: float = RUN_TIMEOUT_S) -> Done:
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", self.script(text), cwd=self.cwd, env=self.env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        assert proc.returncode is not None
        return Done(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

    async def ok(self, text: str, timeout: float = RUN_TIMEOUT_S) -> Done:
        done = await self.run(text, timeout)
        assert done.returncode == 0, f"{text!r} exited {done.returncode}:\n{done.stderr}\n{done.stdout}"
        return done

    async def start(self, text: str) -> Running:
        """A `nats sub` left running, as written (`wait` keeps the shell alive when it ends in `&`)."""
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", self.script(f"{text}\nwait"), cwd=self.cwd, env=self.env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        running = Running(proc)
        await running.ready()
        return running


@dataclass(frozen=True)
class Received:
    subject: str
    headers: dict[str, str]
    event: dict[str, Any]
    seq: int | None = None  # the stream sequence, for `nats stream view`


# `nats sub`: `[#3] Received on "S"`; `nats stream view`: `[1207] Subject: S Received: <time>`.
_SUB_HEAD = re.compile(r'^\[#\d+\] Received on "(?P<subject>[^"]+)"')
_VIEW_HEAD = re.compile(r"^\[(?P<seq>\d+)\] Subject: (?P<subject>\S+) Received: ")


def parse_sub_output(out: str) -> list[Received]:
    """What `nats sub` or `nats stream view` printed (a head line, headers, a blank line, the payload)
    as events."""
    found: list[Received] = []
    subject, headers, seq = "", dict[str, str](), None
    for line in out.splitlines():
        head = _SUB_HEAD.match(line) or _VIEW_HEAD.match(line)
        if head:
            subject, headers = head.group("subject"), {}
            seq = int(head.group("seq")) if "seq" in head.groupdict() else None
        elif re.match(r"^[A-Za-z][\w-]*: ", line) and subject:
            key, value = line.split(": ", 1)
            headers[key] = value
        elif line.startswith("{") and subject:
            found.append(Received(subject, headers, json.loads(line), seq))
            subject = ""
    return found


class Running:
    """A `nats sub ... &` while it runs: what it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, self.out)),
            asyncio.create_task(self._read(proc.stderr, self.err)),
        ]

    @staticmethod
    async def _read(stream: asyncio.StreamReader, into: list[str]) -> None:
        async for raw in stream:
            into.append(raw.decode(errors="replace"))

    async def ready(self) -> None:
        # natscli.mjs (like the CLI) says "Subscribing on" once the server has the subscription.
        await eventually(lambda: any("Subscribing on" in line for line in self.err) or self._failed(), timeout=20)
        assert self.proc.returncode is None, "".join(self.err)

    def _failed(self) -> bool:
        return self.proc.returncode is not None

    def received(self) -> list[Received]:
        return parse_sub_output("".join(self.out))

    async def wait_for(self, match: Callable[[Received], bool], what: str, timeout: float = 30) -> Received:
        def probe() -> Received | None:
            return next((r for r in self.received() if match(r)), None)

        found: Received | None = await eventually(probe, timeout=timeout, what=what)
        assert found is not None
        return found

    async def stop(self) -> None:
        if self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        for reader in self._readers:
            await reader
