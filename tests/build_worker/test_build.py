"""Building tools for real: Python checked and imported in the sandbox, Rust compiled there by cargo."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_worker.build_queue import BuildQueue
from build_worker.builder import Builder, BuildSpec
from build_worker.rust_build import main_rs
from records.stores import digest_of
from records.tools import ToolRegistry
from sandbox import Sandbox, SandboxConfig
from tool_worker.runner import ToolRunner

from ..fakes import DirBlobs

WORD_COUNT = """
def main(args):
    text = args["text"]
    return {"words": len(text.split())}
"""


async def test_python_tool_builds_registers_and_runs(
    builder: Builder, registry: ToolRegistry, blobs: DirBlobs, runner: ToolRunner, sid: str
) -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    outcome = await builder.build(BuildSpec("word-count", "python", WORD_COUNT, "count words", schema))
    assert outcome.success, outcome
    assert "syntax ok" in outcome.stdout and "entry point main ok" in outcome.stdout
    assert outcome.version == 1 and outcome.artifact_digest == digest_of(WORD_COUNT.encode())
    assert await blobs.get(outcome.artifact_digest) == WORD_COUNT.encode()
    record = await registry.get("word-count")
    assert record is not None and (record.kind, record.language, record.version) == ("built", "python", 1)

    ran = await runner.run(sid, "word-count", {"text": "a b c"})
    assert (ran.exit_code, ran.stdout, ran.isolation) == (0, '{"words": 3}', "bwrap")
    bad = await runner.run(sid, "word-count", {"text": 5})
    assert bad.reason == "invalid_arguments" and "5 is not of type 'string'" in (bad.error or "")


async def test_rebuild_gets_a_new_version(
    builder: Builder, registry: ToolRegistry, runner: ToolRunner, sid: str
) -> None:
    first = await builder.build(BuildSpec("greet", "python", "def main(a):\n    return 'v1'\n"))
    second = await builder.build(BuildSpec("greet", "python", "def main(a):\n    return 'v2'\n"))
    assert (first.version, second.version) == (1, 2)
    assert first.artifact_digest != second.artifact_digest
    ran = await runner.run(sid, "greet", {})
    assert ran.stdout == "v2"


async def test_failed_rebuild_keeps_the_old_version(builder: Builder, registry: ToolRegistry) -> None:
    await builder.build(BuildSpec("keeper", "python", "def main(a):\n    return 1\n"))
    broken = await builder.build(BuildSpec("keeper", "python", "def main(a):\n    return (\n"))
    assert not broken.success and broken.reason == "compile_error"
    assert "syntax error in tool.py line 2" in (broken.error or "")
    record = await registry.get("keeper")
    assert record is not None and record.version == 1


@pytest.mark.parametrize(
    ("code", "entry", "message"),
    [
        ("def run(a):\n    return 1\n", "main", "entry point 'main' is not a function defined by the tool"),
        ("import no_such_module_here\ndef main(a):\n    pass\n", "main", "ModuleNotFoundError"),
        ("main = 42\n", "main", "entry point 'main' is not a function"),
    ],
)
async def test_python_build_errors_are_clear(
    builder: Builder, registry: ToolRegistry, code: str, entry: str, message: str
) -> None:
    outcome = await builder.build(BuildSpec("broken", "python", code, entry_point=entry))
    assert not outcome.success and outcome.reason == "compile_error"
    assert message in (outcome.error or "")
    assert await registry.get("broken") is None


async def test_custom_entry_point(builder: Builder, runner: ToolRunner, sid: str) -> None:
    code = "import json\ndef handle(args):\n    return sorted(args)\n"
    outcome = await builder.build(BuildSpec("keys", "python", code, entry_point="handle"))
    assert outcome.success
    ran = await runner.run(sid, "keys", {"b": 1, "a": 2})
    assert ran.stdout == '["a", "b"]'


async def test_invalid_args_schema_is_rejected(builder: Builder) -> None:
    outcome = await builder.build(BuildSpec("schema-x", "python", "def main(a): pass", args_schema={"type": 12}))
    assert outcome.reason == "invalid_schema" and "invalid args_schema" in (outcome.error or "")


def test_rust_code_without_main_is_wrapped() -> None:
    wrapped = main_rs('println!("{}", input.len());')
    assert "fn main() {" in wrapped and 'println!("{}", input.len());' in wrapped
    own = 'fn main() { println!("hi"); }'
    assert main_rs(own) == own


async def test_rust_tool_builds_and_runs(
    builder: Builder, registry: ToolRegistry, runner: ToolRunner, sid: str, toolchain: Path | None
) -> None:
    if toolchain is None:
        pytest.fail("no Rust toolchain (cargo and rustc): scripts/install-system-deps.sh installs Debian's cargo")
    code = 'let n = input.matches(\'"\').count();\nprintln!("quotes={}", n);'
    outcome = await builder.build(BuildSpec("quote-count", "rust", code, "count quotes"))
    assert outcome.success, outcome.stderr
    assert "Finished" in outcome.stderr
    record = await registry.get("quote-count")
    assert record is not None and record.language == "rust" and record.entry_point is None
    ran = await runner.run(sid, "quote-count", {"a": "b"})
    assert (ran.exit_code, ran.stdout) == (0, "quotes=4\n")


async def test_rust_compile_error_is_reported(builder: Builder, registry: ToolRegistry, toolchain: Path | None) -> None:
    if toolchain is None:
        pytest.fail("no Rust toolchain (cargo and rustc): scripts/install-system-deps.sh installs Debian's cargo")
    outcome = await builder.build(BuildSpec("bad-rust", "rust", 'let x: u8 = "text";'))
    assert not outcome.success and outcome.reason == "compile_error"
    assert (outcome.error or "").startswith("error[E0308]: mismatched types")
    assert await registry.get("bad-rust") is None


async def test_rust_without_cargo_is_a_clear_error(builder: Builder) -> None:
    builder.rust_toolchain = None
    outcome = await builder.build(BuildSpec("no-cargo", "rust", 'println!("x");'))
    assert outcome.reason == "unavailable" and "cargo is not installed" in (outcome.error or "")


async def test_build_refused_when_the_sandbox_is_required_but_missing(state_dir: Path, registry: ToolRegistry) -> None:
    box = Sandbox(SandboxConfig(state_dir=state_dir / "req", bwrap=None, require_sandbox=True))
    assert box.start() == "none"
    builder = Builder(box, registry, DirBlobs(state_dir / "o"), BuildQueue(), timeout_s=10, rust_toolchain=None)
    outcome = await builder.build(BuildSpec("needs-box", "python", "def main(a):\n    return 1\n"))
    assert outcome.reason == "unavailable" and "PAGI_REQUIRE_SANDBOX" in (outcome.error or "")
    assert await registry.get("needs-box") is None
