"""Native tool calling against each protocol family's real wire shape (tests/fake_llm.py), streamed
and not: the tools offered with their own schemas, calls (one or several) read back, the one repair
sent in the provider's own shape, a model that ignores tools, and hostile arguments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bus_schemas import ActionMemory, ActionResponse, ActionTool
from planner.llm import ChatMessage, LLMReplyInvalid, config_for, llm_decide, provider_config_from_env
from planner.llm.decide_tools import llm_decide_tools
from planner.llm.messages import ToolCall
from planner.llm.tools import MAX_ARGUMENTS_BYTES, ToolSpec, action_from_raw, own_tools, parse_raw

from ..fake_llm import Call, FakeLLMServer, Family, Reply
from .conftest import FAMILIES, ProviderFactory

MESSAGES = [ChatMessage("system", "You are Phoenix."), ChatMessage("user", "what is the time in Tokyo?")]
# A tool bringing its own JSON schema, as an MCP server's tool does.
CLOCK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"timezone": {"type": "string", "description": "IANA name"}},
    "required": ["timezone"],
    "additionalProperties": False,
}
TOOLS = [ToolSpec("get_time", "The time in a timezone.", CLOCK_SCHEMA), ToolSpec("command_exec", "Run a command."),
         *own_tools(None)]  # fmt: skip
MODES = [(family, streamed) for family in FAMILIES for streamed in (False, True)]


def offered(family: Family, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tool name → its schema, as the request offered it in the family's shape."""
    if family == "openai":
        return {t["function"]["name"]: t["function"]["parameters"] for t in body["tools"]}
    if family == "anthropic":
        return {t["name"]: t["input_schema"] for t in body["tools"]}
    return {d["name"]: d["parametersJsonSchema"] for d in body["tools"][0]["functionDeclarations"]}


def results_sent(family: Family, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results in a request, normalised: id (where the family has one), content, error."""
    found: list[dict[str, Any]] = []
    if family == "openai":
        for m in body["messages"]:
            if m["role"] == "tool":
                found.append({"id": m["tool_call_id"], "content": m["content"]})
    elif family == "anthropic":
        for m in body["messages"]:
            for b in m["content"] if isinstance(m["content"], list) else []:
                if b["type"] == "tool_result":
                    found.append({"id": b["tool_use_id"], "content": b["content"], "error": b.get("is_error", False)})
    else:
        for c in body["contents"]:
            for p in c["parts"]:
                if "functionResponse" in p:
                    response = p["functionResponse"]["response"]
                    content = response.get("output") or response.get("error")
                    found.append(
                        {"name": p["functionResponse"]["name"], "content": content, "error": "error" in response}
                    )
    return found


class Sink:
    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def __call__(self, text: str) -> None:
        self.pieces.append(text)


@pytest.mark.parametrize(("family", "streamed"), MODES)
async def test_a_tool_call_is_an_action_and_the_tools_go_with_their_own_schemas(
    family: Family, streamed: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply(tool_calls=[Call("get_time", {"timezone": "Asia/Tokyo"}, id="toolu_1")], chunk_size=3))
    sink = Sink()
    decision = await llm_decide_tools(provider_for(family), MESSAGES, TOOLS, sink if streamed else None)

    assert decision.action == ActionTool(tool_name="get_time", args={"timezone": "Asia/Tokyo"})
    assert sink.pieces == []  # nothing to show for a call
    recorded = parse_raw(decision.raw)
    assert recorded is not None and recorded.index == 0 and [c.name for c in recorded.calls] == ["get_time"]
    assert action_from_raw(decision.raw) == decision.action  # replay needs no model
    [request] = fake_llm.requests
    assert request.streamed == streamed
    schemas = offered(family, request.body)
    assert schemas["get_time"] == CLOCK_SCHEMA
    assert {"MemorySearch", "BuildTool", "SelfImprove", "command_exec"} <= set(schemas)
    assert schemas["MemorySearch"]["required"] == ["query"]
    assert "response_format" not in request.body and "responseMimeType" not in json.dumps(request.body)


@pytest.mark.parametrize(("family", "streamed"), MODES)
async def test_parallel_calls_are_all_recorded_in_order(
    family: Family, streamed: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    calls = [Call("get_time", {"timezone": "Asia/Tokyo"}), Call("MemorySearch", {"query": "Tokyo office hours"}),
             Call("get_time", {"timezone": "Europe/Paris"})]  # fmt: skip
    fake_llm.script(Reply("Checking both.", tool_calls=calls, chunk_size=4))
    decision = await llm_decide_tools(provider_for(family), MESSAGES, TOOLS, Sink() if streamed else None)

    recorded = parse_raw(decision.raw)
    assert recorded is not None and len(recorded.calls) == 3
    assert len({c.id for c in recorded.calls}) == 3  # ids kept, or made up where the family has none
    actions = [action_from_raw(recorded.at(i)) for i in range(3)]
    assert actions == [
        ActionTool(tool_name="get_time", args={"timezone": "Asia/Tokyo"}),
        ActionMemory(query="Tokyo office hours"),
        ActionTool(tool_name="get_time", args={"timezone": "Europe/Paris"}),
    ]
    assert decision.action == actions[0] and recorded.text == "Checking both."


@pytest.mark.parametrize(("family", "streamed"), MODES)
async def test_a_malformed_call_is_repaired_once_in_the_providers_own_shape(
    family: Family, streamed: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    bad = (
        Call("get_time", '{"timezone": "Asia/Tok', id="call_bad") if family == "openai" else Call("get_time", {"tz": 9})
    )
    fake_llm.script(Reply(tool_calls=[bad]), Reply(tool_calls=[Call("get_time", {"timezone": "Asia/Tokyo"})]))
    decision = await llm_decide_tools(provider_for(family), MESSAGES, TOOLS, Sink() if streamed else None)

    assert decision.action == ActionTool(tool_name="get_time", args={"timezone": "Asia/Tokyo"})
    assert decision.repair_reason is not None
    reason = "not valid JSON" if family == "openai" else "do not match its schema"
    assert reason in decision.repair_reason
    second = fake_llm.requests[1].body
    [result] = results_sent(family, second)
    assert reason in result["content"]
    if family == "openai":
        assert result["id"] == "call_bad"
        assistant = second["messages"][-2]
        assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == "call_bad"
    elif family == "anthropic":
        assert result["error"] is True
        assert second["messages"][-2]["content"][0]["type"] == "tool_use"
    else:
        assert result["error"] is True and result["name"] == "get_time"
        assert "functionCall" in second["contents"][-2]["parts"][0]


@pytest.mark.parametrize("family", FAMILIES)
async def test_malformed_twice_is_an_invalid_reply(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply(tool_calls=[Call("MemorySearch", {})]), Reply(tool_calls=[Call("MemorySearch", {"q": 1})]))
    with pytest.raises(LLMReplyInvalid) as caught:
        await llm_decide_tools(provider_for(family), MESSAGES, TOOLS)
    assert str(caught.value).startswith("LLM reply invalid after repair:")
    assert "query" in str(caught.value) and caught.value.first_reason is not None
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize(("family", "streamed"), MODES)
async def test_a_model_that_ignores_the_tools_answers_in_text(
    family: Family, streamed: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    text = "It is 9 in the morning in Tokyo, I think."
    fake_llm.script(Reply(text, chunk_size=6))
    sink = Sink()
    decision = await llm_decide_tools(provider_for(family), MESSAGES, TOOLS, sink if streamed else None)
    assert decision.action == ActionResponse(content=text)
    if streamed:
        assert len(sink.pieces) > 1 and "".join(sink.pieces) == text
    assert action_from_raw(decision.raw) == decision.action


@pytest.mark.parametrize("family", FAMILIES)
async def test_an_answer_in_the_json_format_is_understood_and_streams_only_its_content(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    raw = json.dumps({"action_type": "ActionResponse", "content": "Hello there."})
    fake_llm.script(Reply(raw, chunk_size=4))
    sink = Sink()
    decision = await llm_decide_tools(provider_for(family), MESSAGES, TOOLS, sink)
    assert decision.action == ActionResponse(content="Hello there.")
    assert "".join(sink.pieces) == "Hello there." and decision.raw == raw


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_call_of_a_tool_not_offered_is_an_action_for_the_policy_to_refuse(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply(tool_calls=[Call("rm_everything", {"path": "/"})]))
    decision = await llm_decide_tools(provider_for(family), MESSAGES, TOOLS)
    # Not dropped and not trusted: the planner's policy judges it (tests/planner/test_tool_calling.py).
    assert decision.action == ActionTool(tool_name="rm_everything", args={"path": "/"})


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (deep(200), "nested deeper than 64"),
        ('{"timezone": "' + "x" * (MAX_ARGUMENTS_BYTES + 10) + '"}', f"over the {MAX_ARGUMENTS_BYTES} limit"),
        ("[1, 2]", "must be a JSON object"),
    ],
    ids=["deep", "huge", "not-an-object"],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_hostile_arguments_are_refused_with_a_clear_reason(
    arguments: str, reason: str, streamed: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(*[Reply(tool_calls=[Call("get_time", arguments)], chunk_size=4096)] * 2)
    with pytest.raises(LLMReplyInvalid) as caught:
        await llm_decide_tools(provider_for("openai"), MESSAGES, TOOLS, Sink() if streamed else None)
    assert reason in str(caught.value), str(caught.value)
    assert caught.value.first_reason is not None and reason in caught.value.first_reason
    # What went back for the repair is bounded: the oversized arguments were not echoed.
    assert len(json.dumps(fake_llm.requests[1].body)) < 100_000


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_conversation_with_tool_turns_goes_in_the_familys_shape(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    calls = (ToolCall("c1", "get_time", '{"timezone": "Asia/Tokyo"}'), ToolCall("c2", "MemorySearch", '{"query": "x"}'))
    conversation = [
        *MESSAGES,
        ChatMessage("assistant", "Let me look.", tool_calls=calls),
        ChatMessage("tool", "09:00 JST", tool_call_id="c1", name="get_time"),
        ChatMessage("tool", "No memories found.", tool_call_id="c2", name="MemorySearch"),
    ]
    fake_llm.script(Reply("It is 09:00 in Tokyo."))
    decision = await llm_decide_tools(provider_for(family), conversation, TOOLS)
    assert decision.action == ActionResponse(content="It is 09:00 in Tokyo.")
    body = fake_llm.requests[0].body
    assert [r["content"] for r in results_sent(family, body)] == ["09:00 JST", "No memories found."]
    if family == "openai":
        assert [r["id"] for r in results_sent(family, body)] == ["c1", "c2"]
        assert body["messages"][-3]["tool_calls"][1]["function"]["name"] == "MemorySearch"
    elif family == "anthropic":
        roles = [m["role"] for m in body["messages"]]
        assert roles == ["user", "assistant", "user"]  # both results in one user turn, alternating
        assert [b["type"] for b in body["messages"][1]["content"]] == ["text", "tool_use", "tool_use"]
        assert body["messages"][1]["content"][1]["input"] == {"timezone": "Asia/Tokyo"}
    else:
        roles = [c["role"] for c in body["contents"]]
        assert roles == ["user", "model", "user"]
        assert body["contents"][1]["parts"][1] == {
            "functionCall": {"name": "get_time", "args": {"timezone": "Asia/Tokyo"}}
        }


def test_tool_calling_is_a_preset_setting_the_environment_can_switch() -> None:
    assert config_for("openrouter", api_key="k", env={}).tool_calling
    assert config_for("anthropic", api_key="k", env={}).tool_calling
    # Servers that need flags for tools, or that nobody knows: the JSON-object format.
    assert not config_for("vllm", model="m", env={}).tool_calling
    assert not config_for("openai-compatible", model="m", base_url="http://10.0.0.5/v1", env={}).tool_calling
    on = provider_config_from_env({"LLM_PROVIDER": "vllm", "LLM_MODEL": "m", "LLM_TOOL_CALLING": "1"})
    off = provider_config_from_env({"OPENAI_API_KEY": "k", "LLM_TOOL_CALLING": "0"})
    assert on is not None and on.tool_calling
    assert off is not None and not off.tool_calling


async def test_without_tools_the_request_is_the_json_object_format(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    """A conversation holding tool turns, sent to a model without tool calling: as plain turns."""
    calls = (ToolCall("c1", "get_time", '{"timezone": "UTC"}'),)
    conversation = [*MESSAGES, ChatMessage("assistant", "", tool_calls=calls),
                    ChatMessage("tool", "12:00", tool_call_id="c1", name="get_time")]  # fmt: skip
    fake_llm.script(Reply(json.dumps({"action_type": "ActionResponse", "content": "noon"})))
    decision = await llm_decide(provider_for("openai"), conversation)
    assert decision.action == ActionResponse(content="noon")
    body = fake_llm.requests[0].body
    assert "tools" not in body and body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]][-2:] == ["assistant", "user"]
    assert "12:00" in body["messages"][-1]["content"] and "get_time" in body["messages"][-2]["content"]


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_gemini_thought_signature_goes_back_with_its_call(
    streamed: bool, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    call = Call("get_time", {"timezone": "UTC"}, signature="c2lnbmF0dXJl")
    fake_llm.script(Reply(tool_calls=[call]), Reply("noon"))
    provider = provider_for("gemini")
    decision = await llm_decide_tools(provider, MESSAGES, TOOLS, Sink() if streamed else None)
    recorded = parse_raw(decision.raw)
    assert recorded is not None and recorded.call.signature == "c2lnbmF0dXJl"
    conversation = [*MESSAGES, ChatMessage("assistant", "", tool_calls=recorded.calls),
                    ChatMessage("tool", "12:00", tool_call_id=recorded.call.id, name="get_time")]  # fmt: skip
    await llm_decide_tools(provider, conversation, TOOLS)
    model_turn = fake_llm.requests[1].body["contents"][1]
    assert model_turn["role"] == "model" and model_turn["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
