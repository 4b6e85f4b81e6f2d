"""Built tool artifacts on the worker's disk, fetched by digest from the store and verified."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from records.stores import DIGEST_RE, Blobs, digest_of

ARTIFACT_FILE = "tool"


class ArtifactError(RuntimeError):
    pass


class ArtifactCache:
    def __init__(self, store: Blobs, root: Path) -> None:
        self.store = store
        self.root = root
        self._lock = asyncio.Lock()

    async def directory(self, digest: str) -> Path:
        """A read-only directory holding the artifact as `tool`, for a read-only bind into the sandbox."""
        if not DIGEST_RE.match(digest):
            raise ArtifactError(f"invalid artifact digest {digest!r}")
        target = self.root / digest.replace(":", "-")
        if (target / ARTIFACT_FILE).is_file():
            return target
        async with self._lock:
            if (target / ARTIFACT_FILE).is_file():
                return target
            data = await self.store.get(digest)
            if data is None:
                raise ArtifactError(f"artifact {digest} is not in the object store")
            if digest_of(data) != digest:
                raise ArtifactError(f"artifact {digest} failed its checksum")
            await asyncio.to_thread(self._install, target, data)
        return target

    def _install(self, target: Path, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        staging.mkdir(mode=0o755, exist_ok=True)
        (staging / ARTIFACT_FILE).write_bytes(data)
        (staging / ARTIFACT_FILE).chmod(0o555)
        staging.chmod(0o555)
        os.replace(staging, target)
