"""Documents in, through the console (issue 20): files uploaded in the chat (the button, and several
dropped at once) and in the Mind view (into a chosen namespace and knowledge base), each shown with its
state and progress; the document approval shows the file, its chunks and a preview, and may move it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from docx import Document as WordDocument
from fpdf import FPDF
from playwright.async_api import Page, expect

from bus_schemas.subjects import APPROVE_DECISION
from memory_worker.worker import MemoryWorker

from ..support import ObserveFactory, eventually
from .conftest import Edge, snap
from .test_chat import WAIT, send, session_of

pytestmark = pytest.mark.browser
STORED = 60_000

RUNBOOK = """# Pump station runbook

## Power loss

After a power loss pump 3 restarts on its own within two minutes. Pumps 1 and 2 need a manual reset
at the control cabinet: turn the key to RESET, wait for the green lamp, then back to RUN.

## Flooding

If the sump alarm sounds, open valve V7 and call the duty engineer on extension 4411.
"""


async def search(edge: Edge, user: str, q: str, namespace: str) -> list[dict[str, Any]]:
    res = await edge.get(f"/v1/memory/search?q={q}&namespace={namespace}&k=5", headers={"X-User-Id": user})
    assert res.status == 200, await res.text()
    hits: list[dict[str, Any]] = (await res.json())["results"]
    return hits


async def test_a_file_uploaded_in_the_chat_waits_for_approval_then_is_stored_where_the_person_chose(
    page: Page, edge: Edge, memory_worker: MemoryWorker, observe: ObserveFactory, tmp_path: Path
) -> None:
    runbook = tmp_path / "runbook.md"
    runbook.write_text(RUNBOOK)
    session = await session_of(page)
    decisions = await observe(f"{APPROVE_DECISION}.{session}")
    await page.get_by_test_id("upload-input").set_input_files(str(runbook))
    entry = page.get_by_test_id("upload").filter(has_text="runbook.md")
    await expect(entry).to_be_visible()
    await expect(entry).to_have_attribute("data-state", "awaiting_approval", timeout=WAIT)
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "document", timeout=WAIT)
    await expect(modal.get_by_test_id("approval-filename")).to_have_text("runbook.md")
    await expect(modal.get_by_test_id("approval-size")).to_have_text(f"{len(RUNBOOK.encode())} B")
    chunks = int(await modal.get_by_test_id("approval-chunks").inner_text())
    assert chunks >= 1
    await expect(modal.get_by_test_id("approval-preview")).to_contain_text("pump 3 restarts on its own")
    await snap(page, "approval-document")
    # Moved to another namespace before approving: only that change is sent.
    await modal.get_by_test_id("approval-namespace").fill("plant")
    await modal.get_by_role("button", name="Authorize & Execute").click()
    await expect(modal).to_have_count(0, timeout=WAIT)
    (decision,) = await decisions.wait_count(APPROVE_DECISION, 1)
    assert decision.body.changes is not None
    assert decision.body.changes.model_dump(exclude_none=True) == {"namespace": "plant"}
    await expect(entry).to_have_attribute("data-state", "stored", timeout=STORED)
    # The job log's progress reached the end, shown as a bar on the file.
    await expect(entry.get_by_test_id("upload-progress")).to_have_attribute("aria-valuenow", "100", timeout=WAIT)
    user = await page.evaluate("window.pagi.user")

    async def stored() -> list[dict[str, Any]]:
        return [
            h for h in await search(edge, user, "pump+restarts+power+loss", "plant") if h.get("source") == "runbook.md"
        ]

    hits = await eventually(stored, timeout=WAIT / 1000, what="the runbook's chunks in namespace plant")
    assert hits
    # The job log view shows the same progress bar.
    await entry.get_by_role("link", name="job").click()
    await expect(page.get_by_test_id("job-progress").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100", timeout=WAIT
    )


async def test_several_files_dropped_on_the_chat_each_get_their_own_state(
    page: Page, memory_worker: MemoryWorker
) -> None:
    files = [
        ["notes.txt", "The backup runs at 02:00 every night on host db-7.", "text/plain"],
        ["broken.pdf", "this is not a PDF at all, only text with a misleading name", "application/pdf"],
    ]
    drop = page.get_by_test_id("chat-drop")
    transfer = await page.evaluate_handle(
        """(files) => { const dt = new DataTransfer();
             for (const [name, text, type] of files) dt.items.add(new File([text], name, { type }));
             return dt; }""",
        files,
    )
    await drop.dispatch_event("dragover", {"dataTransfer": transfer})
    await expect(page.get_by_test_id("drop-hint")).to_be_visible()
    await drop.dispatch_event("drop", {"dataTransfer": transfer})
    await expect(page.get_by_test_id("drop-hint")).to_have_count(0)
    entries = page.get_by_test_id("upload")
    await expect(entries).to_have_count(2)
    notes = entries.filter(has_text="notes.txt")
    broken = entries.filter(has_text="broken.pdf")
    # The misleading file fails with the reason; nothing about it waits for approval.
    await expect(broken).to_have_attribute("data-state", "failed", timeout=WAIT)
    await expect(broken.get_by_test_id("upload-detail")).not_to_be_empty()
    await expect(notes).to_have_attribute("data-state", "awaiting_approval", timeout=WAIT)
    modal = page.get_by_test_id("approval-modal")
    await expect(modal.get_by_test_id("approval-filename")).to_have_text("notes.txt", timeout=WAIT)
    await snap(page, "uploads")
    await modal.get_by_role("button", name="Deny…").click()
    await modal.get_by_role("button", name="Confirm Deny").click()
    await expect(notes).to_have_attribute("data-state", "denied", timeout=WAIT)
    await expect(modal).to_have_count(0)


async def test_a_file_uploaded_in_the_mind_view_goes_to_the_namespace_and_kb_picked(
    page: Page, memory_worker: MemoryWorker, tmp_path: Path
) -> None:
    manual = tmp_path / "valves.md"
    manual.write_text("# Valves\n\nValve V7 drains the sump into the overflow basin.\n")
    await page.get_by_role("tab", name="Mind").click()
    form = page.get_by_test_id("mind-upload")
    await form.get_by_test_id("mind-upload-input").set_input_files(str(manual))
    await form.get_by_test_id("mind-upload-namespace").fill("plant")
    await form.get_by_test_id("mind-upload-kb").select_option("heart")
    await form.get_by_test_id("mind-upload-send").click()
    await expect(form.get_by_test_id("upload").filter(has_text="valves.md")).to_have_attribute(
        "data-state", "awaiting_approval", timeout=WAIT
    )
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_have_attribute("data-kind", "document", timeout=WAIT)
    await expect(modal.get_by_test_id("approval-namespace")).to_have_value("plant")
    await expect(modal.get_by_test_id("approval-kb")).to_have_value("heart")
    await expect(modal.get_by_test_id("approval-preview")).to_contain_text("Valve V7 drains the sump")


def pdf_bytes(pages: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 5, f"Page {number}. The VPN gateway for site {number} is 203.0.113.{number}. " * 3)
    return bytes(pdf.output())


def docx_bytes() -> bytes:
    doc = WordDocument()
    doc.add_heading("Handover", 1)
    doc.add_paragraph("The spare pump key hangs in cabinet B next to the control room door.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


async def test_a_docx_and_a_pdf_dropped_approved_then_cited_by_page_and_one_forgotten(
    page: Page, edge: Edge, memory_worker: MemoryWorker, tmp_path: Path
) -> None:
    """The issue's "done when", in the browser: drop a DOCX and a PDF, approve both, ask, see the answer
    cite the PDF's page, open it, and forget it."""
    site = tmp_path / "sites.pdf"
    site.write_bytes(pdf_bytes(3))
    handover = tmp_path / "handover.docx"
    handover.write_bytes(docx_bytes())
    await page.get_by_test_id("upload-input").set_input_files([str(site), str(handover)])
    modal = page.get_by_test_id("approval-modal")
    for _ in range(2):
        await expect(modal).to_have_attribute("data-kind", "document", timeout=WAIT)
        name = await modal.get_by_test_id("approval-filename").inner_text()
        if name == "sites.pdf":
            await expect(modal.get_by_test_id("approval-pages")).to_have_text("3")
        await modal.get_by_role("button", name="Authorize & Execute").click()
        await expect(modal.get_by_test_id("approval-filename").filter(has_text=name)).to_have_count(0, timeout=WAIT)
    entries = page.get_by_test_id("upload")
    await expect(entries.filter(has_text="sites.pdf")).to_have_attribute("data-state", "stored", timeout=STORED)
    await expect(entries.filter(has_text="handover.docx")).to_have_attribute("data-state", "stored", timeout=STORED)
    await send(page, "/memory VPN gateway for site 2")
    await expect(modal).to_have_attribute("data-kind", "memory", timeout=WAIT)
    await modal.get_by_role("button", name="Authorize & Execute").click()
    answer = page.locator("#messages li.twin").last
    cited = answer.get_by_test_id("citation").filter(has_text="sites.pdf p. 2")
    await expect(cited.first).to_be_visible(timeout=WAIT)
    await snap(page, "answer-citations")
    await cited.first.click()
    panel = page.get_by_test_id("memory-panel")
    await expect(panel.get_by_test_id("memory-text")).to_contain_text("site 2 is 203.0.113.2", timeout=WAIT)
    await expect(panel.get_by_test_id("prov-file")).to_have_text("sites.pdf")
    await expect(panel.get_by_test_id("prov-page")).to_have_text("2")
    await expect(panel.get_by_test_id("prov-approved-by")).not_to_be_empty()
    memory_id = await panel.get_attribute("data-memory")
    await panel.get_by_test_id("memory-forget").click()
    await panel.get_by_test_id("memory-forget-confirm").click()
    await expect(panel).to_have_count(0, timeout=WAIT)
    user = await page.evaluate("window.pagi.user")
    gone = await edge.get(f"/v1/memory/{memory_id}", headers={"X-User-Id": user})
    assert gone.status == 404


async def test_an_upload_waiting_for_approval_is_cancelled_from_its_entry(
    page: Page, memory_worker: MemoryWorker, tmp_path: Path
) -> None:
    doc = tmp_path / "draft.md"
    doc.write_text("# Draft\n\nNot ready to be remembered.\n")
    await page.get_by_test_id("upload-input").set_input_files(str(doc))
    entry = page.get_by_test_id("upload").filter(has_text="draft.md")
    await expect(entry).to_have_attribute("data-state", "awaiting_approval", timeout=WAIT)
    modal = page.get_by_test_id("approval-modal")
    await expect(modal).to_be_visible(timeout=WAIT)
    await page.keyboard.press("Escape")
    await entry.get_by_test_id("upload-cancel").click()
    await expect(entry).to_have_attribute("data-state", "failed", timeout=WAIT)
    await expect(entry.get_by_test_id("upload-detail")).to_have_text("cancelled")
    await expect(entry.get_by_test_id("upload-cancel")).to_have_count(0)
    # Its approval is no longer asked.
    await expect(page.get_by_test_id("approvals-pending")).to_have_text("0", timeout=WAIT)
