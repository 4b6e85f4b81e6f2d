"""Hard limits applied to every sandboxed run."""

from __future__ import annotations

from dataclasses import dataclass, replace

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    cpu_s: int = 10
    address_space_bytes: int = 1 * GIB
    nproc: int = 64
    file_size_bytes: int = 64 * MIB
    output_bytes: int = 1 * MIB
    workspace_quota_bytes: int = 256 * MIB
    workspace_max_files: int = 10_000
    tmp_bytes: int = 64 * MIB

    def with_timeout(self, timeout_s: float | None) -> Limits:
        if timeout_s is None:
            return self
        return replace(self, timeout_s=timeout_s, cpu_s=max(1, min(self.cpu_s, int(timeout_s) + 1)))
