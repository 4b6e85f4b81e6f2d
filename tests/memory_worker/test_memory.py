"""The memory against both real stores (embedded Qdrant Edge, qdrant-client) and the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_worker.embedding import Embedder
from memory_worker.errors import InvalidRequest, UnknownNamespace
from memory_worker.memory import MAX_QUERY_CHARS, Memory, NewMemory
from memory_worker.records import SearchQuery
from memory_worker.sparse import encode_query
from memory_worker.store import Fusion

from .conftest import make_store

FACTS = [
    NewMemory("The primary database db-prod-03 lives at 10.0.3.17 on port 5432.", "ops", "body", "hosts.md"),
    NewMemory("The staging database db-stage-01 answers at 10.0.3.71.", "ops", "body", "hosts.md"),
    NewMemory("CVE-2024-3094 is the xz-utils backdoor; we pinned xz 5.4.6.", "ops", "domain", "cves.md"),
    NewMemory("To restore a PostgreSQL backup run pg_restore into a fresh database.", "ops", "mind", "runbook.md"),
    NewMemory("The twin speaks plainly and never invents facts.", "ops", "soul", "persona.md"),
    NewMemory("The user's favourite colour is teal.", "personal", "heart", None),
]


@pytest.fixture
def filled(memory: Memory) -> Memory:
    memory.add(FACTS)
    return memory


def test_add_is_idempotent_by_content(memory: Memory) -> None:
    first = memory.add(FACTS)
    assert all(a.created for a in first)
    again = memory.add([*FACTS, NewMemory("  The user's favourite   colour is teal. ", "personal", "heart")])
    assert not any(a.created for a in again)
    assert [a.id for a in again[: len(FACTS)]] == [a.id for a in first]
    assert again[-1].id == first[-1].id  # whitespace differences are the same content
    assert memory.store.count() == len(FACTS)


def test_same_text_in_two_namespaces_is_two_memories(memory: Memory) -> None:
    a = memory.add([NewMemory("shared fact", "one", "mind")])[0]
    b = memory.add([NewMemory("shared fact", "two", "mind")])[0]
    assert a.id != b.id and a.created and b.created


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("10.0.3.17", "db-prod-03"),
        ("10.0.3.71", "db-stage-01"),
        ("CVE-2024-3094", "xz-utils"),
        ("how do I get data back from a database dump", "pg_restore"),
    ],
)
def test_hybrid_search_finds_identifiers_and_meaning(filled: Memory, query: str, expected: str) -> None:
    hits = filled.search(query, "ops", k=3)
    assert expected in hits[0].record.text
    assert hits[0].score >= hits[-1].score


def test_search_stays_in_its_namespace_and_kbs(filled: Memory) -> None:
    hits = filled.search("favourite colour", "ops", k=10)
    assert hits and all(h.record.namespace == "ops" for h in hits)
    assert all(h.record.kb != "soul" for h in hits)  # Soul feeds the prompt, not default search
    only_body = filled.search("database", "ops", kbs=["body"], k=10)
    assert {h.record.kb for h in only_body} == {"body"}
    soul = filled.search("how does the twin speak", "ops", kbs=["soul"], k=1)
    assert soul[0].record.source == "persona.md"
    personal = filled.search("favourite colour", "personal", k=5)
    assert [h.record.text for h in personal] == ["The user's favourite colour is teal."]


def test_hit_carries_what_the_api_returns(filled: Memory) -> None:
    hit = filled.search("CVE-2024-3094", "ops", k=1)[0]
    assert (hit.record.kb, hit.record.namespace, hit.record.source) == ("domain", "ops", "cves.md")
    assert hit.record.id and hit.score > 0


def test_get_delete_and_stats(filled: Memory) -> None:
    hit = filled.search("10.0.3.17", "ops", k=1)[0]
    assert filled.get(hit.record.id) == hit.record
    assert filled.namespaces() == {"ops": {"body": 2, "domain": 1, "mind": 1, "soul": 1}, "personal": {"heart": 1}}
    assert filled.delete(hit.record.id) is True
    assert filled.get(hit.record.id) is None
    assert filled.delete(hit.record.id) is False
    assert filled.namespaces()["ops"]["body"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "   "}, "empty"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "limit"),
        ({"query": "db", "namespace": "bad name!"}, "invalid namespace"),
        ({"query": "db", "kbs": ["spleen"]}, "unknown knowledge base"),
        ({"query": "db", "k": 0}, "k must be"),
    ],
)
def test_bad_queries_are_clear_errors(filled: Memory, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"namespace": "ops", **kwargs}
    with pytest.raises(InvalidRequest, match=message):
        filled.search(**args)  # type: ignore[arg-type]


def test_unknown_namespace_names_the_known_ones(filled: Memory) -> None:
    with pytest.raises(UnknownNamespace, match=r"'nope'.*ops, personal"):
        filled.search("anything", "nope")


def test_default_and_user_namespaces_are_empty_before_anything_is_saved(memory: Memory) -> None:
    # A fresh store: `default` and a user's own namespace answer nothing, not "unknown namespace".
    assert memory.search("SSH", "default") == []
    assert memory.search("SSH", "user-dora") == []
    with pytest.raises(UnknownNamespace, match="'nope'"):
        memory.search("SSH", "nope")


def test_bad_memories_are_refused(memory: Memory) -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        memory.add([NewMemory("  ")])
    with pytest.raises(InvalidRequest, match="unknown knowledge base"):
        memory.add([NewMemory("x", kb="liver")])


@pytest.mark.parametrize("kind", ["edge", "qdrant-client"])
def test_keyword_ranking_in_one_namespace_ignores_the_others(kind: str, tmp_path: Path, embedder: Embedder) -> None:
    def keyword_scores(namespace_idf: bool) -> dict[str, float]:
        store = make_store(kind, tmp_path / str(namespace_idf), embedder.dim, Fusion(namespace_idf=namespace_idf))
        memory = Memory(store, embedder)
        memory.add([NewMemory("zeta report", "a", "mind"), NewMemory("omega report", "a", "mind")])
        memory.add([NewMemory(f"zeta note {i}", "b", "mind") for i in range(30)])  # zeta is common in b only
        query = SearchQuery(embedder.embed(["zeta omega"])[0], encode_query("zeta omega"), "a", ("mind",), 5, True)
        scores = {h.record.text: h.score for h in store.search(query)}
        memory.close()
        return scores

    isolated = keyword_scores(True)
    assert isolated["zeta report"] == pytest.approx(isolated["omega report"])
    shared = keyword_scores(False)
    assert shared["omega report"] > shared["zeta report"] * 1.5


def test_list_in_reading_order(memory: Memory) -> None:
    memory.add(
        [
            NewMemory("second part", "twin", "soul", "persona.md", {"chunk": 1}),
            NewMemory("first part", "twin", "soul", "persona.md", {"chunk": 0}),
            NewMemory("other file", "twin", "soul", "about.md", {"chunk": 0}),
            NewMemory("not soul", "twin", "mind", "x.md"),
        ]
    )
    assert [r.text for r in memory.list("twin", "soul")] == ["other file", "first part", "second part"]
    assert len(memory.list("twin")) == 4
    assert len(memory.list("twin", limit=2)) == 2
    with pytest.raises(InvalidRequest, match="limit"):
        memory.list("twin", limit=0)
