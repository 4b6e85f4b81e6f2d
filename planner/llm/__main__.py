"""`python -m planner.llm "message"`: one decision from the provider the environment configures, to check
a key, a model or a local server by hand. Streamed answer text goes to stdout as it arrives."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import aiohttp

from .config import provider_config_from_env
from .decide import llm_decide
from .errors import LLMConfigError, LLMError
from .factory import make_provider
from .messages import ChatMessage


async def _run(message: str, system: str) -> int:
    try:
        config = provider_config_from_env()
    except LLMConfigError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 2
    if config is None:
        print("no LLM configured (or LLM_PROVIDER=mock): the deterministic planner decides", file=sys.stderr)
        return 2
    print(f"asking {config.label} at {config.base_url}", file=sys.stderr)
    messages = [ChatMessage("system", system), ChatMessage("user", message)]
    async with aiohttp.ClientSession() as session:
        try:
            decision = await llm_decide(
                make_provider(config, session), messages, on_content_chunk=lambda t: print(t, end="", flush=True)
            )
        except LLMError as error:
            print(f"\n{error}", file=sys.stderr)
            return 1
    if decision.streamed:
        print()
    if decision.repair_reason:
        print(f"first reply rejected: {decision.repair_reason}", file=sys.stderr)
    print(json.dumps({"decided_by": decision.decided_by, "action": decision.action.model_dump()}, indent=2))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m planner.llm",
        description=__doc__,
        epilog="Environment: see planner/llm/README.md (LLM_PROVIDER, LLM_MODEL, OPENROUTER_API_KEY, ...).",
    )
    parser.add_argument("message")
    parser.add_argument("--system", default="You are a helpful digital twin.")
    args = parser.parse_args()
    sys.exit(asyncio.run(_run(args.message, args.system)))


if __name__ == "__main__":
    main()
