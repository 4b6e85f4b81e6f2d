"""Rust tools: a std-only crate, `cargo build --release --offline` inside the sandbox."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from sandbox import GIB, Bind, Limits, OutputCallback, Sandbox, traversable_by_others

from .outcome import BuildOutcome

log = logging.getLogger("pagi.build_worker.rust")

TOOLCHAIN_DEST = "/opt/rust"
HAS_MAIN = re.compile(r"\bfn\s+main\s*\(")
CANDIDATE_RUSTC = ("~/.cargo/bin/rustc", "/usr/local/cargo/bin/rustc")

# Code without `fn main` becomes main's body, with the JSON arguments from stdin in `input`.
WRAPPER = """#![allow(unused)]
use std::io::Read;

fn main() {{
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    let input: &str = input.trim();
{body}
}}
"""

CARGO_TOML = """[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[dependencies]

[profile.release]
debug = false
strip = true
"""


def find_toolchain(configured: str | None) -> Path | None:
    """The directory with bin/cargo and bin/rustc (a rustup toolchain or a plain install), if any."""
    if configured:
        path = Path(configured)
        return path if (path / "bin" / "cargo").is_file() else None
    rustc = shutil.which("rustc") or next(
        (str(p) for c in CANDIDATE_RUSTC if (p := Path(c).expanduser()).is_file()), None
    )
    if rustc is None:
        return None
    try:
        sysroot = subprocess.run(
            [rustc, "--print", "sysroot"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(sysroot)
    return path if (path / "bin" / "cargo").is_file() else None


def main_rs(code: str) -> str:
    if HAS_MAIN.search(code):
        return code
    body = "\n".join("    " + line if line.strip() else "" for line in code.splitlines())
    return WRAPPER.format(body=body)


def crate_name(tool_name: str) -> str:
    return tool_name.replace("-", "_")


async def build_rust(
    sandbox: Sandbox,
    workdir: Path,
    tool_name: str,
    code: str,
    toolchain: Path | None,
    limits: Limits,
    on_output: OutputCallback | None,
) -> BuildOutcome:
    if toolchain is None:
        return BuildOutcome(
            success=False,
            reason="unavailable",
            error="cargo is not installed on this build worker (install Rust, or set PAGI_RUST_TOOLCHAIN)",
        )
    crate = crate_name(tool_name)
    (workdir / "src").mkdir()
    (workdir / "Cargo.toml").write_text(CARGO_TOML.format(name=crate))
    (workdir / "src" / "main.rs").write_text(main_rs(code))
    if sandbox.config.host_user is not None:
        shutil.chown(workdir / "src", *sandbox.config.host_user)

    # rustup keeps toolchains under the builder's home, which the unprivileged sandbox uid cannot
    # enter; then the build runs as the worker's uid, still in every namespace and as nobody inside.
    as_worker = sandbox.config.host_user is not None and not traversable_by_others(toolchain)
    if as_worker:
        for path in (workdir, workdir / "src", workdir / "Cargo.toml", workdir / "src" / "main.rs"):
            os.chown(path, os.getuid(), os.getgid())
        log.warning("Rust toolchain %s is not reachable by the sandbox uid: building as the worker uid", toolchain)
    bind = Bind(toolchain, TOOLCHAIN_DEST)
    bin_dir = f"{sandbox.visible_path(bind)}/bin"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CARGO_HOME": "/tmp/cargo-home",
        "CARGO_TARGET_DIR": "target",
        "CARGO_TERM_COLOR": "never",
        "CARGO_BUILD_JOBS": "2",
    }
    # rustc and LLVM map far more address space than they use, and run a thread per codegen unit.
    build_limits = replace(limits, address_space_bytes=max(limits.address_space_bytes, 8 * GIB), nproc=512)
    run = await sandbox.run(
        [f"{bin_dir}/cargo", "build", "--release", "--offline"],
        workdir,
        limits=build_limits,
        binds=[bind],
        env=env,
        on_output=on_output,
        as_worker_user=as_worker,
    )
    outcome = BuildOutcome(
        success=run.ok, exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr, cpu_ms=run.cpu_ms
    )
    binary = workdir / "target" / "release" / crate
    if run.reason == "timeout":
        outcome.reason, outcome.error = "timeout", f"build timed out: {run.error}"
    elif run.reason in ("sandbox_required", "spawn_failed"):
        outcome.success, outcome.reason, outcome.error = False, "unavailable", run.error
    elif not run.ok or not binary.is_file():
        outcome.success = False
        outcome.reason = "compile_error"
        outcome.error = run.error or _first_error(run.stderr) or f"cargo exited with {run.exit_code}"
    else:
        outcome.artifact = binary.read_bytes()
    return outcome


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("error"):
            return line
    return ""
