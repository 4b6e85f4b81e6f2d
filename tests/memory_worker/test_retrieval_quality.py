"""Retrieval quality on the labelled set, through the real store and the real default model."""

from memory_worker.evaluation import evaluate, load_into, load_set
from memory_worker.memory import Memory


def test_labelled_set_recall_and_mrr(memory: Memory) -> None:
    labelled = load_set()
    assert len(labelled.queries) >= 60
    load_into(memory, labelled)
    scores = evaluate(memory, labelled, k=5)
    assert scores.recall_at_k >= 0.9, scores.misses
    assert scores.mrr >= 0.75
    assert scores.by_kind["exact"] == 1.0, scores.misses  # every IP, CVE id, error string, name
