"""Memory benchmark: ingest rate, filtered top-5 search latency against a numpy floor, recall@5.

    python -m bench.memory [--target 20000] [--others 4x5000] [--queries 300] [--compare-local 30]

20,000 memories in one namespace among others in the embedded store (the worker's default),
filtered top-5 hybrid search through the store call, and in the same run a raw numpy
brute-force dense search over the same namespace's vectors: the floor. Ingest is measured
through ``Memory.add`` (dedupe check, embedding, sparse encoding, upsert). Goals on 2 cores:
search p50 <= 5 ms and p99 <= 20 ms, ingest >= 1,000 chunks/s, recall@5 >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from memory_worker.embedding import Embedder, load_embedder
from memory_worker.evaluation import evaluate, load_into, load_set
from memory_worker.events_index import DENSE_DIM, EVENTS_FUSION, EventIndex, IndexedEvent
from memory_worker.ingest import batches
from memory_worker.memory import Memory, NewMemory
from memory_worker.records import SEARCHABLE_KBS, SearchQuery
from memory_worker.sparse import encode_query
from memory_worker.store import MemoryStore
from memory_worker.store_edge import EdgeStore
from memory_worker.store_qdrant import QdrantStore

TARGET_NS = "bench-target"
KBS = ("domain", "body", "mind", "heart")

_WORDS = (
    "database backup restore replica failover latency timeout queue consumer deploy rollback certificate "
    "renewal cluster node drain memory limit container image registry firewall port gateway proxy cache "
    "index migration schema lock snapshot volume disk quota alert pager incident review owner team budget "
    "invoice refund customer contract region storage bucket policy token secret rotation audit access role"
).split()


def synthetic_chunks(n: int, namespace: str, rng: random.Random) -> list[NewMemory]:
    """Distinct, realistic-length chunks with identifiers in them (hosts, IPs, error codes)."""
    out = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(30, 60)))
        ident = f"host-{i % 997:03d}.{namespace} at 10.{i % 251}.{(i // 251) % 251}.{i % 13} error E{i:05d}"
        out.append(NewMemory(f"{ident}: {words}.", namespace, KBS[i % len(KBS)], f"bench/{namespace}/{i}"))
    return out


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def ms(samples: Sequence[float]) -> str:
    return f"p50 {statistics.median(samples):7.3f} ms   p99 {percentile(samples, 0.99):7.3f} ms"


def ingest(memory: Memory, items: list[NewMemory]) -> float:
    start = time.perf_counter()
    for batch in batches(items):
        memory.add(batch)
    return len(items) / (time.perf_counter() - start)


def search_latencies(
    store: MemoryStore, embedder: Embedder, queries: list[str], matrix: np.ndarray
) -> tuple[list[float], list[float]]:
    dense = embedder.embed(queries)
    store_ms: list[float] = []
    numpy_ms: list[float] = []
    for i, text in enumerate(queries):
        q = SearchQuery(dense[i], encode_query(text), TARGET_NS, SEARCHABLE_KBS, 5)
        store.search(q)  # first call per query pays no extra: warm caches for both paths alike
        start = time.perf_counter()
        hits = store.search(q)
        store_ms.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        scores = matrix @ dense[i]
        top = np.argpartition(-scores, 5)[:5]
        top = top[np.argsort(-scores[top])]
        numpy_ms.append((time.perf_counter() - start) * 1e3)
        assert hits, f"no hit for {text!r}"
    return store_ms, numpy_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=int, default=20_000, help="memories in the searched namespace")
    parser.add_argument("--others", default="4x5000", help="other namespaces: COUNTxSIZE")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--compare-local",
        type=int,
        default=0,
        metavar="N",
        help="also time N searches on qdrant-client local mode over the same data",
    )
    args = parser.parse_args()
    n_other, other_size = (int(x) for x in args.others.split("x"))
    rng = random.Random(7)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    embedder = load_embedder(os.environ.get("PAGI_EMBEDDING_MODEL", "builtin"))
    print(f"embedding model: {embedder.name} ({embedder.dim}-d)")
    target = synthetic_chunks(args.target, TARGET_NS, rng)
    others = [synthetic_chunks(other_size, f"bench-other-{j}", rng) for j in range(n_other)]

    with tempfile.TemporaryDirectory(prefix="pagi-bench-memory-") as tmp:
        memory = Memory(EdgeStore(Path(tmp) / "store", embedder.dim), embedder)
        rate_target = ingest(memory, target)
        rate_others = [ingest(memory, chunk) for chunk in others]
        total = args.target + n_other * other_size
        print(
            f"stored: {memory.store.count()} points, {memory.store.count(TARGET_NS)} in {TARGET_NS}, "
            f"{n_other} other namespaces of {other_size}"
        )
        print(
            f"ingest (dedupe check + embed + sparse + upsert): {rate_target:,.0f} chunks/s "
            f"(target namespace), {statistics.mean(rate_others):,.0f} chunks/s (others); total {total:,}"
        )
        start = time.perf_counter()
        again = sum(a.created for b in batches(target) for a in memory.add(b))
        print(
            f"re-ingest of {args.target:,} unchanged chunks: {again} new, "
            f"{args.target / (time.perf_counter() - start):,.0f} chunks/s"
        )

        matrix = embedder.embed([m.text for m in target])
        picks = rng.sample(target, args.queries)
        queries = [" ".join(m.text.split()[rng.randint(5, 12) : rng.randint(14, 22)]) for m in picks[::2]]
        queries += [m.text.split(":")[0].split(" at ")[1] for m in picks[1::2]]  # exact IPs
        store_ms, numpy_ms = search_latencies(memory.store, embedder, queries, matrix)
        p50_store, p50_numpy = statistics.median(store_ms), statistics.median(numpy_ms)
        print(f"filtered top-5 hybrid search, store call ({len(queries)} queries): {ms(store_ms)}")
        print(f"numpy brute-force dense top-5 over the same {args.target:,} vectors: {ms(numpy_ms)}")
        print(f"ratio store/numpy at p50: {p50_store / p50_numpy:.1f}x")
        full = timed(lambda: memory.search(rng.choice(queries), TARGET_NS, k=5), 200)
        print(f"Memory.search end to end (embed query + namespace check + search): {ms(full)}")

        labelled = load_set()
        load_into(memory, labelled)
        scores = evaluate(memory, labelled, k=5)
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in scores.by_kind.items())
        print(
            f"labelled set: recall@5 {scores.recall_at_k:.3f}, MRR {scores.mrr:.3f} ({kinds}), "
            f"{len(labelled.queries)} queries"
        )

        events = EventIndex(EdgeStore(Path(tmp) / "events", DENSE_DIM, fusion=EVENTS_FUSION))
        now = datetime.now(UTC)
        lines = [
            IndexedEvent(f"ev-{i}", "log" if i % 3 else "message", m.text[:160], f"s-{i % 50}", now, level="info")
            for i, m in enumerate(target)
        ]
        start = time.perf_counter()
        for chunk in range(0, len(lines), 500):
            events.add(lines[chunk : chunk + 500])
        index_rate = len(lines) / (time.perf_counter() - start)
        typed = [w[:n] for w in ("restore", "gateway", "10.42.3", "host-123", "e00123") for n in range(2, len(w) + 1)]
        keystroke_ms: list[float] = []
        for text in typed * 10:
            start = time.perf_counter()
            events.search(text)
            keystroke_ms.append((time.perf_counter() - start) * 1e3)
        print(
            f"global search: {len(lines):,} lines indexed at {index_rate:,.0f} lines/s; "
            f"search per keystroke ({len(keystroke_ms)}): {ms(keystroke_ms)}"
        )
        events.close()
        if args.compare_local:
            local = QdrantStore("bench", embedder.dim, location=":memory:")
            local_memory = Memory(local, embedder)
            rate_local = min(ingest(local_memory, chunk) for chunk in [target, *others])
            print(f"qdrant-client local mode ingest: {rate_local:,.0f} chunks/s (slowest namespace)")
            local_ms, _ = search_latencies(local, embedder, queries[: args.compare_local], matrix)
            print(f"qdrant-client local mode, same data ({args.compare_local} queries): {ms(local_ms)}")
        memory.close()


if __name__ == "__main__":
    main()
