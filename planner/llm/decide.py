"""One LLM decision: ask for an action as JSON, validate it, repair once, stream a response's text."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace

from bus_schemas import Action, ActionResponse
from bus_schemas.limits import MAX_TEXT_CHARS

from ..decision import Decision
from .content_stream import ContentExtractor
from .errors import LLMReplyInvalid
from .instructions import repair_request, with_instructions
from .messages import ChatMessage
from .provider import Completion, LLMProvider
from .reply import InvalidReply, parse_action

log = logging.getLogger("planner.llm")

# Called with each new piece of an ActionResponse's content; may be a plain function or a coroutine function.
ContentSink = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True)
class LLMDecision(Decision):
    # Why the first reply was rejected, when the accepted one came from the repair attempt.
    repair_reason: str | None = None
    # Everything passed to on_content_chunk. Equal to the response's content when streaming went
    # through cleanly; after a repair it may be the (abandoned) first reply's partial text.
    streamed: str = ""
    # Tokens the provider reported, over both attempts when there was a repair (None: not reported).
    input_tokens: int | None = None
    output_tokens: int | None = None


class ContentStream:
    """The `content` of a JSON-object reply as it streams, passed on to the sink piece by piece."""

    def __init__(self, sink: ContentSink) -> None:
        self.sink = sink
        self.extractor = ContentExtractor()
        self.sent = ""

    async def feed(self, text: str) -> None:
        await self._send(self.extractor.feed(text))

    async def finish(self, action: Action) -> None:
        """Send what the extractor held back (e.g. the reply ended before its action_type was read)."""
        if isinstance(action, ActionResponse) and action.content.startswith(self.sent):
            await self._send(action.content[len(self.sent) :])

    async def _send(self, chunk: str) -> None:
        if not chunk:
            return
        self.sent += chunk
        result = self.sink(chunk)
        if inspect.isawaitable(result):
            await result


async def llm_decide(
    provider: LLMProvider,
    messages: Sequence[ChatMessage],
    on_content_chunk: ContentSink | None = None,
    *,
    allowed_actions: Collection[str] | None = None,
) -> LLMDecision:
    """The next action from the model. Raises `LLMError` when the provider fails (after its retries)
    and `LLMReplyInvalid` (an `LLMError`) when the reply is still not a valid action after one repair
    attempt; `str(error)` is the note for the job log, then the deterministic planner takes over."""
    conversation = with_instructions(messages, allowed_actions)
    stream = ContentStream(on_content_chunk) if on_content_chunk else None
    completion = await _ask(provider, conversation, stream)
    try:
        action = parse_action(completion.text, allowed_actions)
    except InvalidReply as invalid:
        first_reason = _reason(invalid, completion)
    else:
        return await _decided(provider, action, completion, stream, None)
    log.warning("LLM %s reply invalid, asking once more: %s", provider.label, first_reason)
    repair = [
        *conversation,
        ChatMessage("assistant", completion.text[:MAX_TEXT_CHARS] or "(empty reply)"),
        ChatMessage("user", repair_request(first_reason)),
    ]
    # Text already shown stays shown; a second stream would repeat it, so only stream if none was sent.
    repair_stream = ContentStream(stream.sink) if stream is not None and not stream.sent else None
    second = await _ask(provider, repair, repair_stream)
    try:
        action = parse_action(second.text, allowed_actions)
    except InvalidReply as invalid:
        raise LLMReplyInvalid(
            provider.config.provider,
            provider.config.model,
            _reason(invalid, second),
            raw=second.text[:MAX_TEXT_CHARS],
            first_reason=first_reason,
        ) from None
    decision = await _decided(provider, action, second, repair_stream, first_reason)
    return after_repair(decision, completion, second, stream)


def after_repair(
    decision: LLMDecision, first: Completion, second: Completion, stream: ContentStream | None
) -> LLMDecision:
    """A decision made on the second try: the tokens of both tries, and what streamed of either."""
    decision = replace(
        decision,
        input_tokens=_sum(first.input_tokens, second.input_tokens),
        output_tokens=_sum(first.output_tokens, second.output_tokens),
    )
    if stream is not None and stream.sent:
        return replace(decision, streamed=stream.sent)
    return decision


async def _ask(provider: LLMProvider, messages: list[ChatMessage], stream: ContentStream | None) -> Completion:
    return await provider.complete(messages, json_mode=True, on_text=stream.feed if stream else None)


async def _decided(
    provider: LLMProvider,
    action: Action,
    completion: Completion,
    stream: ContentStream | None,
    repair_reason: str | None,
) -> LLMDecision:
    if stream is not None:
        await stream.finish(action)
    return LLMDecision(
        action=action,
        raw=completion.text[:MAX_TEXT_CHARS],
        decided_by=f"llm:{provider.config.provider}/{provider.config.model}",
        repair_reason=repair_reason,
        streamed=stream.sent if stream else "",
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
    )


def _sum(first: int | None, second: int | None) -> int | None:
    return None if first is None and second is None else (first or 0) + (second or 0)


def _reason(invalid: InvalidReply, completion: Completion) -> str:
    if completion.truncated:
        return f"{invalid.reason} (the reply was cut off at the token limit)"
    return invalid.reason
