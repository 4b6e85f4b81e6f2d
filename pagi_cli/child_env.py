"""What each child of `pagi up` sees of the environment: only the variables its own settings read.

`pagi up` itself holds every secret the operator set (provider keys, `PAGI_SECRET_KEY`, API keys,
the Qdrant key). A child gets a variable only when one of the settings classes it reads names it
(every field's alias, read from the class, so a new setting reaches its service without an edit
here), when it is one of the few extra names a service reads outside a settings class (listed
below with the reader), or when it is the process plumbing every Python program needs (`PATH`,
`HOME`, the locale, `PYTHON*`). So the tool and build workers, which run untrusted code, never
hold a provider key or the key that seals them; each secret is only where it is used:

| secret | who gets it | why |
|---|---|---|
| `PAGI_SECRET_KEY` | edge, planner | the edge seals a twin's key when it is written, the planner opens it |
| `PAGI_MCP_SECRET_KEY` | edge, tool worker | the edge seals http MCP servers' headers, the tool worker opens them |
| provider keys (`OPENAI_API_KEY`, ..., `LLM_*`) | planner | the only process that calls a provider |
| `PAGI_API_KEY(S)` | edge | the only door that checks API keys |
| `QDRANT_API_KEY` | memory worker | the only process that talks to Qdrant |
| `NATS_URL` (with a password) | each child its own user's | `pagi up` gives each its own |
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from pydantic_settings import BaseSettings

from build_worker.settings import BuildSettings
from bus_schemas.streams import ReplicaSettings
from edge.settings import EdgeSettings
from memory_worker.config import MemorySettings
from pagi.heartbeat import INTERVAL_ENV as HEARTBEAT_INTERVAL
from pagi.nats_users import AGENT_CALLERS_ENV
from pagi.settings import BusSettings, McpSecretSettings, MetricsSettings, SecretSettings, TracingSettings
from planner.llm.presets import PRESETS
from planner.settings import PlannerSettings
from records.endpoints import ALLOW_PRIVATE_ENV, ALLOWED_URLS_ENV, OPERATOR_URL_ENV
from records.mcp_servers import McpUrlSettings
from telemetry_agent.config import TelemetrySettings
from tool_worker.settings import ToolSettings
from tool_worker.vector import VectorQuerySettings

# What any Python process needs to run at all (none of it a secret).
PLUMBING: Final = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "VIRTUAL_ENV",
     "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)  # fmt: skip
# The locale, the interpreter's own switches, and the OpenTelemetry SDK's variables (its exporter reads
# them itself, e.g. OTEL_EXPORTER_OTLP_HEADERS: every service traces, so every one gets them).
PLUMBING_PREFIXES: Final = ("LC_", "PYTHON", "OTEL_")

# Read by every service: the bus, tracing, metrics, stream replicas (pagi.service, pagi.bus).
EVERY_SERVICE: Final[tuple[type[BaseSettings], ...]] = (BusSettings, TracingSettings, MetricsSettings, ReplicaSettings)

SETTINGS: Final[dict[str, tuple[type[BaseSettings], ...]]] = {
    # McpUrlSettings: where a registered http MCP server may point (checked when it is registered).
    "edge": (EdgeSettings, SecretSettings, McpSecretSettings, McpUrlSettings),
    "planner": (PlannerSettings, SecretSettings),
    "memory_worker": (MemorySettings,),
    # McpUrlSettings again: the tool worker checks an http server's URL before each connection too.
    "tool_worker": (ToolSettings, VectorQuerySettings, McpSecretSettings, McpUrlSettings),
    "build_worker": (BuildSettings,),
    "telemetry_agent": (TelemetrySettings,),
}

# Where the operator allows a provider's base URL (records.endpoints): the edge checks a twin's URL
# when it is written, the planner again before it connects.
_ENDPOINT_RULES = frozenset({ALLOWED_URLS_ENV, ALLOW_PRIVATE_ENV, OPERATOR_URL_ENV})
_MODEL_FILES = frozenset(
    {
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "SENTENCE_TRANSFORMERS_HOME",
        "XDG_CACHE_HOME",
    }
)
# Read outside a settings class: each preset's key variable (planner.llm.config picks it by provider),
# huggingface_hub's and sentence-transformers' own variables (a local embedding model), rustup's.
EXTRA: Final[dict[str, frozenset[str]]] = {
    # The agent protocol's callers (pagi.nats_users.agent_callers): the edge serves an agent per caller.
    "edge": _ENDPOINT_RULES | {AGENT_CALLERS_ENV},
    "planner": _ENDPOINT_RULES | {p.key_env for p in PRESETS.values() if p.key_env},
    "memory_worker": _MODEL_FILES,
    "build_worker": frozenset({"RUSTUP_HOME", "CARGO_HOME", "RUSTUP_TOOLCHAIN"}),
}
# planner.llm.config reads LLM_PROVIDER, LLM_MODEL, LLM_API_KEY, LLM_TEMPERATURE, ... by name.
EXTRA_PREFIXES: Final[dict[str, tuple[str, ...]]] = {"planner": ("LLM_",)}


class UnknownChild(KeyError):
    pass


def aliases(classes: Iterable[type[BaseSettings]]) -> frozenset[str]:
    """Every environment variable these settings classes read (their fields' aliases)."""
    names: set[str] = set()
    for cls in classes:
        for name, info in cls.model_fields.items():
            alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
            names.add(alias or name.upper())
    return frozenset(names)


def allowed(child: str) -> frozenset[str]:
    """The variable names `child` may get by name (besides `PLUMBING` and the prefixes)."""
    if child not in SETTINGS:
        raise UnknownChild(f"no environment allow-list for {child!r} (known: {', '.join(sorted(SETTINGS))})")
    return aliases((*EVERY_SERVICE, *SETTINGS[child])) | {HEARTBEAT_INTERVAL} | EXTRA.get(child, frozenset())


def child_env(child: str, environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` cut down to what `child` reads, with PAGI's own environment's scripts first on PATH
    (as an activated venv has them): `pagi mcp add time -- mcp-server-time` finds the server that
    `pip install` put next to PAGI even when `pagi up` was started as `.venv/bin/pagi up`."""
    names = allowed(child)
    prefixes = (*PLUMBING_PREFIXES, *EXTRA_PREFIXES.get(child, ()))
    env = {k: v for k, v in environ.items() if k in PLUMBING or k in names or k.startswith(prefixes)}
    scripts = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join(p for p in (scripts, path) if p)
    return env
