"""Dense embeddings, chosen by configuration (``PAGI_EMBEDDING_MODEL``).

Specs:
- ``builtin`` (default): the static model in ``memory_worker/models/``, distilled from
  all-MiniLM-L6-v2 by ``scripts/build_embedding_model.py``; numpy + tokenizers at run time.
- ``model2vec:/path/to/dir`` (or a bare path): any model2vec model saved on disk.
- ``sentence-transformers:/path/or/name``: any sentence-transformers model already on disk
  (install ``sentence-transformers`` and ``torch==2.13.0`` yourself; nothing is downloaded).

No spec ever reaches a model hub: paths are checked before loading and hub lookups are off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import EmbeddingConfigError
from .records import Vector

BUILTIN_MODEL = Path(__file__).resolve().parent / "models" / "minilm-l6-m2v-256"


class Embedder(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vector:
        """(len(texts), dim) float32 rows of unit length."""
        ...


def _normalise(matrix: Any) -> Vector:
    out = np.asarray(matrix, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: Vector = out / norms
    return normalised


class Model2VecEmbedder:
    def __init__(self, path: Path, name: str | None = None) -> None:
        if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
            raise EmbeddingConfigError(
                f"no model2vec model at {path} (expected model.safetensors and tokenizer.json there)"
            )
        from model2vec import StaticModel

        self._model = StaticModel.from_pretrained(path)
        self._name = name or f"model2vec:{path.name}"
        self._dim = int(self._model.dim)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        # Multiprocessing would fork per call: slower than the work itself at these sizes.
        return _normalise(self._model.encode(list(texts), use_multiprocessing=False))


class SentenceTransformerEmbedder:
    def __init__(self, name_or_path: str) -> None:
        # Not configuration of ours but huggingface_hub's switch, which it reads from the environment
        # only: without it, loading a local model may still reach the network. A value already set wins.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError as exc:
            raise EmbeddingConfigError(
                "PAGI_EMBEDDING_MODEL names a sentence-transformers model but the package is not installed: "
                "pip install torch==2.13.0 sentence-transformers (pin torch so pip takes the CPU build)"
            ) from exc
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu", local_files_only=True)
        except Exception as exc:
            raise EmbeddingConfigError(f"cannot load sentence-transformers model {name_or_path!r}: {exc}") from exc
        self._name = f"sentence-transformers:{Path(name_or_path).name}"
        self._dim = int(self._model.get_sentence_embedding_dimension())

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts), batch_size=64, normalize_embeddings=True))


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    kind: str
    target: str


def parse_spec(spec: str) -> EmbeddingSpec:
    spec = spec.strip()
    if spec in ("", "builtin"):
        return EmbeddingSpec("model2vec", str(BUILTIN_MODEL))
    kind, sep, target = spec.partition(":")
    if sep and kind in ("model2vec", "sentence-transformers"):
        if not target:
            raise EmbeddingConfigError(f"embedding model spec {spec!r} names no model after {kind + ':'!r}")
        return EmbeddingSpec(kind, target)
    if sep and re.fullmatch(r"[A-Za-z][\w-]*", kind) and not Path(spec).exists():
        raise EmbeddingConfigError(
            f"unknown embedding model kind {kind!r} in {spec!r}: use builtin, model2vec:<dir> or "
            f"sentence-transformers:<dir-or-name>"
        )
    return EmbeddingSpec("model2vec", spec)


def load_embedder(spec: str = "builtin") -> Embedder:
    parsed = parse_spec(spec)
    if parsed.kind == "sentence-transformers":
        return SentenceTransformerEmbedder(parsed.target)
    path = Path(parsed.target).expanduser()
    if path == BUILTIN_MODEL and not (path / "model.safetensors").is_file():
        raise EmbeddingConfigError(
            f"the bundled embedding model is missing from this install ({path}): install PAGI from its "
            f"source tree (pip install -e .), rebuild it with scripts/build_embedding_model.py, or set "
            f"PAGI_EMBEDDING_MODEL to a model on disk"
        )
    name = "builtin:minilm-l6-m2v-256" if path == BUILTIN_MODEL else None
    return Model2VecEmbedder(path, name=name)


def collection_suffix(embedder: Embedder) -> str:
    """Part of the collection name, so vectors of two different models are never mixed."""
    slug = re.sub(r"[^a-z0-9]+", "-", embedder.name.lower()).strip("-")
    return f"{slug}-{embedder.dim}"
