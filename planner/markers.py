"""The seed console's reply markers: what each one decides, one entry per marker kind in `MARKERS`.

The seed (upstream `frontend-digital-twin/App.tsx` at 830b5b7) answers its approval modal with a chat
message built from the `issued_command` it was shown::

    [TOOL_EXECUTED] <tool_name> - CONFIRMED     [TOOL_DENIED] <tool_name>
    [MEMORY_SHOWN] <memory_id>                  [MEMORY_DENIED] <memory_id>
    [CONFIG_RESPONSE] <config_key>: <value>     [CONFIG_DENIED] <config_key>

A message that starts with one of these tags is a marker, never a question for the planner. It decides
the most recent pending (unexpired) approval of its session whose kind issues the command the marker
answers and whose name is the one the marker repeats (as the seed's backend kept one pending request
per session, the newest replacing older ones); anything else it decides nothing, and says why. Which
approval kind issues which command is `planner.actions` (`ActionKind.issues`): only a budget issues
`prompt_for_config`, and no marker decides a budget (`ActionKind.marker_decides`), so the CONFIG
markers match nothing today.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bus_schemas import Body
from bus_schemas.approval import ApprovalRecord
from bus_schemas.chat import ExecuteTool, PromptForConfig, ShowMemoryPage

from .actions import KINDS

_TAG: Final = re.compile(r"^\[([A-Z_]{1,32})\](.*)$", re.S)


def _tool_name(record: ApprovalRecord) -> str | None:
    return getattr(record.action, "tool_name", None)


def _approval_id(record: ApprovalRecord) -> str | None:
    return record.approval_id  # what `show_memory_page.memory_id` carries


def _config_key(record: ApprovalRecord) -> str | None:
    return None  # no approval asks for a configuration value (see the module's docstring)


@dataclass(frozen=True)
class MarkerKind:
    answers: type[Body]  # the seed command this marker replies to
    approved: bool
    rest: re.Pattern[str]  # what follows the tag; group 1 is the name it repeats
    usage: str
    name_in: Callable[[ApprovalRecord], str | None]  # that name, in an approval it may decide

    @property
    def command(self) -> str:
        return str(self.answers.model_fields["command"].default)

    @property
    def approval_kinds(self) -> frozenset[str]:
        return frozenset(
            kind.approval for kind in KINDS.values() if kind.issues is self.answers and kind.marker_decides
        )


_NAME: Final = re.compile(r"\s*(\S{1,128})\s*")

MARKERS: Final[dict[str, MarkerKind]] = {
    "TOOL_EXECUTED": MarkerKind(
        ExecuteTool,
        True,
        re.compile(r"\s*(\S{1,128})(?:\s+-\s+CONFIRMED)?\s*"),
        "[TOOL_EXECUTED] <tool> - CONFIRMED",
        _tool_name,
    ),
    "TOOL_DENIED": MarkerKind(ExecuteTool, False, _NAME, "[TOOL_DENIED] <tool>", _tool_name),
    "MEMORY_SHOWN": MarkerKind(ShowMemoryPage, True, _NAME, "[MEMORY_SHOWN] <memory_id>", _approval_id),
    "MEMORY_DENIED": MarkerKind(ShowMemoryPage, False, _NAME, "[MEMORY_DENIED] <memory_id>", _approval_id),
    "CONFIG_RESPONSE": MarkerKind(
        PromptForConfig,
        True,
        re.compile(r"\s*([^\s:]{1,128}):.*", re.S),
        "[CONFIG_RESPONSE] <key>: <value>",
        _config_key,
    ),
    "CONFIG_DENIED": MarkerKind(PromptForConfig, False, _NAME, "[CONFIG_DENIED] <key>", _config_key),
}


@dataclass(frozen=True)
class Marker:
    tag: str
    kind: MarkerKind
    name: str | None  # None: the text after the tag is not the shape the seed sends

    @property
    def label(self) -> str:
        return f"[{self.tag}] {self.name}" if self.name is not None else f"[{self.tag}]"


def parse(message: str) -> Marker | None:
    """The marker `message` is, or None for ordinary text (which decides nothing either)."""
    match = _TAG.match(message.strip())
    if match is None or match.group(1) not in MARKERS:
        return None
    tag, rest = match.groups()
    kind = MARKERS[tag]
    shaped = kind.rest.fullmatch(rest)
    return Marker(tag, kind, shaped.group(1) if shaped else None)


@dataclass(frozen=True)
class Choice:
    """What a marker decides: `record` (None: nothing), and `why`, said on the job log."""

    record: ApprovalRecord | None
    why: str


def choose(marker: Marker, pending: Sequence[ApprovalRecord], now: datetime) -> Choice:
    """The most recent pending, unexpired approval `marker` matches in its session, or why none."""
    kind = marker.kind
    if marker.name is None:
        return Choice(None, f"{marker.label} is not a marker the seed sends (expected {kind.usage})")
    kinds = kind.approval_kinds
    if not kinds:
        return Choice(None, f"{marker.label} answers {kind.command}, which no PAGI approval asks with")
    matching = [r for r in pending if r.kind in kinds and r.expires_at > now and kind.name_in(r) == marker.name]
    if not matching:
        return Choice(None, f"{marker.label} matches no pending {'/'.join(sorted(kinds))} approval in this session")
    newest = max(matching, key=lambda r: (r.created_at, r.approval_id))
    older = len(matching) - 1
    left = f"; {older} older matching one{'s' if older != 1 else ''} still pending" if older else ""
    verb = "approves" if kind.approved else "denies"
    return Choice(newest, f"{marker.label} {verb} approval {newest.approval_id}{left}")
