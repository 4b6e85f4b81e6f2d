"""Memory worker settings, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MemorySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    data_dir: Path = Field(default=Path(".pagi"), alias="PAGI_DATA_DIR")
    # Set to use a Qdrant server (or cluster) instead of the embedded store under data_dir.
    qdrant_url: str | None = Field(default=None, alias="QDRANT_URL")
    qdrant_api_key: str | None = Field(default=None, alias="QDRANT_API_KEY")
    embedding_model: str = Field(default="builtin", alias="PAGI_EMBEDDING_MODEL")
    collection_prefix: str = Field(default="pagi-memory", alias="PAGI_MEMORY_COLLECTION_PREFIX")
    rrf_k: int = Field(default=10, ge=1, alias="PAGI_MEMORY_RRF_K")
    dense_weight: float = Field(default=1.0, gt=0, alias="PAGI_MEMORY_DENSE_WEIGHT")
    keyword_weight: float = Field(default=1.0, gt=0, alias="PAGI_MEMORY_KEYWORD_WEIGHT")
    # Keyword IDF per namespace; turn off for a Qdrant server too old to accept an IDF corpus.
    namespace_idf: bool = Field(default=True, alias="PAGI_MEMORY_NAMESPACE_IDF")
    # After fusion: hits holding the identifiers a query names first; near-duplicates (dense cosine at or
    # above collapse_cosine, 0 for off) kept once; both over the best `candidates` fused hits, each
    # prefetch `prefetch` deep.
    identifier_first: bool = Field(default=True, alias="PAGI_MEMORY_IDENTIFIER_FIRST")
    collapse_cosine: float = Field(default=0.9, ge=0, le=1, alias="PAGI_MEMORY_COLLAPSE_COSINE")
    candidates: int = Field(default=200, ge=1, le=1000, alias="PAGI_MEMORY_CANDIDATES")
    prefetch: int = Field(default=200, ge=1, le=1000, alias="PAGI_MEMORY_PREFETCH")

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "memory"
