"""Each protocol family against a local server speaking it: replies, streaming, retries, timeouts."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from planner.llm import ChatMessage, LLMError, config_for, make_provider

from ..fake_llm import Drop, Fail, FakeLLMServer, Family, Raw, Reply, whole_body
from .conftest import FAMILIES, TEST_KEY, ProviderFactory

MESSAGES = [
    ChatMessage("system", "You are a test twin."),
    ChatMessage("user", "hello"),
    ChatMessage("assistant", "hi"),
    ChatMessage("user", "how are you?"),
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_reply_and_request_shape(
    family: Family, stream: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply("I am well, thank you."))
    provider = provider_for(family, temperature=0.7, max_tokens=321)
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    completion = await provider.complete(MESSAGES, on_text=on_text if stream else None)

    assert completion.text == "I am well, thank you."
    assert completion.finish_reason in {"stop", "end_turn", "STOP"}
    assert ("".join(pieces), len(pieces) > 1) == (("I am well, thank you.", True) if stream else ("", False))
    [request] = fake_llm.requests
    assert request.streamed is stream
    body, headers = request.body, request.headers
    if family == "openai":
        assert request.path == "/v1/chat/completions"
        assert headers["authorization"] == f"Bearer {TEST_KEY}"
        assert body["model"] == "test-model"
        assert (body["temperature"], body["max_tokens"]) == (0.7, 321)
        assert body["response_format"] == {"type": "json_object"}
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    elif family == "anthropic":
        assert request.path == "/v1/messages"
        assert headers["x-api-key"] == TEST_KEY
        assert headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in headers
        assert (body["temperature"], body["max_tokens"]) == (0.7, 321)
        assert body["system"] == "You are a test twin."
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    else:
        method = "streamGenerateContent" if stream else "generateContent"
        assert request.path == f"/v1beta/models/test-model:{method}"
        assert request.query == ({"alt": "sse"} if stream else {})
        assert headers["x-goog-api-key"] == TEST_KEY
        assert "key" not in request.query
        generation = body["generationConfig"]
        assert (generation["temperature"], generation["maxOutputTokens"]) == (0.7, 321)
        assert generation["responseMimeType"] == "application/json"
        assert body["systemInstruction"] == {"parts": [{"text": "You are a test twin."}]}
        assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]


async def test_anthropic_temperature_is_capped_at_its_maximum(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply("ok"))
    await provider_for("anthropic", temperature=1.5).complete(MESSAGES)
    assert fake_llm.requests[0].body["temperature"] == 1.0


async def test_json_mode_off_for_presets_without_it(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(Reply("{}"))
    await provider_for("openai", json_mode=False).complete(MESSAGES, json_mode=True)
    assert "response_format" not in fake_llm.requests[0].body


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_429_with_retry_after_then_success(
    family: Family, stream: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Fail(429, "slow down", headers={"Retry-After": "0.3"}), Reply("done"))
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    completion = await provider_for(family).complete(MESSAGES, on_text=on_text if stream else None)

    assert completion.text == "done"
    first, second = fake_llm.requests
    assert second.at - first.at >= 0.3  # the server's wait, not the 10 ms backoff
    if stream:
        assert "".join(pieces) == "done"


@pytest.mark.parametrize("family", FAMILIES)
async def test_500_then_success(family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(Fail(500), Fail(503), Reply("recovered"))
    completion = await provider_for(family).complete(MESSAGES)
    assert completion.text == "recovered"
    assert len(fake_llm.requests) == 3


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_persistent_500_is_an_error_naming_the_provider(
    family: Family, stream: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.default = Fail(500, "upstream exploded")

    async def on_text(text: str) -> None:
        raise AssertionError("no text expected")

    with pytest.raises(LLMError) as caught:
        await provider_for(family, max_attempts=3).complete(MESSAGES, on_text=on_text if stream else None)

    error = caught.value
    provider = {"openai": "openrouter", "anthropic": "anthropic", "gemini": "gemini"}[family]
    assert (error.provider, error.model, error.status, error.attempts) == (provider, "test-model", 500, 3)
    assert str(error) == f"LLM {provider}/test-model: HTTP 500: upstream exploded (after 3 attempts)"
    assert len(fake_llm.requests) == 3


@pytest.mark.parametrize("family", FAMILIES)
async def test_client_errors_are_not_retried(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Fail(400, "bad model name"))
    with pytest.raises(LLMError) as caught:
        await provider_for(family).complete(MESSAGES)
    assert (caught.value.status, caught.value.reason) == (400, "bad model name")
    assert len(fake_llm.requests) == 1


async def test_retry_after_longer_than_allowed_fails_at_once(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Fail(429, "quota", headers={"Retry-After": "3600"}))
    started = time.monotonic()
    with pytest.raises(LLMError, match="HTTP 429: quota; server asks to wait 3600 s"):
        await provider_for("openai", retry_after_max_s=5).complete(MESSAGES)
    assert time.monotonic() - started < 1.0
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_timeout_is_a_bounded_error(
    family: Family, stream: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.default = Reply("too late", delay_s=5.0)

    async def on_text(text: str) -> None:
        raise AssertionError("no text expected")

    started = time.monotonic()
    with pytest.raises(LLMError, match=r"no answer within 0\.2 s \(after 2 attempts\)"):
        await provider_for(family, timeout_s=0.2, max_attempts=2).complete(
            MESSAGES, on_text=on_text if stream else None
        )
    assert time.monotonic() - started < 1.5
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("family", FAMILIES)
async def test_stalled_stream_times_out(family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.default = Reply("a b c d e f", chunk_size=2, chunk_delay_s=5.0)
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"no answer within 0\.2 s"):
        await provider_for(family, timeout_s=0.2, max_attempts=2).complete(MESSAGES, on_text=_ignore)
    assert time.monotonic() - started < 1.5


async def test_connection_refused_is_retried_then_an_error(provider_for: ProviderFactory) -> None:
    # Port 9 on localhost: nothing listens there.
    provider = provider_for("openai", base_url="http://127.0.0.1:9/v1", max_attempts=2)
    with pytest.raises(LLMError, match=r"connection failed: .*\(after 2 attempts\)") as caught:
        await provider.complete(MESSAGES)
    assert caught.value.status is None


@pytest.mark.parametrize("family", FAMILIES)
async def test_stream_cut_after_text_is_not_retried(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Drop("abcdefghijklmnop", after=2, chunk_size=3), Reply("second answer"))
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    with pytest.raises(LLMError, match="stream interrupted"):
        await provider_for(family).complete(MESSAGES, on_text=on_text)
    assert "".join(pieces) == "abcdef"
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_stream_cut_before_any_text_is_retried(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Drop("abc", after=0), Reply("second answer"))
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    completion = await provider_for(family).complete(MESSAGES, on_text=on_text)
    assert completion.text == "".join(pieces) == "second answer"
    assert len(fake_llm.requests) == 2


async def test_error_object_in_a_stream_is_an_error(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    # OpenRouter reports upstream failures mid-stream as a data event carrying "error".
    body = 'data: {"error": {"message": "provider returned error", "code": 400}}\n\n'
    fake_llm.script(Raw(body, content_type="text/event-stream"))
    with pytest.raises(LLMError, match="HTTP 400: provider returned error"):
        await provider_for("openai").complete(MESSAGES, on_text=_ignore)


async def _ignore(text: str) -> None:
    return None


async def test_a_stream_that_trickles_past_its_limit_is_cut(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.default = Reply("a b c d e f g h i j", chunk_size=1, chunk_delay_s=0.05)
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"streamed reply ran over 0\.3 s"):
        await provider_for("openai", timeout_s=1.0, stream_max_s=0.3).complete(MESSAGES, on_text=_ignore)
    assert time.monotonic() - started < 1.0


async def test_a_failing_sink_is_the_callers_error_and_not_retried(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.default = Reply("streamed text", chunk_size=2)

    async def on_text(text: str) -> None:
        raise TimeoutError("bus publish timed out")

    with pytest.raises(TimeoutError, match="bus publish timed out"):
        await provider_for("anthropic").complete(MESSAGES, on_text=on_text)
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_whole_json_answer_to_a_stream_request_is_one_piece(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Raw(json.dumps(whole_body(family, Reply("all at once"), "test-model"))))
    pieces: list[str] = []

    async def on_text(text: str) -> None:
        pieces.append(text)

    completion = await provider_for(family).complete(MESSAGES, on_text=on_text)
    assert completion.text == "all at once"
    assert pieces == ["all at once"]


async def test_openai_itself_gets_max_completion_tokens(fake_llm: FakeLLMServer, http: aiohttp.ClientSession) -> None:
    fake_llm.script(Reply("ok"))
    config = config_for("openai", api_key=TEST_KEY, base_url=fake_llm.openai_base_url, env={}, max_tokens=99)
    await make_provider(config, http).complete(MESSAGES)
    body = fake_llm.requests[0].body
    assert body["max_completion_tokens"] == 99
    assert "max_tokens" not in body


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_large_reply_arrives_whole(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    text = "".join(f"line {i}: {'x' * 90}\n" for i in range(3000))  # ~300 KB, many TCP segments
    fake_llm.script(Reply(text), Reply(text, chunk_size=10_000))
    assert (await provider_for(family).complete(MESSAGES)).text == text
    assert (await provider_for(family).complete(MESSAGES, on_text=_ignore)).text == text
