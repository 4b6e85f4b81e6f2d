"""Keyword side of hybrid search: text -> BM25-style sparse vector.

Qdrant applies the IDF half (sparse vector with ``Modifier.IDF``); this module makes the
term-frequency half. The tokenizer keeps compound identifiers whole *and* splits them,
so ``10.0.3.17``, ``CVE-2024-3094``, ``db-prod-03`` and ``ECONNREFUSED`` match exactly,
while the parts still match a looser query.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Final

# A word, optionally joined to more words by the punctuation identifiers are made of.
_TOKEN = re.compile(r"\w+(?:[.\-:/@]\w+)*", re.UNICODE)
_PART = re.compile(r"[.\-:/@_]")

_STOPWORDS = frozenset(
    """a an and are as at be but by for from has have how i if in into is it its me my no not of on or
    our so that the their them there these they this to was we were what when where which who whom why
    will with you your do does did can could should would about after before than then""".split()
)

K1 = 1.2
B = 0.75
# Chunks are a few sentences; a fixed average keeps documents independent of each other.
AVG_LEN = 48.0


@dataclass(frozen=True, slots=True)
class Sparse:
    indices: list[int]
    values: list[float]


def _stem(word: str) -> str:
    # Light suffix stripping for plain words only; identifiers are never touched. A final "e"
    # goes too, so rotate, rotated, rotates and rotating all meet at "rotat".
    if not word.isalpha() or len(word) <= 4:
        return word
    if word.endswith("ies") and len(word) > 5:
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) > 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        whole = match.group(0)
        parts = [p for p in _PART.split(whole) if p]
        if len(parts) > 1:
            out.append(whole)
        for part in parts:
            if part not in _STOPWORDS:
                out.append(_stem(part))
    return out


# Prefix terms for search-as-you-type: "^dep" matches deploy, deployment, depends.
PREFIX_MIN: Final = 2
PREFIX_MAX: Final = 16
_PREFIX_TOKENS_MAX: Final = 2000


def _raw_terms(text: str) -> Iterator[str]:
    """Unstemmed lower-case words and whole identifiers: what a person types."""
    for match in _TOKEN.finditer(text.lower()):
        whole = match.group(0)
        parts = [p for p in _PART.split(whole) if p]
        if len(parts) > 1:
            yield whole
        yield from parts


def prefix_tokens(text: str) -> list[str]:
    out: list[str] = []
    for term in islice(_raw_terms(text), _PREFIX_TOKENS_MAX):
        out.extend("^" + term[:n] for n in range(PREFIX_MIN, min(len(term), PREFIX_MAX) + 1))
    return out


def _index(token: str) -> int:
    return zlib.crc32(token.encode("utf-8"))


def _to_sparse(weights: dict[int, float]) -> Sparse:
    ordered = sorted(weights.items())
    return Sparse(indices=[i for i, _ in ordered], values=[v for _, v in ordered])


def encode_document(text: str, prefixes: bool = False) -> Sparse:
    toks = tokens(text)
    if not toks:
        return Sparse(indices=[], values=[])
    norm = K1 * (1.0 - B + B * len(toks) / AVG_LEN)
    counts = Counter(toks)
    if prefixes:
        # Prefix terms count once per word, so long words do not outweigh short ones.
        counts.update(set(prefix_tokens(text)))
    weights: dict[int, float] = {}
    for token, tf in counts.items():
        idx = _index(token)
        weights[idx] = weights.get(idx, 0.0) + tf * (K1 + 1.0) / (tf + norm)
    return _to_sparse(weights)


def encode_query(text: str, prefix_last: bool = False) -> Sparse:
    """Query terms, each weight 1. With ``prefix_last`` the last word typed so far matches as a
    prefix (search-as-you-type); the words before it match whole."""
    weights: dict[int, float] = {}
    if prefix_last:
        raw = text.lower()
        last = _TOKEN.search(raw[::-1])
        if last is not None and raw.rstrip() == raw:
            word = last.group(0)[::-1]
            head = raw[: len(raw) - last.end()]
            for token in tokens(head):
                weights[_index(token)] = 1.0
            if len(word) >= PREFIX_MIN:
                weights[_index("^" + word[:PREFIX_MAX])] = 1.0
            else:
                for token in tokens(word):
                    weights[_index(token)] = 1.0
            return _to_sparse(weights)
    for token in tokens(text):
        weights[_index(token)] = 1.0
    return _to_sparse(weights)


def identifiers(text: str) -> frozenset[str]:
    """The identifiers a query names, lower-case: compounds (``10.0.3.71``, ``CVE-2024-3094``,
    ``db-prod-03``, ``pg_restore``) and words of two characters or more with a digit (``137``, ``v2``).
    A lone digit ("top 5") is a count, not a name."""
    out: set[str] = set()
    for match in _TOKEN.finditer(text.lower()):
        whole = match.group(0)
        parts = [p for p in _PART.split(whole) if p]
        if len(parts) > 1 or (len(whole) > 1 and any(c.isdigit() for c in whole)):
            out.add(whole)
    return frozenset(out)


def held(text: str, wanted: frozenset[str]) -> int:
    """How many of ``wanted`` (from ``identifiers``) the text holds as whole terms: ``10.0.3.7`` is
    not held by a text naming ``10.0.3.71``."""
    lower = text.lower()
    present = [w for w in wanted if w in lower]
    if not present:
        return 0
    terms = set(_raw_terms(lower))
    return sum(w in terms for w in present)
