from memory_worker.sparse import encode_document, encode_query, tokens


def test_identifiers_are_kept_whole_and_split() -> None:
    toks = tokens("Host 10.0.3.17 hit CVE-2024-3094 via db-prod-03")
    assert "10.0.3.17" in toks
    assert "cve-2024-3094" in toks
    assert "db-prod-03" in toks
    assert {"cve", "2024", "3094", "db", "prod", "03"} <= set(toks)


def test_similar_identifiers_get_different_terms() -> None:
    a = set(encode_query("10.0.3.17").indices)
    b = set(encode_query("10.0.3.71").indices)
    assert a != b and a & b  # shared parts, distinct whole address


def test_stopwords_dropped_and_plurals_folded() -> None:
    assert tokens("the restarts of the servers") == tokens("restart server")


def test_document_weights_saturate_with_repetition() -> None:
    once = encode_document("timeout")
    many = encode_document("timeout " * 20)
    assert once.indices == many.indices
    assert many.values[0] > once.values[0]
    assert many.values[0] < 20 * once.values[0]


def test_empty_text_gives_empty_vector() -> None:
    assert encode_query("the of and").indices == []
    assert encode_document("").indices == []
