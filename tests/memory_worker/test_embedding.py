import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from memory_worker.embedding import BUILTIN_MODEL, Embedder, collection_suffix, load_embedder, parse_spec
from memory_worker.errors import EmbeddingConfigError


def test_builtin_model_is_small_and_semantic(embedder: Embedder) -> None:
    size = sum(p.stat().st_size for p in BUILTIN_MODEL.iterdir())
    assert size < 30 * 1024 * 1024
    vecs = embedder.embed(["restore the database from a backup", "recover data from a db dump", "piano recital"])
    assert vecs.shape == (3, embedder.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


def test_empty_batch(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_spec_parsing() -> None:
    assert parse_spec("builtin").target == str(BUILTIN_MODEL)
    assert parse_spec("").kind == "model2vec"
    assert parse_spec("model2vec:/m").target == "/m"
    assert parse_spec("sentence-transformers:all-MiniLM-L6-v2").kind == "sentence-transformers"
    assert parse_spec("/some/dir").kind == "model2vec"
    with pytest.raises(EmbeddingConfigError, match="unknown embedding model kind"):
        parse_spec("openai:text-embedding-3")
    with pytest.raises(EmbeddingConfigError, match="names no model"):
        parse_spec("model2vec:")


def test_model_from_a_path_is_pluggable(tmp_path: Path, embedder: Embedder) -> None:
    assert collection_suffix(load_embedder(f"model2vec:{BUILTIN_MODEL}")) == collection_suffix(embedder)
    copy = tmp_path / "my-model"
    shutil.copytree(BUILTIN_MODEL, copy)
    other = load_embedder(f"model2vec:{copy}")
    assert other.dim == embedder.dim
    assert np.allclose(other.embed(["hello"]), embedder.embed(["hello"]))
    assert collection_suffix(other) != collection_suffix(embedder)  # another model, another collection
    with pytest.raises(EmbeddingConfigError, match=re.escape(str(tmp_path))):
        load_embedder(str(tmp_path))


def test_committed_model_is_what_the_build_script_makes() -> None:
    config = json.loads((BUILTIN_MODEL / "config.json").read_text())
    script = (Path(__file__).resolve().parents[2] / "scripts" / "build_embedding_model.py").read_text()
    assert "PCA_DIMS = 256" in script and 'quantize_to="float16"' in script
    assert (config["apply_pca"], config["hidden_dim"], config["embedding_dtype"]) == (256, 256, "float16")
    assert config["tokenizer_name"] == "sentence-transformers/all-MiniLM-L6-v2" and config["normalize"] is True


def test_a_missing_bundled_model_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import memory_worker.embedding as embedding

    monkeypatch.setattr(embedding, "BUILTIN_MODEL", tmp_path / "gone")
    with pytest.raises(EmbeddingConfigError, match="bundled embedding model is missing"):
        embedding.load_embedder("builtin")
