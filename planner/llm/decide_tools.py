"""One LLM decision with native tool calling: the tools offered in the provider's own shape, the
reply's calls checked, one repair (the errors sent back as the calls' results, in that shape), a
text answer streamed as it comes."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from bus_schemas import Action
from bus_schemas.limits import MAX_TEXT_CHARS

from .decide import ContentSink, ContentStream, LLMDecision, after_repair
from .errors import LLMReplyInvalid
from .instructions import repair_request
from .messages import ChatMessage, ToolCall
from .provider import Completion, LLMProvider
from .reply import InvalidReply
from .tool_stream import MAX_CALLS
from .tools import CallVerdict, ToolSpec, decode_calls, names, reply_raw, text_action

log = logging.getLogger("planner.llm")

ECHO_CHARS = 16_000
NOT_RUN = "Not run: another call in the same reply was invalid. Make all the calls again, corrected."


class _TextStream(ContentStream):
    """A text answer as it streams; a reply that opens a JSON object is the JSON-object format, so
    only its `content` is passed on (as in JSON mode)."""

    def __init__(self, sink: ContentSink) -> None:
        super().__init__(sink)
        self.json_object = False
        self.started = False

    async def feed(self, text: str) -> None:
        if not self.started:
            text = text.lstrip()
            if not text:
                return
            self.started = True
            self.json_object = text.startswith(("{", "```"))
        await self._send(self.extractor.feed(text) if self.json_object else text)


class _Malformed(Exception):
    def __init__(self, reason: str, retry: list[ChatMessage]) -> None:
        self.reason = reason
        self.retry = retry  # what goes back to the model: its reply and the errors, in its shape


async def llm_decide_tools(
    provider: LLMProvider,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec],
    on_content_chunk: ContentSink | None = None,
    *,
    allowed_actions: Collection[str] | None = None,
) -> LLMDecision:
    """The next action(s) from the model. The decision's action is the reply's first call (or its
    text answer); its `raw` records the whole reply (planner/llm/tools.py `reply_raw`), from which
    the planner takes the reply's further calls one step each. Raises `LLMError` as `llm_decide` does,
    `LLMReplyInvalid` after one failed repair."""
    offered = names(tools)
    stream = _TextStream(on_content_chunk) if on_content_chunk else None
    first = await _ask(provider, messages, tools, stream)
    try:
        return await _decided(provider, first, offered, allowed_actions, stream, None)
    except _Malformed as malformed:
        first_reason = malformed.reason
        retry = malformed.retry
    log.warning("LLM %s tool reply malformed, asking once more: %s", provider.label, first_reason)
    # Text already shown stays shown; a second stream would repeat it, so only stream if none was sent.
    repair_stream = _TextStream(stream.sink) if stream is not None and not stream.sent else None
    second = await _ask(provider, [*messages, *retry], tools, repair_stream)
    try:
        decision = await _decided(provider, second, offered, allowed_actions, repair_stream, first_reason)
    except _Malformed as malformed:
        raise LLMReplyInvalid(
            provider.config.provider,
            provider.config.model,
            malformed.reason,
            raw=_raw(second)[:MAX_TEXT_CHARS],
            first_reason=first_reason,
        ) from None
    return after_repair(decision, first, second, stream)


async def _ask(
    provider: LLMProvider, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], stream: _TextStream | None
) -> Completion:
    return await provider.complete(messages, on_text=stream.feed if stream else None, tools=tools)


async def _decided(
    provider: LLMProvider,
    completion: Completion,
    offered: dict[str, ToolSpec],
    allowed: Collection[str] | None,
    stream: _TextStream | None,
    repair_reason: str | None,
) -> LLMDecision:
    action = _action(completion, offered, allowed)
    raw = _raw(completion)
    if len(raw) > MAX_TEXT_CHARS:
        raise _Malformed(f"the reply is larger than {MAX_TEXT_CHARS} characters", _text_retry(completion, "too large"))
    if stream is not None:
        await stream.finish(action)
    return LLMDecision(
        action=action,
        raw=raw,
        decided_by=f"llm:{provider.config.provider}/{provider.config.model}",
        repair_reason=repair_reason,
        streamed=stream.sent if stream else "",
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
    )


def _action(completion: Completion, offered: dict[str, ToolSpec], allowed: Collection[str] | None) -> Action:
    calls = completion.tool_calls
    if not calls:
        try:
            return text_action(completion.text, allowed)
        except InvalidReply as invalid:
            reason = _cut_off(invalid.reason, completion)
            raise _Malformed(reason, _text_retry(completion, reason)) from None
    if len(calls) > MAX_CALLS:
        reason = f"more than {MAX_CALLS} tool calls in one reply"
        raise _Malformed(reason, _call_retry(completion, [CallVerdict(c, error=reason) for c in calls[:MAX_CALLS]]))
    verdicts = decode_calls(calls, offered, allowed)
    errors = [f"{v.call.name[:64]}: {v.error}" for v in verdicts if v.error is not None]
    if errors:
        raise _Malformed(_cut_off("; ".join(errors), completion), _call_retry(completion, verdicts))
    first = verdicts[0].action
    assert first is not None
    return first


def _raw(completion: Completion) -> str:
    text = completion.text
    if not completion.tool_calls and text.strip().startswith(("{", "```json")):
        return text  # the JSON-object format: recorded as JSON mode records it
    return reply_raw(text, completion.tool_calls, 0)


def _text_retry(completion: Completion, reason: str) -> list[ChatMessage]:
    return [
        ChatMessage("assistant", completion.text[:MAX_TEXT_CHARS] or "(empty reply)"),
        ChatMessage("user", repair_request(reason) + " Or call one of the tools, or answer in plain text."),
    ]


def _call_retry(completion: Completion, verdicts: list[CallVerdict]) -> list[ChatMessage]:
    # Echoed so the results have calls to answer; what cannot go back as it came (a name too long
    # for the API, oversized arguments) goes back cut, the error says what it was.
    calls = tuple(
        ToolCall(v.call.id, v.call.name[:64], v.call.arguments if len(v.call.arguments) <= ECHO_CHARS else "{}")
        for v in verdicts
    )
    results = [
        ChatMessage(
            "tool",
            f"Error: {v.error}. Call it again, corrected." if v.error else NOT_RUN,
            tool_call_id=v.call.id,
            name=v.call.name,
            is_error=True,
        )
        for v in verdicts
    ]
    return [ChatMessage("assistant", completion.text[:MAX_TEXT_CHARS], tool_calls=calls), *results]


def _cut_off(reason: str, completion: Completion) -> str:
    return f"{reason} (the reply was cut off at the token limit)" if completion.truncated else reason
