"""A failing call's error text and logs never contain the API key."""

from __future__ import annotations

import logging

import pytest

from planner.llm import ChatMessage, LLMError, llm_decide

from ..fake_llm import Fail, FakeLLMServer, Family, Reply
from .conftest import FAMILIES, TEST_KEY, ProviderFactory

MESSAGES = [ChatMessage("user", "hello")]


@pytest.mark.parametrize("family", FAMILIES)
async def test_key_echoed_by_the_provider_is_redacted(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Some providers quote the presented key back in their error; it must not travel on from here.
    caplog.set_level(logging.DEBUG)
    fake_llm.default = Fail(500, f"key {TEST_KEY} is rate limited")
    with pytest.raises(LLMError) as caught:
        await llm_decide(provider_for(family, max_attempts=2), MESSAGES)

    error = caught.value
    assert fake_llm.requests, "the key was sent"
    assert "key *** is rate limited" in str(error)
    for text in (str(error), repr(error), error.reason, caplog.text):
        assert TEST_KEY not in text
    assert "retrying" in caplog.text  # the retry was logged, without the key


@pytest.mark.parametrize("family", FAMILIES)
async def test_rejected_key_error_names_provider_not_key(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_llm.script(Fail(401, "invalid api key"))
    provider = provider_for(family)
    with pytest.raises(LLMError) as caught:
        await provider.complete(MESSAGES)
    assert str(caught.value).startswith(f"LLM {provider.config.provider}/test-model: HTTP 401: invalid api key")
    assert TEST_KEY not in str(caught.value) + repr(caught.value) + caplog.text + repr(provider)


async def test_success_logs_carry_no_key(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_llm.script(Reply('{"action_type": "ActionResponse", "content": "hi"}'))
    await llm_decide(provider_for("gemini"), MESSAGES)
    assert "answered in" in caplog.text
    assert TEST_KEY not in caplog.text
