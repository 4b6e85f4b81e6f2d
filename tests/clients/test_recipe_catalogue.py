"""The catalogue of the docs' `nats` recipes: each one is run by a test in tests/clients, or is a stated
exception, so a recipe added to README.md or docs/*.md cannot go untested."""

from __future__ import annotations

from pathlib import Path

from . import test_bus_recipes, test_discovery
from .recipes import COVERED, doc_recipes

# Recipes no test runs, and why: each must stay a deliberate, stated exception.
NOT_RUN: dict[str, str] = {
    "nats account backup /backups/pagi-$(date +%F) --consumers": (
        "docs/deploy.md's backup: an administrative snapshot of the server's storage, not a conversation "
        "with PAGI; the JavaScript client has no backup API, so only the real CLI can run it"
    ),
    "nats account restore /backups/pagi-2025-11-25": "docs/deploy.md's restore: as the backup above",
}


def test_the_recipe_reader_sees_a_new_recipe(tmp_path: Path) -> None:
    doc = tmp_path / "new.md"
    doc.write_text("text\n\n```sh\nsource .pagi/pagi.env\nnats pub a.b \\\n  'x'   # a comment\n```\n")
    [found] = [r for r in doc_recipes((doc,), root=tmp_path)]
    assert (found.line, found.command) == (5, "nats pub a.b 'x'")
    assert found.command not in COVERED


def test_every_recipe_in_the_docs_is_run_by_a_test() -> None:
    assert test_bus_recipes.__name__ and test_discovery.__name__  # imported: their recipes are in COVERED
    in_docs = {r.command: r for r in doc_recipes()}
    untested = {c: f"{r.doc}:{r.line}" for c, r in in_docs.items() if c not in COVERED and c not in NOT_RUN}
    assert not untested, f"recipes in the docs that no test runs (add one to tests/clients): {untested}"
    gone = sorted(set(COVERED) - set(in_docs)) + sorted(set(NOT_RUN) - set(in_docs))
    assert not gone, f"tests name recipes the docs no longer have: {gone}"
