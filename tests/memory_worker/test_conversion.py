"""Reading uploaded files: real files of every format, written here by the libraries that write them,
and the files that must be refused with a clear reason (corrupted, scanned, misnamed, zip bombs)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from docx import Document as WordDocument
from fpdf import FPDF
from openpyxl import Workbook
from pptx import Presentation

from memory_worker.conversion import convert
from memory_worker.documents import Unreadable
from memory_worker.ingest import plan_ingest
from memory_worker.reader import RecentReads, read_document_bytes


def docx_bytes() -> bytes:
    doc = WordDocument()
    doc.add_heading("Runbook", 1)
    doc.add_paragraph("Restore the billing database from the nightly snapshot on backup-07.")
    doc.add_heading("Failover", 2)
    doc.add_paragraph("Promote db-prod-03 and point the VIP 10.0.3.17 at it.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pptx_bytes(slides: int = 3) -> bytes:
    deck = Presentation()
    for number in range(1, slides + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Quarter {number}"
        slide.placeholders[1].text = f"Revenue in quarter {number} grew by {number * 3} percent."
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_bytes(rows: int = 300) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Hosts"
    sheet.append(["host", "address", "owner"])
    for i in range(rows):
        sheet.append([f"web-{i:03d}", f"10.1.{i // 250}.{i % 250}", "platform team"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_bytes(pages: int, blank: tuple[int, ...] = ()) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        if number in blank:
            pdf.rect(20, 20, 100, 60, style="F")  # a drawing, no text: what a scan looks like to pypdf
            continue
        pdf.multi_cell(0, 5, f"Page {number}. The VPN gateway for site {number} is 203.0.113.{number % 250}. " * 4)
    return bytes(pdf.output())


def test_pdf_is_read_page_by_page_with_progress() -> None:
    calls: list[tuple[int, int]] = []
    read = read_document_bytes(pdf_bytes(200), "handbook.pdf", progress=lambda done, total: calls.append((done, total)))
    assert read.converted.format == "pdf" and read.converted.pages == 200
    assert calls == [(n, 200) for n in range(1, 201)]
    assert sorted({c.page or 0 for c in read.chunks}) == list(range(1, 201))
    page_40 = [c for c in read.chunks if c.page == 40]
    assert page_40 and "site 40 is 203.0.113.40" in page_40[0].text
    assert [c.index for c in read.chunks] == list(range(len(read.chunks)))


def test_a_pdf_with_some_pages_scanned_warns_and_one_without_any_text_is_refused() -> None:
    partly = convert(pdf_bytes(4, blank=(2, 4)), "mixed.pdf")
    assert [s.page for s in partly.sections] == [1, 3]
    assert partly.warnings == ["2 of 4 pages have no text (scanned?): 2, 4"]
    with pytest.raises(Unreadable, match=r"scan.pdf has no text layer: none of its 3 pages holds text"):
        convert(pdf_bytes(3, blank=(1, 2, 3)), "scan.pdf")


def test_docx_keeps_its_headings() -> None:
    read = read_document_bytes(docx_bytes(), "runbook.docx")
    assert read.converted.format == "docx" and read.converted.pages is None
    assert [c.heading for c in read.chunks] == ["Runbook", "Runbook > Failover"]
    assert "Promote db-prod-03" in read.chunks[1].text and read.chunks[1].text.startswith("Runbook > Failover")


def test_pptx_slides_are_its_pages() -> None:
    read = read_document_bytes(pptx_bytes(3), "quarterly.pptx")
    assert read.converted.pages == 3
    assert [c.page for c in read.chunks] == [1, 2, 3]
    assert "quarter 2 grew by 6 percent" in read.chunks[1].text


def test_spreadsheet_rows_are_chunked_under_their_header() -> None:
    read = read_document_bytes(xlsx_bytes(300), "hosts.xlsx")
    assert len(read.chunks) > 3
    for chunk in read.chunks:
        assert "| host | address | owner |" in chunk.text, chunk.text[:200]
    assert any("| web-299 | 10.1.1.49 | platform team |" in c.text for c in read.chunks)


@pytest.mark.parametrize(
    ("name", "data", "fmt", "needle"),
    [
        ("people.csv", b"name,role\nAda,engineer\nGrace,admiral\n", "csv", "| Grace | admiral |"),
        (
            "page.html",
            b"<html><head><script>var x=1</script></head><body><h1>Status</h1><p>All green.</p></body></html>",
            "html",
            "All green.",
        ),
        ("notes.md", "# Notes\n\nCaf\u00e9 opens at 8.\n".encode(), "markdown", "Caf\u00e9 opens at 8."),
        ("plain.txt", "r\u00e9sum\u00e9 in Windows-1252".encode("cp1252"), "text", "r\u00e9sum\u00e9"),
        ("config.json", json.dumps({"db": {"host": "db-1", "port": 5432}}).encode(), "json", 'db.host: "db-1"'),
        ("config.yaml", b"db:\n  host: db-1\ncache:\n  ttl: 60\n", "yaml", "ttl: 60"),
    ],
)
def test_text_formats(name: str, data: bytes, fmt: str, needle: str) -> None:
    read = read_document_bytes(data, name)
    assert read.converted.format == fmt
    assert any(needle in c.text for c in read.chunks), [c.text for c in read.chunks]
    assert all("var x" not in c.text for c in read.chunks)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("report.docx", pdf_bytes(1), "report.docx is named as a Word document but its content is a PDF"),
        ("report.pdf", docx_bytes(), "report.pdf is named as a PDF but its content is a zip archive"),
        ("slides.pptx", docx_bytes(), "slides.pptx is named as a PowerPoint presentation but its content is a zip"),
        (
            "notes.txt",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            "notes.txt is named as a text file but its content is a PNG",
        ),
        ("data.csv", b"\x00\x01\x02binary\x00", "data.csv is named as a CSV file but holds binary content"),
        ("sheet.xlsx", b"just some text", "sheet.xlsx is named as an Excel workbook but its content is not"),
    ],
)
def test_a_misleading_extension_is_refused(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(Unreadable, match=r"misleading extension|binary content") as caught:
        convert(data, name)
    assert str(caught.value).startswith(reason), str(caught.value)


def test_corrupted_files_are_refused_clearly() -> None:
    whole = docx_bytes()
    with pytest.raises(Unreadable, match=r"^cut.docx is corrupted: not a readable zip"):
        convert(whole[: len(whole) // 2], "cut.docx")
    broken_pdf = b"%PDF-1.7\n" + b"\x8f garbage that is no PDF object at all \x00" * 50
    with pytest.raises(Unreadable, match=r"^broken.pdf is a corrupted PDF"):
        convert(broken_pdf, "broken.pdf")
    # A zip with the right part whose XML is not a document.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<not-word/>")
    with pytest.raises(Unreadable, match=r"^odd.docx is a corrupted DOCX file"):
        convert(out.getvalue(), "odd.docx")
    with pytest.raises(Unreadable, match=r"password-protected or in the legacy binary format"):
        convert(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "locked.docx")


def zip_bomb(member_mib: int) -> bytes:
    out = io.BytesIO()
    zeros = b"\x00" * (1024 * 1024)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            for _ in range(member_mib):
                member.write(zeros)
    return out.getvalue()


def test_a_zip_bomb_is_refused_before_anything_inflates_it() -> None:
    bomb = zip_bomb(40)
    assert len(bomb) < 200_000
    with pytest.raises(
        Unreadable, match=r"^bomb.docx would expand from [\d,]+ to 41,943,\d{3} bytes: refused as a zip bomb"
    ):
        convert(bomb, "bomb.docx")


def test_too_many_entries_and_oversize_files_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(10_001):
            archive.writestr(f"x/{i}", "")
    with pytest.raises(Unreadable, match="holds 10001 files"):
        convert(out.getvalue(), "many.pptx")
    with pytest.raises(Unreadable, match=r"^big.txt is 2,000 bytes; the limit is 1,000"):
        convert(b"a" * 2000, "big.txt", max_bytes=1000)
    with pytest.raises(Unreadable, match=r"unsupported file type \.exe"):
        convert(b"MZ", "setup.exe")
    with pytest.raises(Unreadable, match=r"empty\.md is empty"):
        convert(b"", "empty.md")


def test_a_knowledge_base_folder_reads_office_files_too(tmp_path: Path) -> None:
    (tmp_path / "runbook.docx").write_bytes(docx_bytes())
    (tmp_path / "deck.pptx").write_bytes(pptx_bytes(2))
    (tmp_path / "fake.docx").write_bytes(pdf_bytes(1))
    plan = plan_ingest(tmp_path, "ops")
    by_file = {(Path(i.source or "").name, i.metadata.get("page")) for i in plan.items}
    assert by_file == {("runbook.docx", None), ("deck.pptx", 1), ("deck.pptx", 2)}
    assert {i.metadata["format"] for i in plan.items} == {"docx", "pptx"}
    [skipped] = plan.skipped
    assert skipped.path.endswith("fake.docx") and "misleading extension" in skipped.reason


def test_recent_reads_are_bounded_by_count_and_by_text_held() -> None:
    small = read_document_bytes(b"# A\n\nshort text", "a.md")
    big = read_document_bytes(b"x " * 5000, "b.txt")
    reads = RecentReads(size=2, characters=12_000)
    reads.put("1", small)
    reads.put("2", small)
    assert reads.get("1") is small  # now the most recent
    reads.put("3", small)
    assert (reads.get("1"), reads.get("2"), reads.get("3")) == (small, None, small)
    reads.put("4", big)
    reads.put("5", big)  # two big ones hold more than 12,000 characters: only the newest stays
    assert (reads.get("3"), reads.get("4"), reads.get("5")) == (None, None, big)
