"""Position-keys files: what is written is read back, term by term, for any terms,
documents and positions; a file that is not one is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer import position_keys
from indexer.position_keys import PositionKeys, postings_of_keys, write_position_keys

TERM_POSTINGS = st.dictionaries(st.integers(0, 2**31 - 1), st.lists(st.integers(0, 2**32 - 2), min_size=1, max_size=5, unique=True),
                                min_size=1, max_size=8)
FIELD = st.dictionaries(st.binary(min_size=1, max_size=12), TERM_POSTINGS, max_size=30)


def written(field: dict) -> PositionKeys:
    out = io.BytesIO()
    terms = []
    for term in sorted(field):
        docs = sorted(field[term])
        positions = [sorted(field[term][d]) for d in docs]
        terms.append((term, np.array(docs, np.uint32), np.array([len(p) for p in positions], np.uint32),
                      np.array([p for ps in positions for p in ps], np.uint32)))
    count = write_position_keys(out, terms)
    assert count == sum(len(ps) for postings in field.values() for ps in postings.values())
    return PositionKeys(out.getvalue())


@settings(max_examples=200, deadline=None)
@given(FIELD, st.lists(st.binary(max_size=12), max_size=5))
def test_each_terms_keys_are_its_documents_and_positions(field, others):
    keys = written(field)
    for term, postings in field.items():
        expected = sorted((d << 32) | p for d, ps in postings.items() for p in ps)
        got = keys.keys(term)
        assert got.tolist() == expected
        docs, counts = keys.postings(term)
        assert docs.tolist() == sorted(postings)
        assert counts.tolist() == [len(postings[d]) for d in sorted(postings)]
    for term in others:
        if term not in field:
            assert len(keys.keys(term)) == 0 and len(keys.postings(term)[0]) == 0


def test_keys_are_written_in_chunks_without_changing_them(monkeypatch):
    field = {b"a": {d: [d % 7, 10 + d % 5] for d in range(0, 3000, 3)}, b"b": {5: [1]}, b"c": {d: [0] for d in range(500)}}
    whole = written(field)
    monkeypatch.setattr(position_keys, "CHUNK_KEYS", 7)
    chunked = written(field)
    for term in field:
        assert np.array_equal(chunked.keys(term), whole.keys(term))


def test_postings_of_no_keys_are_empty():
    docs, counts = postings_of_keys(np.zeros(0, np.int64))
    assert len(docs) == 0 and len(counts) == 0


def test_a_file_that_is_not_position_keys_is_refused():
    with pytest.raises(ValueError):
        PositionKeys(b"something else entirely, long enough for a header")
