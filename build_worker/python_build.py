"""Python tools: a syntax check and an import inside the sandbox, with the declared entry point."""

from __future__ import annotations

from pathlib import Path

from sandbox import Limits, OutputCallback, Sandbox

from .outcome import BuildOutcome

SOURCE = "tool.py"

# Exit 2: syntax error, 3: no such entry point; anything else: the import itself failed.
CHECK = r"""
import importlib.util, sys
path, entry = sys.argv[1], sys.argv[2]
source = open(path, encoding="utf-8").read()
try:
    compile(source, "tool.py", "exec")
except SyntaxError as e:
    sys.stderr.write("syntax error in tool.py line %s: %s\n" % (e.lineno, e.msg))
    sys.exit(2)
print("syntax ok", flush=True)
spec = importlib.util.spec_from_file_location("pagi_tool", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("import ok", flush=True)
if not callable(getattr(module, entry, None)):
    sys.stderr.write("entry point %r is not a function defined by the tool\n" % entry)
    sys.exit(3)
print("entry point %s ok" % entry)
"""


async def build_python(
    sandbox: Sandbox,
    workdir: Path,
    code: str,
    entry_point: str,
    limits: Limits,
    on_output: OutputCallback | None,
) -> BuildOutcome:
    source = workdir / SOURCE
    source.write_text(code, encoding="utf-8")
    run = await sandbox.run(
        [sandbox.config.python, "-I", "-c", CHECK, SOURCE, entry_point],
        workdir,
        limits=limits,
        on_output=on_output,
    )
    outcome = BuildOutcome(
        success=run.ok, exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr, cpu_ms=run.cpu_ms
    )
    if run.reason == "timeout":
        outcome.reason, outcome.error = "timeout", f"build timed out: {run.error}"
    elif run.reason in ("sandbox_required", "spawn_failed"):
        outcome.success, outcome.reason, outcome.error = False, "unavailable", run.error
    elif not run.ok:
        outcome.reason = "compile_error"
        outcome.error = run.error or _last_line(run.stderr) or f"the tool's check exited with {run.exit_code}"
    else:
        outcome.artifact = code.encode("utf-8")
    return outcome


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
