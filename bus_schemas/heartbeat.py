"""Service heartbeats: every running service announces itself on a core subject (not stored).

`pagi.heartbeat.<service>.<instance>` carries a JSON `Heartbeat` every `interval_s` (and at once
when the service starts, when it stops with `status="stopping"`, and in answer to a ping on
`pagi.ping`). The edge's `/health` is built from them. They are deliberately outside PAGI_EVENTS:
liveness is not history, and a stream of them would drown the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

HEARTBEAT_PREFIX: Final = "pagi.heartbeat"
HEARTBEATS: Final = f"{HEARTBEAT_PREFIX}.*.*"
# Any service receiving this answers with a heartbeat at once (an edge that just started asks).
PING: Final = "pagi.ping"

# Keys a service may put in `details` (free-form otherwise; scalars only, never a secret):
MEMORY_STORE: Final = "memory_store"  # memory_worker: where memories live (path or server URL without credentials)
MEMORY_STORE_OK: Final = "memory_store_ok"  # memory_worker: the store answered its last check
SANDBOX: Final = "sandbox"  # tool_worker: the isolation it runs tools with, "bwrap" or "none"
SANDBOX_REQUIRED: Final = "sandbox_required"  # tool_worker: refuses to run without isolation
SANDBOX_USERNS_DISABLED: Final = "sandbox_userns_disabled"  # no nested user namespaces in the sandbox
SANDBOX_SECCOMP: Final = "sandbox_seccomp"  # the sandbox's seccomp filter is loaded
SANDBOX_PIDS_SCOPE: Final = (
    "sandbox_pids_scope"  # what bounds a session's processes: session_uid | shared_uid | worker_uid
)
SANDBOX_CGROUP: Final = "sandbox_cgroup"  # what cgroup v2 offers here (detected, not used: pids are bounded per uid)
SANDBOX_WORKSPACES: Final = "sandbox_workspaces"  # where the workspaces live (a path)
SANDBOX_FREE_BYTES: Final = "sandbox_free_bytes"  # free bytes on the workspaces' filesystem at the last check
SANDBOX_MIN_FREE_BYTES: Final = "sandbox_min_free_bytes"  # below this no run starts

Scalar = str | int | float | bool | None


class ConsumerLag(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    durable: str
    num_pending: int = Field(description="stored messages not yet delivered to the consumer")
    num_ack_pending: int = Field(description="delivered, not yet acknowledged")


class Heartbeat(BaseModel):
    # Tolerant reader: a newer service may add fields an older edge does not know yet.
    model_config = ConfigDict(extra="ignore", frozen=True)

    service: str = Field(max_length=64)
    instance: str = Field(max_length=64)
    status: Literal["up", "stopping"] = "up"
    version: str = Field(max_length=64)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime
    ts: datetime
    interval_s: float = Field(gt=0, description="the next heartbeat comes within this many seconds")
    metrics_url: str | None = Field(default=None, max_length=512, description="this instance's Prometheus endpoint")
    consumers: list[ConsumerLag] = Field(default_factory=list)
    details: dict[str, Scalar] = Field(default_factory=dict)


def heartbeat_subject(service: str, instance: str) -> str:
    return f"{HEARTBEAT_PREFIX}.{service}.{instance}"
