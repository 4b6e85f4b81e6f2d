from memory_worker.chunking import chunk_document

RUNBOOK = """# Runbook

Intro line.

## Restore

Stop the app.

Run pg_restore.

```
# not a heading inside code
pg_restore --clean
```

## Rotate keys
### WireGuard

Keys rotate every 90 days.
"""


def test_markdown_chunks_follow_headings() -> None:
    chunks = chunk_document(RUNBOOK, "markdown")
    assert [c.heading for c in chunks] == ["Runbook", "Runbook > Restore", "Runbook > Rotate keys > WireGuard"]
    restore = chunks[1].text
    assert restore.startswith("Runbook > Restore\n\n")
    assert "# not a heading inside code" in restore and "pg_restore --clean" in restore
    assert [c.index for c in chunks] == [0, 1, 2]


def test_long_sections_are_packed_under_the_limit() -> None:
    body = "\n\n".join(f"Paragraph {i} " + "word " * 40 for i in range(30))
    chunks = chunk_document(f"# Big\n\n{body}", "markdown", max_chars=500)
    assert len(chunks) > 5
    assert all(len(c.text) <= 500 for c in chunks)
    assert all(c.heading == "Big" for c in chunks)
    joined = " ".join(c.text for c in chunks)
    assert all(f"Paragraph {i} " in joined for i in range(30))


def test_one_huge_line_is_cut() -> None:
    chunks = chunk_document("x" * 5000, "text", max_chars=1000)
    assert len(chunks) == 5 and all(len(c.text) <= 1000 for c in chunks)


def test_json_is_split_by_top_level_key_with_paths() -> None:
    chunks = chunk_document('{"hosts": {"db": {"ip": "10.0.3.17"}}, "owners": ["ana", "bo"]}', "json")
    assert [c.heading for c in chunks] == ["hosts", "owners"]
    assert 'hosts.db.ip: "10.0.3.17"' in chunks[0].text
    assert chunk_document("not json {", "json")[0].text == "not json {"


def test_yaml_is_split_by_top_level_key() -> None:
    chunks = chunk_document("# comment\nhosts:\n  db: 10.0.3.17\nowners:\n  - ana\n", "yaml")
    assert [c.heading for c in chunks] == ["hosts", "owners"]
    assert "db: 10.0.3.17" in chunks[0].text


def test_blank_document_has_no_chunks() -> None:
    assert chunk_document("  \n\n ", "markdown") == []
    assert chunk_document("# Only a heading\n", "markdown") == []
