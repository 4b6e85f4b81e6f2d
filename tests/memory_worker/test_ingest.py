"""Ingestion of a knowledge-base folder into the real embedded store."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from pypdf import PdfWriter

from memory_worker.documents import Unreadable, decode, read_document
from memory_worker.errors import InvalidRequest
from memory_worker.ingest import ingest_local, plan_ingest
from memory_worker.memory import Memory


def text_pdf(text: str) -> bytes:
    """A one-page PDF with real text in it, written by hand (no PDF writer library needed)."""
    content = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def _pdf(path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with path.open("wb") as fh:
        writer.write(fh)


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    root = tmp_path / "kbs"
    (root / "body").mkdir(parents=True)
    (root / "mind" / "deep").mkdir(parents=True)
    (root / "notes").mkdir()
    (root / "body" / "hosts.md").write_text("# Hosts\n\n## Database\n\ndb-prod-03 is at 10.0.3.17.\n")
    (root / "mind" / "deep" / "playbook.txt").write_text("When the queue backs up, scale the consumers first.")
    (root / "notes" / "legacy.txt").write_bytes("Caf\xe9 cr\xe8me: the old wiki was cp1252.".encode("cp1252"))
    (root / "notes" / "utf16.yaml").write_bytes(codecs.BOM_UTF16_LE + "owner: Jonas Feldberg\n".encode("utf-16-le"))
    (root / "notes" / "hosts.json").write_text('{"vpn": {"ip": "203.0.113.45"}}')
    (root / "notes" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "notes" / "binary.txt").write_bytes(b"abc\x00\x01\x02")
    (root / "notes" / "empty.md").write_text("   \n")
    (root / "notes" / "scan.pdf").touch()
    (root / "notes" / "runbook.pdf").write_bytes(text_pdf("Rotate the WireGuard keys every 90 days"))
    _pdf(root / "notes" / "blank.pdf")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("ignored")
    return root


def test_plan_reads_every_kind_and_skips_the_rest_with_reasons(kb_dir: Path) -> None:
    plan = plan_ingest(kb_dir, "ops")
    by_source = {Path(i.source or "").name: i for i in plan.items}
    assert set(by_source) == {"hosts.md", "playbook.txt", "legacy.txt", "utf16.yaml", "hosts.json", "runbook.pdf"}
    assert by_source["runbook.pdf"].text == "Rotate the WireGuard keys every 90 days"
    assert by_source["runbook.pdf"].metadata["encoding"] == "pdf"
    assert by_source["hosts.md"].kb == "body"
    assert by_source["hosts.md"].metadata["heading"] == "Hosts > Database"
    assert by_source["playbook.txt"].kb == "mind"
    assert by_source["legacy.txt"].kb == "domain"
    assert "Café crème" in by_source["legacy.txt"].text
    assert "Jonas Feldberg" in by_source["utf16.yaml"].text
    assert 'vpn.ip: "203.0.113.45"' in by_source["hosts.json"].text
    skipped = {Path(s.path).name: s.reason for s in plan.skipped}
    assert set(skipped) == {"image.png", "binary.txt", "empty.md", "scan.pdf", "blank.pdf"}
    assert "unsupported" in skipped["image.png"]
    assert "binary" in skipped["binary.txt"]
    assert "PDF" in skipped["scan.pdf"] and "no extractable text" in skipped["blank.pdf"]


def test_ingest_then_search_then_reingest_is_a_noop(kb_dir: Path, edge_memory: Memory) -> None:
    progress: list[tuple[int, int]] = []
    first = ingest_local(
        edge_memory, plan_ingest(kb_dir, "ops"), progress=lambda done, total: progress.append((done, total))
    )
    assert first.created == first.chunks == 6 and first.files == 6 and len(first.skipped) == 5
    assert progress[-1] == (6, 6)
    hit = edge_memory.search("10.0.3.17", "ops", k=1)[0]
    assert hit.record.source == str(kb_dir / "body" / "hosts.md") and hit.record.kb == "body"
    again = ingest_local(edge_memory, plan_ingest(kb_dir, "ops"))
    assert (again.created, again.duplicates) == (0, 6)
    assert edge_memory.store.count("ops") == 6
    assert "6 files, 6 chunks: 0 new, 6 already stored, 5 files skipped" == again.lines()[0]
    assert edge_memory.search("how often are vpn keys rotated", "ops", k=1)[0].record.source.endswith("runbook.pdf")  # type: ignore[union-attr]


def test_kb_option_overrides_folders(kb_dir: Path) -> None:
    plan = plan_ingest(kb_dir, "ops", kb="Mind")
    assert {i.kb for i in plan.items} == {"mind"}
    with pytest.raises(InvalidRequest, match="unknown knowledge base"):
        plan_ingest(kb_dir, "ops", kb="spleen")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        plan_ingest(kb_dir / "nowhere", "ops")


def test_single_file_and_starter_folders(edge_memory: Memory) -> None:
    root = Path(__file__).resolve().parents[2] / "knowledge_bases"
    plan = plan_ingest(root / "soul" / "persona.md", "starter")
    assert plan.items and {i.kb for i in plan.items} == {"soul"}
    for kb in ("soul", "domain", "body", "heart", "mind"):  # the starter folders (personas live beside them)
        summary = ingest_local(edge_memory, plan_ingest(root / kb, "starter"))
        assert summary.skipped == () and summary.created == summary.chunks > 0
    assert set(edge_memory.namespaces()["starter"]) == {"soul", "domain", "body", "heart", "mind"}


def test_decode_fallbacks() -> None:
    assert decode("naïve".encode()) == ("naïve", "utf-8")
    assert decode(codecs.BOM_UTF8 + b"x") == ("x", "utf-8-sig")
    assert decode("€5".encode("cp1252")) == ("€5", "cp1252")
    assert decode(b"\x81\x8d") == ("\x81\x8d", "latin-1")
    with pytest.raises(Unreadable):
        decode(b"\x00\x00")


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match="cannot read"):
        read_document(tmp_path / "missing.md")
