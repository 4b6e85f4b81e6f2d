"""The Synadia agent protocol on NATS as PAGI speaks it: the subjects, names and words PAGI adds.

The protocol's own shapes (the prompt envelope, the `response`/`status`/`query` chunks, the heartbeat,
the `$SRV.INFO` metadata keys) come from the official SDK (`synadia_ai.agents`); what is PAGI's own is
here, so the door, the NATS permission table and the tests read one definition:

- every twin a caller may use is one agent `agents.prompt.pagi.<owner>.<session>`: the agent token is
  `pagi`, the owner a PAGI user (the caller, who may publish only its own owner token: pagi/nats_users.py),
  and the session one PAGI session per owner and twin (`session_for`), so the protocol's "the subject is
  the session" holds and the conversation shows in the console like any other;
- the registration's metadata names the twin (`twin`, `twin_name`) beside the protocol's keys;
- a `query` chunk asks for an approval; its reply subject lies under the owner's own prompt subjects
  (`approval_reply_subject`), so only that owner's NATS user can answer it, and the answer is one of
  a few explicit words (`parse_answer`), never free text taken as consent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, Literal

from .subjects import TOKEN_RE

AGENT: Final = "pagi"  # the protocol's agent token (`agents.<verb>.pagi.<owner>.<session>`)
ROOT: Final = "agents"
PROMPT_VERB: Final = "prompt"
STATUS_VERB: Final = "status"
HEARTBEAT_VERB: Final = "hb"
# The owner token of a NATS caller: a PAGI user id that is also a natural (unescaped) protocol token and
# a usable environment variable name part (its password variable, PAGI_NATS_AGENT_<OWNER>_PASSWORD).
OWNER_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
# The protocol's natural session token (the SDK escapes anything else as base64).
_NATURAL_SESSION_RE: Final = re.compile(r"^[a-z0-9_-]{1,64}$")

# Registration metadata PAGI adds (protocol §5.6: unknown keys are kept by callers).
META_TWIN: Final = "twin"
META_TWIN_NAME: Final = "twin_name"
META_DOOR: Final = "pagi_door"

# The approval query: what a caller replies.
ALLOW_WORDS: Final = frozenset({"allow", "approve", "yes", "y"})
ALWAYS_WORDS: Final = frozenset({"always"})
DENY_WORDS: Final = frozenset({"deny", "reject", "no", "n"})
MAX_ANSWER_CHARS: Final = 1000


def prompt_subject(owner: str, session: str) -> str:
    return f"{ROOT}.{PROMPT_VERB}.{AGENT}.{owner}.{session}"


def owner_prompts(owner: str) -> str:
    """Everything one owner may publish to: its agents' prompt subjects and its approval replies."""
    return f"{ROOT}.{PROMPT_VERB}.{AGENT}.{owner}.>"


def owner_status(owner: str) -> str:
    return f"{ROOT}.{STATUS_VERB}.{AGENT}.{owner}.*"


def all_prompts() -> str:
    return f"{ROOT}.{PROMPT_VERB}.{AGENT}.>"


def all_status() -> str:
    return f"{ROOT}.{STATUS_VERB}.{AGENT}.>"


def all_heartbeats() -> str:
    return f"{ROOT}.{HEARTBEAT_VERB}.{AGENT}.>"


def session_for(owner: str, twin_id: str) -> str:
    """The PAGI session (and the subject's session token) of `owner`'s conversation with a twin:
    `<owner>-<twin>` when that is a natural token (an owner has no `-`, so it is unambiguous), else a
    digest of the two, so a twin id with capitals or a long one still gives a readable, valid token."""
    natural = f"{owner}-{twin_id}"
    if _NATURAL_SESSION_RE.fullmatch(natural):
        return natural
    digest = hashlib.sha256(f"{owner}\0{twin_id}".encode()).hexdigest()[:24]
    return f"{owner}-t{digest}"


def approval_reply_subject(owner: str, session: str, approval_id: str) -> str:
    """Where the caller answers the query for one approval: inside the owner's own prompt subjects (the
    one right a caller's NATS user has), one subject per approval, so an answer binds to that approval."""
    if not TOKEN_RE.fullmatch(approval_id):
        raise ValueError("an approval id must be a subject token")
    return f"{prompt_subject(owner, session)}.approval.{approval_id}"


Verdict = Literal["allow", "always", "deny"]


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    reason: str | None


def parse_answer(text: str) -> Answer | None:
    """A caller's reply to an approval query: its first word says allow, always or deny (the rest, if
    any, is the reason recorded with the decision); anything else is no answer at all (None), so a
    chatty reply is never taken for consent."""
    words = text.strip()[:MAX_ANSWER_CHARS].split(maxsplit=1)
    if not words:
        return None
    first = words[0].strip(".,:;!").lower()
    reason = words[1].strip() if len(words) > 1 and words[1].strip() else None
    if first in ALWAYS_WORDS:
        return Answer("always", reason)
    if first in ALLOW_WORDS:
        return Answer("allow", reason)
    if first in DENY_WORDS:
        return Answer("deny", reason)
    return None


def query_text(summary: str, reply_hint: str | None = None) -> str:
    """The question a `query` chunk asks for one approval."""
    base = (
        f"PAGI asks for approval: {summary}. Reply 'allow', 'always' (allow this tool from now on) or "
        "'deny' (optionally followed by a reason); it can also be answered in the PAGI console or on "
        "approve.decision.<session>."
    )
    return f"{base} {reply_hint}" if reply_hint else base
