"""Memory benchmark: ingest rate, filtered top-5 search latency against a numpy floor, recall@5.

    python -m bench.memory [--target 20000] [--others 4x5000] [--queries 300] [--compare-local 30]
    python -m bench.memory --near-misses [5000] [--seed 20] [--repeat 3]

20,000 memories in one namespace among others in the embedded store (the worker's default),
filtered top-5 hybrid search through the store call, and in the same run a raw numpy
brute-force dense search over the same namespace's vectors: the floor. Ingest is measured
through ``Memory.add`` (dedupe check, embedding, sparse encoding, upsert). Goals on 2 cores:
search p50 <= 5 ms and p99 <= 20 ms, ingest >= 1,000 chunks/s, recall@5 >= 0.9.

``--near-misses`` runs only the near-miss mode ("Retrieval among near-misses" in bench/README.md):
the labelled set alone, then the same store with thousands of seeded near-miss documents (each a
labelled document with its hosts, addresses, CVE ids and error strings changed) mixed into its
namespace; recall@5 and MRR of the labelled queries both times (goal: >= 0.95 and >= 0.85), and
Memory.search p50/p99 among the near-misses.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from memory_worker.config import MemorySettings
from memory_worker.embedding import Embedder, load_embedder
from memory_worker.evaluation import (
    EVAL_NAMESPACE,
    LabelledQuery,
    RetrievalSet,
    Scores,
    evaluate,
    load_into,
    load_set,
)
from memory_worker.events_index import DENSE_DIM, EVENTS_FUSION, EventIndex, IndexedEvent
from memory_worker.ingest import batches
from memory_worker.memory import Memory, NewMemory, ranking_of
from memory_worker.records import KB_NAMES, SEARCHABLE_KBS, SearchQuery
from memory_worker.sparse import encode_query
from memory_worker.store import Fusion, MemoryStore
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


# Near-misses: a labelled document with every identifier in it changed (a digit moved or redrawn:
# 10.0.3.17 -> 10.0.3.71, db-prod-03 -> db-prod-30; an error name swapped for a real sibling), the
# phrasing kept. No changed identifier is one the labelled set uses anywhere, so a query naming an
# identifier keeps exactly the answers it is labelled with.
_IDENT = re.compile(r"[A-Za-z0-9]+(?:[.\-:/][A-Za-z0-9]+)*")
_DIGITS = re.compile(r"\d+")
# Numbers, not identifiers: 99.95, 04:00, 14th, 2Gi, 300s.
_NOT_IDENT = re.compile(r"\d+(?:\.\d+)?|\d{1,2}:\d\d|\d+(?:st|nd|rd|th|gi|mi|gb|mb|s|ms|h|km)", re.IGNORECASE)
# A plain number after these words is an error or port number.
_NUMBER_AFTER = re.compile(r"(?:code|http|port|udp|tcp)\s+$", re.IGNORECASE)
_SIBLINGS: dict[str, tuple[str, ...]] = {
    "ECONNREFUSED": ("ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"),
    "ECONNRESET": ("EPIPE", "ECONNABORTED", "ETIMEDOUT", "ENOTCONN"),
    "OOMKilled": ("Evicted", "CrashLoopBackOff", "ContainerCannotRun"),
    "segmentation fault": ("bus error", "illegal instruction", "floating point exception"),
    "signed by unknown authority": ("has expired or is not yet valid", "is not valid for any names"),
    "non-replication superuser connections": ("roles with the SUPERUSER attribute", "replication connections"),
    "psycopg2": ("psycopg", "asyncpg", "pymysql", "mysqlclient"),
    "Too Many Requests": ("Service Unavailable", "Request Timeout"),
    "Bad Gateway": ("Gateway Timeout", "Service Unavailable"),
    "northwind": ("northwood", "southwind", "eastwind", "northwell"),
    "Log4Shell": ("Spring4Shell", "Text4Shell"),
}


@dataclass(frozen=True, slots=True)
class NearMiss:
    memory: NewMemory
    of: str  # the labelled document it was made from
    changed: frozenset[str]  # that document's identifiers it changed, lower case


def _other_digits(run: str, cap: int, rng: random.Random) -> str | None:
    """Another number of the same width: two neighbouring digits swapped, or one redrawn."""
    for _ in range(20):
        digits = list(run)
        if len(run) > 1 and rng.random() < 0.5:
            i = rng.randrange(len(run) - 1)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
        else:
            digits[rng.randrange(len(run))] = rng.choice("0123456789")
        out = "".join(digits)
        if out != run and int(out) <= cap and (out[0] != "0" or run[0] == "0" or len(out) == 1):
            return out
    return None


def _cap(token: str, m: re.Match[str]) -> int:
    # IPv4 octets stay <= 255 (a port after them does not).
    if re.fullmatch(r"\d+(?:\.\d+){3}(?::\d+)?", token) and ":" not in token[: m.start()]:
        return 255
    return int("9" * len(m.group(0)))


def _other_ident(token: str, reserved: set[str], rng: random.Random) -> str | None:
    runs = list(_DIGITS.finditer(token))
    for _ in range(50):
        # Mostly the last number changes (a host's index, a CVE's serial, the last octet).
        picks = [runs[-1]] if rng.random() < 0.7 else rng.sample(runs, rng.randint(1, len(runs)))
        out = token
        for m in sorted(picks, key=lambda m: -m.start()):
            digits = _other_digits(m.group(0), _cap(token, m), rng)
            if digits is not None:
                out = out[: m.start()] + digits + out[m.end() :]
        if out != token and out.lower() not in reserved:
            return out
    return None


def _is_ident(text: str, m: re.Match[str]) -> bool:
    token = m.group(0)
    if not any(c.isdigit() for c in token):
        return False
    if not _NOT_IDENT.fullmatch(token):
        return True
    return token.isdigit() and _NUMBER_AFTER.search(text[: m.start()]) is not None


def identifiers(text: str) -> list[str]:
    """What a near-miss changes: hosts, addresses, CVE ids, versions, error and port numbers, and
    error names with a known sibling."""
    found = [m.group(0) for m in _IDENT.finditer(text) if _is_ident(text, m)]
    return found + [name for name in _SIBLINGS if name in text]


def near_miss(text: str, reserved: set[str], rng: random.Random) -> tuple[str, frozenset[str]] | None:
    """``text`` with each of its identifiers changed (the same way wherever it occurs), and which;
    None when one of them has no free variant."""
    changed: dict[str, str] = {}
    for m in _IDENT.finditer(text):
        token = m.group(0)
        if token not in changed and _is_ident(text, m):
            other = _other_ident(token, reserved, rng)
            if other is None:
                return None
            changed[token] = other
    out = _IDENT.sub(lambda m: changed.get(m.group(0), m.group(0)) if _is_ident(text, m) else m.group(0), text)
    names = [name for name in _SIBLINGS if name in text]
    for name in names:
        out = out.replace(name, rng.choice(_SIBLINGS[name]))
    return out, frozenset(t.lower() for t in [*changed, *names])


def near_misses(labelled: RetrievalSet, n: int, seed: int) -> list[NearMiss]:
    """``n`` distinct near-misses, round robin over the labelled documents that have identifiers."""
    rng = random.Random(seed)
    corpus = [d.text for d in labelled.documents.values()] + [q.text for q in labelled.queries]
    reserved = {m.group(0).lower() for text in corpus for m in _IDENT.finditer(text)}
    templates = [(doc_id, d) for doc_id, d in labelled.documents.items() if identifiers(d.text)]
    seen = {d.text for d in labelled.documents.values()}
    out: list[NearMiss] = []
    for tries in range(50 * n):
        if len(out) == n:
            return out
        doc_id, doc = templates[tries % len(templates)]
        made = near_miss(doc.text, reserved, rng)
        if made is None or made[0] in seen:
            continue
        seen.add(made[0])
        source = f"near-miss/{doc_id}/{len(out)}"
        out.append(NearMiss(NewMemory(made[0], doc.namespace, doc.kb, source), doc_id, made[1]))
    raise RuntimeError(f"only {len(out)} distinct near-misses after {50 * n} tries")


def twin_aware(labelled: RetrievalSet, extra: Sequence[NearMiss]) -> RetrievalSet:
    """The labels with a near-miss also counted as relevant where the query names none of the
    identifiers it changed: such a query cannot tell the document from its twin, nor can anyone."""
    queries = []
    for q in labelled.queries:
        text = q.text.lower()
        twins = {x.memory.source or "" for x in extra if x.of in q.relevant and not any(i in text for i in x.changed)}
        queries.append(LabelledQuery(q.text, q.relevant | twins, q.kind))
    return RetrievalSet(labelled.documents, queries)


def ranked(memory: Memory, labelled: RetrievalSet, depth: int) -> dict[str, list[str]]:
    """Each labelled query's top ``depth`` sources, for the failure report."""
    return {
        q.text: [h.record.source or "" for h in memory.search(q.text, EVAL_NAMESPACE, KB_NAMES, depth)]
        for q in labelled.queries
    }


def rank_of(sources: list[str], relevant: frozenset[str]) -> int | None:
    return next((i + 1 for i, s in enumerate(sources) if s in relevant), None)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True, slots=True)
class NearMissRun:
    clean: Scores
    mixed: Scores  # twin-aware labels
    strict: Scores  # every twin counted as wrong
    clean_ranks: dict[str, list[str]]
    mixed_ranks: dict[str, list[str]]
    rate: float
    search_ms: list[float]  # Memory.search of each labelled query (k=5) in the mixed store


def measure(
    memory: Memory, labelled: RetrievalSet, extra: Sequence[NearMiss], twins: RetrievalSet, depth: int
) -> NearMissRun:
    """The labelled set alone, then with the near-misses added to its namespace, in one store."""
    load_into(memory, labelled)
    clean = evaluate(memory, labelled, k=5)
    clean_ranks = ranked(memory, labelled, depth)
    rate = ingest(memory, [x.memory for x in extra])
    strict = evaluate(memory, labelled, k=5)
    mixed = evaluate(memory, twins, k=5)
    mixed_ranks = ranked(memory, labelled, depth)
    search_ms: list[float] = []
    for q in labelled.queries:
        search_ms += timed(functools.partial(memory.search, q.text, EVAL_NAMESPACE, KB_NAMES, 5), 5)
    return NearMissRun(clean, mixed, strict, clean_ranks, mixed_ranks, rate, search_ms)


def near_miss_main(count: int, seed: int, repeat: int, depth: int = 20) -> None:
    settings = MemorySettings()
    fusion = Fusion(settings.rrf_k, settings.dense_weight, settings.keyword_weight, settings.namespace_idf)
    ranking = ranking_of(settings)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average (1/5/15 min) at start: {loadavg()}")
    embedder = load_embedder(settings.embedding_model)
    print(f"embedding model: {embedder.name} ({embedder.dim}-d); {fusion}; {ranking}")
    labelled = load_set()
    extra = near_misses(labelled, count, seed)
    print(
        f"labelled set: {len(labelled.documents)} documents, {len(labelled.queries)} queries; "
        f"{len(extra):,} near-misses (seed {seed}) from the {len({x.of for x in extra})} documents with identifiers"
    )
    for x in extra[:4]:
        print(f"  {x.of}: {labelled.documents[x.of].text[:100]}\n   -> {x.memory.text[:100]}")
    twins = twin_aware(labelled, extra)
    runs: list[NearMissRun] = []
    for i in range(repeat):
        # A fresh store each time: tied scores among twins do not come back in the same order.
        with tempfile.TemporaryDirectory(prefix="pagi-bench-near-miss-") as tmp:
            memory = Memory(EdgeStore(Path(tmp) / "store", embedder.dim, fusion=fusion), embedder, ranking)
            run = measure(memory, labelled, extra, twins, depth)
            memory.close()
        runs.append(run)
        print(
            f"run {i + 1}: clean recall@5 {run.clean.recall_at_k:.3f} MRR {run.clean.mrr:.3f}; near-miss "
            f"{run.mixed.recall_at_k:.3f} / {run.mixed.mrr:.3f} (strict {run.strict.recall_at_k:.3f} / "
            f"{run.strict.mrr:.3f}); near-misses stored at {run.rate:,.0f} chunks/s"
        )
    print(f"load average (1/5/15 min) at end: {loadavg()}")
    print()
    print(f"mean of {repeat} run(s):")
    clean, mixed, strict = (mean_scores([getattr(r, f) for r in runs]) for f in ("clean", "mixed", "strict"))
    print(score_table([("clean (labelled set only)", clean), (f"+ {len(extra):,} near-misses", mixed)]))
    print(f"strict labels (every twin counts as wrong): recall@5 {strict.recall_at_k:.3f}, MRR {strict.mrr:.3f}")
    latencies = [t for r in runs for t in r.search_ms]
    print(f"Memory.search end to end among near-misses (k=5, {len(latencies)} calls): {ms(latencies)}")
    hit = mixed.recall_at_k >= 0.95 and mixed.mrr >= 0.85
    print(f"goal recall@5 >= 0.95 and MRR >= 0.85 among near-misses: {'hit' if hit else 'missed'}")
    print()
    texts = {x.memory.source: x.memory.text for x in extra} | {i: d.text for i, d in labelled.documents.items()}
    print(f"queries whose first relevant document moved (twin-aware labels; ranks in the top {depth}, each run):")
    for q, qt in zip(labelled.queries, twins.queries, strict=True):
        before = [rank_of(r.clean_ranks[q.text], q.relevant) for r in runs]
        after = [rank_of(r.mixed_ranks[q.text], qt.relevant) for r in runs]
        if before == after:
            continue
        shown = ", ".join(f"{b or '-'} -> {a or f'>{depth}'}" for b, a in zip(before, after, strict=True))
        print(f"  [{q.kind}] {q.text!r} -> {sorted(q.relevant)}: rank {shown}")
        last = runs[-1].mixed_ranks[q.text]
        cut = after[-1] - 1 if after[-1] else depth
        for source in [s for s in last[:cut] if s not in qt.relevant][:3]:
            print(f"      below {source}: {texts.get(source, '?')[:110]}")


def mean_scores(runs: Sequence[Scores]) -> Scores:
    n = len(runs)
    return Scores(
        recall_at_k=sum(s.recall_at_k for s in runs) / n,
        mrr=sum(s.mrr for s in runs) / n,
        by_kind={k: sum(s.by_kind[k] for s in runs) / n for k in runs[0].by_kind},
        misses=sorted({m for s in runs for m in s.misses}),
        k=runs[0].k,
    )


def score_table(runs: Sequence[tuple[str, Scores]]) -> str:
    kinds = sorted(runs[0][1].by_kind)
    rows = [
        "| store | recall@5 | MRR | " + " | ".join(f"recall@5 {k}" for k in kinds) + " |",
        "|" + "---|" * (3 + len(kinds)),
    ]
    for name, s in runs:
        figures = [s.recall_at_k, s.mrr, *(s.by_kind[k] for k in kinds)]
        rows.append(f"| {name} | " + " | ".join(f"{f:.3f}" for f in figures) + " |")
    (_, a), (_, b) = runs[0], runs[-1]
    ratios = [b.recall_at_k / a.recall_at_k, b.mrr / a.mrr, *(b.by_kind[k] / (a.by_kind[k] or 1) for k in kinds)]
    rows.append("| ratio near-miss / clean | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")
    return "\n".join(rows)


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
    parser.add_argument(
        "--near-misses",
        type=int,
        nargs="?",
        const=5000,
        default=0,
        metavar="N",
        help="run only the near-miss retrieval mode with N near-miss documents (default 5000)",
    )
    parser.add_argument("--seed", type=int, default=20, help="near-miss generator seed")
    parser.add_argument("--repeat", type=int, default=3, help="near-miss runs, each on a fresh store")
    args = parser.parse_args()
    if args.near_misses:
        near_miss_main(args.near_misses, args.seed, args.repeat)
        return
    n_other, other_size = (int(x) for x in args.others.split("x"))
    rng = random.Random(7)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    embedder = load_embedder(os.environ.get("PAGI_EMBEDDING_MODEL", "builtin"))
    print(f"embedding model: {embedder.name} ({embedder.dim}-d)")
    target = synthetic_chunks(args.target, TARGET_NS, rng)
    others = [synthetic_chunks(other_size, f"bench-other-{j}", rng) for j in range(n_other)]

    with tempfile.TemporaryDirectory(prefix="pagi-bench-memory-") as tmp:
        memory = Memory(EdgeStore(Path(tmp) / "store", embedder.dim), embedder, ranking_of(MemorySettings()))
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
