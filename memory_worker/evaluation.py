"""Retrieval quality on PAGI's labelled set: recall@k and MRR, overall and per query kind.

``python -m memory_worker.evaluation`` prints the figures for the configured embedding model
(``PAGI_EMBEDDING_MODEL``) on a throwaway embedded store.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .memory import Memory, NewMemory
from .records import KB_NAMES

RETRIEVAL_SET: Final = Path(__file__).resolve().parent / "eval" / "retrieval_set.json"
EVAL_NAMESPACE: Final = "eval"


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    text: str
    relevant: frozenset[str]
    kind: str


@dataclass(frozen=True, slots=True)
class RetrievalSet:
    documents: dict[str, NewMemory]
    queries: list[LabelledQuery]


@dataclass(frozen=True, slots=True)
class Scores:
    recall_at_k: float
    mrr: float
    by_kind: dict[str, float]  # recall@k per query kind
    misses: list[str]
    k: int


def load_set(path: Path = RETRIEVAL_SET, namespace: str = EVAL_NAMESPACE) -> RetrievalSet:
    raw: dict[str, Any] = json.loads(path.read_text())
    documents = {
        d["id"]: NewMemory(text=d["text"], namespace=namespace, kb=d["kb"], source=d["id"]) for d in raw["documents"]
    }
    queries = [LabelledQuery(q["q"], frozenset(q["relevant"]), q["kind"]) for q in raw["queries"]]
    return RetrievalSet(documents, queries)


def evaluate(memory: Memory, labelled: RetrievalSet, k: int = 5, namespace: str = EVAL_NAMESPACE) -> Scores:
    """Assumes the set's documents are stored in ``namespace`` with their ids as ``source``."""
    found = 0
    reciprocal = 0.0
    per_kind: dict[str, list[bool]] = {}
    misses: list[str] = []
    for query in labelled.queries:
        sources = [hit.record.source for hit in memory.search(query.text, namespace, KB_NAMES, k)]
        rank = next((i for i, s in enumerate(sources) if s in query.relevant), None)
        hit = rank is not None
        found += hit
        reciprocal += 1.0 / (rank + 1) if rank is not None else 0.0
        per_kind.setdefault(query.kind, []).append(hit)
        if not hit:
            misses.append(query.text)
    n = len(labelled.queries)
    return Scores(
        recall_at_k=found / n,
        mrr=reciprocal / n,
        by_kind={kind: sum(v) / len(v) for kind, v in sorted(per_kind.items())},
        misses=misses,
        k=k,
    )


def load_into(memory: Memory, labelled: RetrievalSet) -> None:
    docs: Sequence[NewMemory] = list(labelled.documents.values())
    memory.add(docs)


def main() -> None:
    from .config import MemorySettings
    from .embedding import load_embedder
    from .store_edge import EdgeStore

    settings = MemorySettings()
    embedder = load_embedder(settings.embedding_model)
    with tempfile.TemporaryDirectory() as tmp:
        memory = Memory(EdgeStore(Path(tmp) / "eval", embedder.dim), embedder)
        labelled = load_set()
        load_into(memory, labelled)
        scores = evaluate(memory, labelled)
        memory.close()
    kinds = ", ".join(f"{kind} {value:.2f}" for kind, value in scores.by_kind.items())
    print(f"{embedder.name}: recall@{scores.k} {scores.recall_at_k:.3f}, MRR {scores.mrr:.3f} ({kinds})")
    for miss in scores.misses:
        print(f"  miss: {miss}")


if __name__ == "__main__":
    main()
