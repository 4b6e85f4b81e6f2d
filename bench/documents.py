"""Documents benchmark: a mixed upload converted per format, then ingested through the worker's handlers.

    python -m bench.documents [--mb 10] [--seed 20]

Writes a mixed upload of about `--mb` MB with the libraries that write each format (PDF, DOCX, PPTX,
XLSX, CSV, HTML, Markdown, text; random words with hosts and IPs, so nothing compresses absurdly),
then:

1. conversion per format, in-process (`memory_worker.reader.read_document_bytes`: checks, conversion,
   chunking): MB/s, pages/s, chunks;
2. our path, on a real nats-server: each file put in `pagi_documents`, `memory.parse` (read again
   through the handler: object store, digest, conversion) and, after an approval recorded in
   `pagi_approvals`, `memory.ingest` (approval check, batches of 256 through the memory thread, a
   progress event and a job read per batch), answered on `memory.result`; chunks/s after conversion
   is the ingests' time alone (their reads are the parses' recent reads);
3. the bare baseline: the same chunk texts through `Memory.add` (dedupe check, embedding, sparse
   encoding, upsert) in batches of 256 into a fresh store, no bus. Ratio = baseline / ours.

Step 2 runs on each nats-server configuration (`--nats-config`, default both: bare, and `pagi up`'s
nats.conf, the handlers as the memory worker's own user, the bench as the operator); the baseline
uses no bus, so it is measured once per round and printed beside both.

Goal (issue 20): >= 1,000 chunks/s after conversion on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bus_schemas import Envelope
from bus_schemas.actions import ActionStoreDocument
from bus_schemas.approval import ApprovalRecord
from bus_schemas.documents import DocumentIngest, DocumentParse, DocumentRef, document_id_of
from bus_schemas.memory import MemoryResult
from bus_schemas.streams import DOCUMENTS
from bus_schemas.subjects import MEMORY_INGEST, MEMORY_PARSE, MEMORY_RESULT
from memory_worker.__main__ import routes_for
from memory_worker.embedding import load_embedder
from memory_worker.ingest import batches
from memory_worker.memory import Memory, NewMemory
from memory_worker.reader import read_document_bytes
from memory_worker.store_edge import EdgeStore
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi.service import start_routes
from records.approvals import ApprovalStore, approve, request_for

from .stack import NatsConfig, add_config_argument, chosen_configs, config_heading, running_nats

WORDS = (
    "database backup restore replica failover latency timeout queue consumer deploy rollback certificate "
    "renewal cluster node drain memory limit container image registry firewall port gateway proxy cache "
    "index migration schema lock snapshot volume disk quota alert pager incident review owner team budget"
).split()
# Share of the upload's bytes per format: PDFs and Office files dominate real uploads.
MIX = {"pdf": 0.30, "docx": 0.20, "pptx": 0.15, "xlsx": 0.06, "csv": 0.09, "html": 0.08, "md": 0.06, "txt": 0.06}
FILE_MB = {"pdf": 5.0, "docx": 2.5, "pptx": 2.5, "xlsx": 1.0, "csv": 2.0, "html": 2.0, "md": 1.5, "txt": 1.5}
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def sentence(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 24)))
    return f"host-{i % 997:03d} at 10.{i % 251}.{(i // 251) % 251}.{i % 13}: {words}."


def grow(make: Callable[[int], bytes], target: int, start: int) -> bytes:
    """`make(n)` for the n a small sample says gives about `target` bytes (writing is slow: once)."""
    sample = make(start)
    if len(sample) >= target:
        return sample
    return make(max(start, int(start * target / len(sample))))


def make_pdf(rng: random.Random, pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 4, " ".join(sentence(rng, page * 40 + k) for k in range(40)))
    return bytes(pdf.output())


def make_docx(rng: random.Random, paragraphs: int) -> bytes:
    from docx import Document

    doc = Document()
    for i in range(paragraphs):
        if i % 20 == 0:
            doc.add_heading(f"Section {i // 20}", 2)
        doc.add_paragraph(" ".join(sentence(rng, i * 5 + k) for k in range(5)))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def make_pptx(rng: random.Random, slides: int) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for i in range(slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Review {i}"
        slide.placeholders[1].text = "\n".join(sentence(rng, i * 8 + k) for k in range(8))
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(rng: random.Random, rows: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["host", "address", "status", "note"])
    for i in range(rows):
        sheet.append([f"host-{i:05d}", f"10.{i % 251}.{i // 251 % 251}.{i % 13}", rng.choice(WORDS), sentence(rng, i)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_text(rng: random.Random, fmt: str, lines: int) -> bytes:
    if fmt == "csv":
        ips = (f"10.{i % 251}.{i // 251 % 251}.{i % 13}" for i in range(lines))
        rows = (f"host-{i:05d},{ip},{rng.choice(WORDS)},{sentence(rng, i)}" for i, ip in enumerate(ips))
        return ("host,address,status,note\n" + "\n".join(rows)).encode()
    if fmt == "html":
        body = "".join(
            (f"<h2>Part {i // 10}</h2>" if i % 10 == 0 else "") + f"<p>{sentence(rng, i)} {sentence(rng, i + 1)}</p>"
            for i in range(lines)
        )
        return f"<html><head><title>Ops</title><style>p{{}}</style></head><body>{body}</body></html>".encode()
    if fmt == "md":
        return "\n\n".join(
            (f"## Topic {i // 8}\n\n" if i % 8 == 0 else "") + f"{sentence(rng, i)} {sentence(rng, i + 1)}"
            for i in range(lines)
        ).encode()
    return "\n\n".join(f"{sentence(rng, i)} {sentence(rng, i + 1)}" for i in range(lines)).encode()


def make_file(rng: random.Random, fmt: str, size: int) -> bytes:
    makers: dict[str, tuple[Callable[[int], bytes], int]] = {
        "pdf": (lambda n: make_pdf(rng, n), 20),
        "docx": (lambda n: make_docx(rng, n), 200),
        "pptx": (lambda n: make_pptx(rng, n), 20),
        "xlsx": (lambda n: make_xlsx(rng, n), 1000),
    }
    make, start = makers.get(fmt, (lambda n: make_text(rng, fmt, n), 1000))
    return grow(make, size, start)


@dataclass
class Upload:
    name: str
    fmt: str
    data: bytes


def make_upload(total_mb: float, seed: int) -> list[Upload]:
    rng = random.Random(seed)
    out: list[Upload] = []
    for fmt, share in MIX.items():
        left = int(total_mb * share * 1e6)
        n = 0
        while left > 50_000:
            size = min(left, int(FILE_MB[fmt] * 1e6))
            data = make_file(rng, fmt, size)
            out.append(Upload(f"{fmt}-{n}.{fmt}", fmt, data))
            left -= len(data)
            n += 1
    return out


@dataclass
class FormatFigures:
    files: int = 0
    bytes: int = 0
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    texts: list[tuple[str, str]] = field(default_factory=list)  # (filename, chunk text)


def convert_all(uploads: list[Upload]) -> dict[str, FormatFigures]:
    figures: dict[str, FormatFigures] = {}
    for upload in uploads:
        started = time.perf_counter()
        read = read_document_bytes(upload.data, upload.name)
        fig = figures.setdefault(upload.fmt, FormatFigures())
        fig.seconds += time.perf_counter() - started
        fig.files += 1
        fig.bytes += len(upload.data)
        fig.pages += read.converted.pages or 0
        fig.chunks += len(read.chunks)
        fig.texts += [(upload.name, chunk.text) for chunk in read.chunks]
    return figures


async def result_of(bus: Bus, session: str, publish: Envelope[Any], request_id: str, timeout: float) -> MemoryResult:
    got: asyncio.Future[MemoryResult] = asyncio.get_running_loop().create_future()

    async def seen(event: Envelope[Any]) -> None:
        if isinstance(event.body, MemoryResult) and event.body.request_id == request_id and not got.done():
            got.set_result(event.body)

    observer = await bus.observe(f"{MEMORY_RESULT}.{session}", seen)
    try:
        await bus.nc.flush()
        await bus.publish(publish)
        return await asyncio.wait_for(got, timeout)
    finally:
        await observer.stop()


async def over_the_bus(uploads: list[Upload], root: Path, config: NatsConfig) -> tuple[float, float, int]:
    """(parse seconds, ingest seconds, chunks stored) through the handlers on a real nats-server."""
    embedder = load_embedder("builtin")
    async with running_nats(config) as nats:
        bus = await Bus.connect(nats.url, "bench-documents", connect_timeout_s=10)
        worker_bus = await Bus.connect(nats.url_for("memory_worker"), "bench-documents-worker", connect_timeout_s=10)
        executor = ThreadPoolExecutor(max_workers=1)
        memory = await asyncio.get_running_loop().run_in_executor(
            executor, lambda: Memory(EdgeStore(root / "ours", embedder.dim), embedder)
        )
        worker = MemoryWorker(memory, executor)
        consumers = await start_routes(worker_bus, routes_for(worker))
        session = "bench-documents"
        approvals = await ApprovalStore.open(bus)
        blobs = await bus.object_store(DOCUMENTS)
        try:
            parse_s = ingest_s = 0.0
            chunks = 0
            # One job's order: read the file, the person approves, store it (the read is still recent).
            for i, upload in enumerate(uploads):
                digest = hashlib.sha256(upload.data).hexdigest()
                await blobs.put(digest, upload.data)
                ref = DocumentRef(
                    document_id=document_id_of(digest), digest=digest, filename=upload.name, size=len(upload.data)
                )
                parse = DocumentParse(request_id=f"parse-{i}", document=ref, namespace="bench")
                started = time.perf_counter()
                read = Envelope[DocumentParse](type=MEMORY_PARSE, session_id=session, job_id="job-b", body=parse)
                answer = await result_of(bus, session, read, parse.request_id, 600)
                parse_s += time.perf_counter() - started
                assert answer.document is not None, answer.error
                approval_id = f"ap-{i}"
                action = ActionStoreDocument(document=ref, parsed=answer.document, namespace="bench")
                record = ApprovalRecord(
                    approval_id=approval_id, session_id=session, job_id="job-b", twin_id="default", step=2,
                    kind="document", action=action, summary="", reason="", policy="bench", created_at=NOW,
                    expires_at=NOW + timedelta(hours=1),
                )  # fmt: skip
                await approvals.create(record)
                await approvals.update(record, approve("bench", NOW, None, f"decision-{i}"))
                ingest = DocumentIngest(
                    request_id=request_for(approval_id), approval_id=approval_id, document=ref, namespace="bench"
                )
                started = time.perf_counter()
                store = Envelope[DocumentIngest](type=MEMORY_INGEST, session_id=session, job_id="job-b", body=ingest)
                answer = await result_of(bus, session, store, ingest.request_id, 600)
                ingest_s += time.perf_counter() - started
                assert answer.stored_count is not None, answer.error
                chunks += answer.stored_count
        finally:
            for consumer in consumers:
                await consumer.stop()
            await worker.close()
            await worker_bus.close()
            await bus.close()
    return parse_s, ingest_s, chunks


def bare_baseline(figures: dict[str, FormatFigures], root: Path) -> tuple[float, int]:
    embedder = load_embedder("builtin")
    memory = Memory(EdgeStore(root / "bare", embedder.dim), embedder)
    items = [NewMemory(text, "bench", "domain", name) for fig in figures.values() for name, text in fig.texts]
    started = time.perf_counter()
    for batch in batches(items, 256):
        memory.add(batch)
    seconds = time.perf_counter() - started
    memory.close()
    return seconds, len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 10 MB by default, so the two configurations fit `make bench` (about 4 minutes); issue 20 measured --mb 50.
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the ingest comparison, report the median")
    parser.add_argument(
        "--write", type=Path, help="also write the upload's files into this folder (to convert elsewhere)"
    )
    parser.add_argument("--reuse", type=Path, help="read the upload from this folder (written by --write) instead")
    add_config_argument(parser)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    started = time.perf_counter()
    if args.reuse:
        files = sorted(args.reuse.iterdir())
        uploads = [Upload(f.name, f.suffix.lstrip("."), f.read_bytes()) for f in files]
    else:
        uploads = make_upload(args.mb, args.seed)
    total = sum(len(u.data) for u in uploads)
    print(f"upload: {len(uploads)} files, {total / 1e6:.1f} MB, written in {time.perf_counter() - started:.0f} s")
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for upload in uploads:
            (args.write / upload.name).write_bytes(upload.data)

    figures = convert_all(uploads)
    print("\nconversion (checks, conversion, chunking; in-process, one thread)")
    print(f"{'format':8} {'files':>5} {'MB':>7} {'pages':>6} {'chunks':>7} {'s':>7} {'MB/s':>7} {'chunks/s':>9}")
    for fmt, fig in figures.items():
        mb = fig.bytes / 1e6
        print(
            f"{fmt:8} {fig.files:5d} {mb:7.2f} {fig.pages or '':>6} {fig.chunks:7d} {fig.seconds:7.2f} "
            f"{mb / fig.seconds:7.2f} {fig.chunks / fig.seconds:9.0f}"
        )
    conv_s = sum(f.seconds for f in figures.values())
    all_chunks = sum(f.chunks for f in figures.values())
    print(
        f"{'all':8} {len(uploads):5d} {total / 1e6:7.2f} {'':>6} {all_chunks:7d} {conv_s:7.2f} "
        f"{total / 1e6 / conv_s:7.2f}"
    )

    configs = chosen_configs(args)
    ours_rates: dict[NatsConfig, list[float]] = {config: [] for config in configs}
    bare_rates = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            bare_s, bare_chunks = bare_baseline(figures, Path(tmp))
        bare_rates.append(bare_chunks / bare_s)
        print(
            f"\nbare Memory.add (no bus): {bare_chunks} chunks in {bare_s:.2f} s = {bare_chunks / bare_s:,.0f} chunks/s"
        )
        for config in configs:
            print(config_heading(config))
            with tempfile.TemporaryDirectory() as tmp:
                parse_s, ingest_s, chunks = asyncio.run(over_the_bus(uploads, Path(tmp), config))
            ours_rates[config].append(chunks / ingest_s)
            print(
                f"over the bus: parse {parse_s:.1f} s for {total / 1e6:.1f} MB ({total / 1e6 / parse_s:.2f} MB/s); "
                f"ingest {chunks} chunks in {ingest_s:.2f} s = {chunks / ingest_s:,.0f} chunks/s"
            )
    bare = statistics.median(bare_rates)
    print()
    for config in configs:
        ours = statistics.median(ours_rates[config])
        print(
            f"after conversion, nats config {config}: ours {ours:,.0f} chunks/s, bare {bare:,.0f} chunks/s, "
            f"ratio bare/ours {bare / ours:.2f} (goal >= 1,000 chunks/s: {'met' if ours >= 1000 else 'MISSED'})"
        )
    print(f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
