"""A search among near-misses: an identifier the query names is a constraint, and near-identical chunks
are one answer. Real model, both store paths (Qdrant Edge and qdrant-client local mode)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from memory_worker.config import MemorySettings
from memory_worker.memory import Memory, NewMemory, Ranking, ranking_of
from memory_worker.records import SEARCHABLE_KBS, SearchQuery
from memory_worker.sparse import encode_query, held, identifiers

CVE = "CVE-2024-3094 is the xz-utils backdoor in liblzma; every host was pinned to xz 5.4.6 after the advisory."
HOST = "The primary database host db-prod-03 lives at 10.0.3.17 and accepts PostgreSQL connections on port 5432."
OTHER = "To restore a PostgreSQL backup, run pg_restore into a fresh database and check the row counts."


def twins(text: str, swaps: list[tuple[str, str]]) -> list[NewMemory]:
    return [NewMemory(text.replace(a, b), "ops", "domain", f"twin-{i}") for i, (a, b) in enumerate(swaps)]


def cve_twins(n: int) -> list[NewMemory]:
    rng = random.Random(3)
    swaps = {f"CVE-20{rng.randint(10, 99)}-{rng.choice(['3094', '3049', '3904', '0394'])}" for _ in range(4 * n)}
    swaps.discard("CVE-2024-3094")
    return twins(CVE, [("CVE-2024-3094", s) for s in sorted(swaps)[:n]])


def host_twins(n: int) -> list[NewMemory]:
    return twins(
        HOST, [("db-prod-03 lives at 10.0.3.17", f"db-prod-{i + 10} lives at 10.0.3.{i + 20}") for i in range(n)]
    )


def sources(memory: Memory, query: str, k: int = 5) -> list[str]:
    return [h.record.source or "" for h in memory.search(query, "ops", k=k)]


STAGING = (
    "The staging database db-stage-01 answers at 10.0.3.71; it is rebuilt from the nightly snapshot every morning."
)
CACHE = "What is at address 10.0.{a}.{b}? The build cache server, rack {a}, reachable at 10.0.{a}.{b} from the lab."


def test_an_exact_identifier_ranks_the_document_naming_it_first(memory: Memory) -> None:
    # Another document's twins share the query's words and most of its address: by fusion alone
    # they fill the top 5 and the one document at 10.0.3.71 is not in it.
    cache = [
        NewMemory(CACHE.format(a=a, b=b), "ops", "domain", f"cache-{a}-{b}")
        for a in (3, 13, 30)
        for b in (1, 7, 11, 17, 31, 37, 70, 71)
        if (a, b) != (3, 71)
    ]
    memory.add([NewMemory(STAGING, "ops", "body", "original"), *cache])
    assert sources(memory, "what is at 10.0.3.71")[0] == "original"
    memory.ranking = replace(memory.ranking, identifier_first=False)
    assert "original" not in sources(memory, "what is at 10.0.3.71")[:1]


def test_an_exact_cve_id_ranks_its_document_first(memory: Memory) -> None:
    memory.add([NewMemory(CVE, "ops", "domain", "original"), NewMemory(OTHER, "ops", "mind", "other"), *cve_twins(40)])
    assert sources(memory, "CVE-2024-3094")[0] == "original"
    assert sources(memory, "what is CVE-2024-3094 and are we exposed")[0] == "original"


def test_the_original_stays_and_its_twins_collapse_when_the_query_names_its_host(memory: Memory) -> None:
    memory.add([NewMemory(HOST, "ops", "body", "original"), NewMemory(OTHER, "ops", "mind", "other"), *host_twins(30)])
    found = sources(memory, "where does db-prod-03 live")
    assert found[0] == "original"
    # The twins are the original's near-duplicates: the rest of the top 5 is something else.
    assert "other" in found and not [s for s in found if s.startswith("twin-")]


def test_near_duplicates_are_one_answer(memory: Memory) -> None:
    memory.add([NewMemory(OTHER, "ops", "mind", "other"), *host_twins(30)])
    query = "which host accepts PostgreSQL connections"
    found = sources(memory, query)
    assert len([s for s in found if s.startswith("twin-")]) == 1 and "other" in found
    memory.ranking = replace(memory.ranking, collapse_cosine=None)
    assert len([s for s in sources(memory, query) if s.startswith("twin-")]) >= 4


def test_chunks_of_one_document_are_never_collapsed(memory: Memory) -> None:
    rows = [
        NewMemory(
            f"| host | rack | owner |\n| db-{i:02d} | r{i:02d} | data team |", "ops", "body", "hosts.xlsx", {"chunk": i}
        )
        for i in range(8)
    ]
    memory.add(rows)
    # The rows are within cosine 0.94-0.95 of each other: as two documents they would be one answer.
    memory.ranking = replace(memory.ranking, collapse_cosine=0.85)
    found = memory.search("which rack is the data team's host in", "ops", k=5)
    assert len(found) == 5 and {h.record.source for h in found} == {"hosts.xlsx"}


def test_the_order_survives_a_sort_by_score(memory: Memory) -> None:
    memory.add([NewMemory(CVE, "ops", "domain", "original"), NewMemory(OTHER, "ops", "mind", "other"), *cve_twins(40)])
    hits = memory.search("CVE-2024-3094 backdoor", "ops", k=10)
    assert [h.record.id for h in sorted(hits, key=lambda h: -h.score)] == [h.record.id for h in hits]
    assert all(h.score > 0 for h in hits)


def test_off_means_the_stores_fused_order(memory: Memory) -> None:
    memory.add([NewMemory(OTHER, "ops", "mind", "other"), *host_twins(30)])
    query = "which host accepts PostgreSQL connections"
    memory.ranking = Ranking(identifier_first=False, collapse_cosine=None)
    plain = memory.search(query, "ops", k=5)
    fused = memory.store.search(replace(_request(memory, query), limit=5))
    # Near-identical rows tie on their fused score, and the store orders ties as it likes: the same
    # scores in the same order, and the same rows above the last score.
    assert [h.score for h in plain] == pytest.approx([h.score for h in fused]), (
        "with both rules off, Memory.search is the store's own hybrid search"
    )
    cut = fused[-1].score
    assert {h.record.id for h in plain if h.score > cut} == {h.record.id for h in fused if h.score > cut}


def _request(memory: Memory, query: str) -> SearchQuery:
    return SearchQuery(memory.embedder.embed([query])[0], encode_query(query), "ops", SEARCHABLE_KBS, 5)


def test_candidates_carry_the_stored_dense_vectors(memory: Memory) -> None:
    memory.add([NewMemory(CVE, "ops", "domain", "original"), *cve_twins(10)])
    found = memory.store.candidates(_request(memory, "xz backdoor"), 50, 50)
    assert len(found) == 11
    by_source = {c.hit().record.source: c.dense for c in found}
    expected = memory.embedder.embed([CVE])[0]
    assert np.allclose(
        by_source["original"] / np.linalg.norm(by_source["original"]), expected / np.linalg.norm(expected), atol=1e-5
    )


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("what is at 10.0.3.71", {"10.0.3.71"}),
        ("CVE-2024-3094 and db-prod-03", {"cve-2024-3094", "db-prod-03"}),
        ("exit code 137", {"137"}),
        ("top 5 reasons the site is slow", set()),
        ("run pg_restore", {"pg_restore"}),
    ],
)
def test_identifiers_of_a_query(query: str, wanted: set[str]) -> None:
    assert identifiers(query) == wanted


def test_an_identifier_is_held_as_a_whole_term() -> None:
    assert held("the host at 10.0.3.71.", identifiers("10.0.3.71")) == 1
    assert held("the host at 10.0.3.71", identifiers("10.0.3.7")) == 0
    assert held("db-prod-03 at 10.0.3.17", identifiers("db-prod-03 10.0.3.71")) == 1


def test_settings_turn_each_rule_off() -> None:
    assert ranking_of(MemorySettings()) == Ranking(
        identifier_first=True, collapse_cosine=0.9, candidates=200, prefetch=200
    )
    off = ranking_of(MemorySettings(PAGI_MEMORY_IDENTIFIER_FIRST="false", PAGI_MEMORY_COLLAPSE_COSINE="0"))
    assert not off.active
