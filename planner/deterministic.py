"""The deterministic planner: keyword rules and an explicit slash syntax; same input, same decision.

Used when no LLM provider is configured (or LLM_PROVIDER=mock), and when the LLM fails.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Final

from pydantic import ValidationError

from bus_schemas import (
    Action,
    ActionBuildTool,
    ActionMemory,
    ActionReadDocument,
    ActionRemember,
    ActionResponse,
    ActionSelfImprove,
    ActionTool,
)
from bus_schemas.actions import ActionAskTwin, ActionHandoff
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.safe_json import PayloadError, loads_json

from .decision import Decision

HELP: Final = (
    "Commands: /memory QUERY · /remember TEXT · /tool NAME {json args} · "
    "/build NAME python|rust (code on the next lines) · /improve NEW PROMPT · /ingest [NAMESPACE[/KB]] (with files) · "
    "/ask TWIN MESSAGE · /handoff TWIN [REASON]"
)
INGEST: Final = "/ingest"
_INGEST = re.compile(r"^/ingest(?:\s+([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?:/([a-z]+))?)?\s*$")

_SEARCH = re.compile(
    r"^(?:please\s+)?(?:search|look\s+up|find|recall)\s+(?:for\s+|memory\s+for\s+|memories\s+about\s+)?(.+)$", re.I
)
_RUN = re.compile(r"^(?:please\s+)?(?:run|execute)\s+(?:the\s+)?(?:command|cmd|shell)\s*:?\s+(.+)$", re.I)
_WRITE = re.compile(
    r"^(?:please\s+)?(?:write|create)\s+(?:a\s+)?(?:(?:test|new)\s+)?file(?:\s+(?:named|called)\s+(\S+))?"
    r"\s+with\s+(?:the\s+)?content\s+(.+)$",
    re.I | re.S,
)
_READ = re.compile(r"^(?:please\s+)?(?:read|show|cat)\s+(?:the\s+)?file\s+(\S+)$", re.I)
_LIST = re.compile(r"^(?:please\s+)?list\s+(?:the\s+)?files(?:\s+in\s+(\S+))?$", re.I)


def _rule(name: str, action: Action) -> Decision:
    return Decision(action=action, raw=json.dumps({"rule": name, "action": action.model_dump()}))


def decide(message: str, twin_id: str, steps: list[JobStep] | None = None) -> Decision:
    """Decide the next action of a job: first from the user's message, then from what came back."""
    asks = _ask_round(message)
    if asks is not None:
        return _next_ask(asks, steps or [])
    if steps and steps[-1].observation is not None:
        return _rule("report_observation", ActionResponse(content=_report(steps[-1])))
    text = message.strip()
    command = _slash_command(text)
    if command is not None:
        return command
    if match := _SEARCH.match(text):
        return _rule("keyword_search", ActionMemory(query=match.group(1).strip().rstrip("?.!")))
    if match := _RUN.match(text):
        return _rule("keyword_run", ActionTool(tool_name="command_exec", args={"cmd": match.group(1).strip()}))
    if match := _WRITE.match(text):
        path = match.group(1) or "test.txt"
        content = match.group(2).strip().strip("'\"")
        return _rule("keyword_write", ActionTool(tool_name="file_write", args={"path": path, "content": content}))
    if match := _READ.match(text):
        return _rule("keyword_read", ActionTool(tool_name="file_read", args={"path": match.group(1)}))
    if match := _LIST.match(text):
        args = {"path": match.group(1)} if match.group(1) else {}
        return _rule("keyword_list", ActionTool(tool_name="list_files", args=args))
    content = (
        f"Hello, this is {twin_id}. No language model is configured, so the deterministic planner is "
        f"answering. You said: {text}\n{HELP}"
    )
    return _rule("direct_answer", ActionResponse(content=content))


def explicit_command(message: str) -> Decision | None:
    """The decision a slash command (`/memory`, `/tool`, `/build`, `/improve`) states, or None: the
    person's own choice of action, so it is taken as typed even when the twin has a language model."""
    return _slash_command(message.strip())


def _slash_command(text: str) -> Decision | None:
    if not text.startswith("/"):
        return None
    try:
        return _slash_decision(text)
    except ValidationError as exc:
        # A name or argument the action's own shape refuses (a 65-character tool name): said once
        # to the person, never an exception the consume loop would retry.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'command'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:3]
        )
        return _rule("slash_error", ActionResponse(content=f"{text.split()[0]}: {problems}"))


def _slash_decision(text: str) -> Decision:
    head, _, rest = text.partition("\n")
    verb, _, argument = head.partition(" ")
    argument = argument.strip()
    if verb == "/memory" and argument:
        return _rule("slash_memory", ActionMemory(query=argument))
    if verb == "/remember" and (argument or rest.strip()):
        text = (argument + "\n" + rest).strip()
        return _rule("slash_remember", ActionRemember(text=text, why="asked with /remember"))
    if verb == INGEST:
        if _INGEST.match(head) is None:
            return _rule("slash_error", ActionResponse(content="usage: /ingest [NAMESPACE[/KB]], with files attached"))
        return _rule("slash_error", ActionResponse(content="/ingest: no file is attached to this message"))
    if verb == "/tool" and argument:
        name, _, raw_args = argument.partition(" ")
        try:
            args = loads_json(raw_args, what="the /tool argument") if raw_args.strip() else {}
        except PayloadError as exc:
            return _rule("slash_error", ActionResponse(content=exc.reason))
        if not isinstance(args, dict):
            return _rule("slash_error", ActionResponse(content="/tool arguments must be a JSON object"))
        return _rule("slash_tool", ActionTool(tool_name=name, args=args))
    if verb == "/build":
        parts = shlex.split(argument) if argument else []
        if len(parts) != 2 or parts[1] not in ("python", "rust") or not rest.strip():
            return _rule("slash_error", ActionResponse(content="usage: /build NAME python|rust, then the code"))
        return _rule(
            "slash_build",
            ActionBuildTool(tool_name=parts[0], language=parts[1], code=rest, description="built with /build"),
        )
    if verb == "/ask":
        twin_id, _, question = argument.partition(" ")
        question = (question + "\n" + rest).strip()
        if not twin_id or not question:
            return _rule("slash_error", ActionResponse(content="usage: /ask TWIN MESSAGE"))
        return _rule("slash_ask", ActionAskTwin(twin_id=twin_id, message=question))
    if verb == "/handoff":
        twin_id, _, reason = argument.partition(" ")
        if not twin_id:
            return _rule("slash_error", ActionResponse(content="usage: /handoff TWIN [REASON]"))
        return _rule("slash_handoff", ActionHandoff(twin_id=twin_id, reason=reason.strip() or None))
    if verb == "/improve" and (argument or rest.strip()):
        prompt = (argument + "\n" + rest).strip()
        return _rule("slash_improve", ActionSelfImprove(new_prompt=prompt, rationale="requested with /improve"))
    return _rule("slash_error", ActionResponse(content=f"unknown or incomplete command {verb!r}. {HELP}"))


def _ask_round(message: str) -> list[str] | None:
    """A coordinator's round: two or more lines, each `/ask TWIN MESSAGE`, asked one after another."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) < 2 or not all(line.startswith("/ask ") for line in lines):
        return None
    return lines


def _next_ask(asks: list[str], steps: list[JobStep]) -> Decision:
    asked = [s for s in steps if s.action_type == "ActionAskTwin"]
    if len(asked) < len(asks):
        decided = _slash_command(asks[len(asked)])
        assert decided is not None
        return decided
    answers = "\n\n".join(s.observation or "" for s in asked)
    return _rule("report_round", ActionResponse(content=answers))


def _report(step: JobStep) -> str:
    return step.observation or "Done."


def ingest_target(message: str) -> tuple[str | None, str] | None:
    """Where `/ingest [NAMESPACE[/KB]]` asks the attached files to go (namespace None: the twin's
    own), or None if the message is no (well-formed) /ingest."""
    match = _INGEST.match(message.strip())
    if match is None:
        return None
    return match.group(1), match.group(2) or "domain"


def read_next_attachment(job: JobRecord) -> Decision | None:
    """The first attached file not read yet: every file is read before anything else is decided.
    With `/ingest`, each is then stored once a person approves (ActionReadDocument.then_store)."""
    read = {s.action["document"]["document_id"] for s in job.steps if s.action_type == "ActionReadDocument"}
    document = next((d for d in job.attachments if d.document_id not in read), None)
    if document is None:
        return None
    target = ingest_target(job.message)
    if target is None:
        action = ActionReadDocument(document=document)
        return _rule("attachment", action)
    namespace, kb = target
    return _rule("ingest", ActionReadDocument(document=document, namespace=namespace, kb=kb, then_store=True))
