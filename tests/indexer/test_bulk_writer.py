"""The bulk segment writer writes what Whoosh's own writer writes: the same terms, term
statistics, posting blocks (ids, weights, positions, length bytes), stored fields, field
lengths and sort columns, on the real sample records and on records big enough for
multi-block posting lists, and on random documents written with small blocks. The bulk
analysis and the position values laid out with numpy are checked against Whoosh's analyzers
and ``Positions.encode``."""

from __future__ import annotations

import pickle
import random
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
import numpy as np
from indexer.bulk_writer import BulkSegmentWriter, encode_positions, keyword_plan_for, plan_for
from indexer.documents import to_document
from indexer.position_keys import open_position_keys
from indexer.segments import POSTING_COMPRESSION
from indexer.schema import build_schema, name_analyzer, text_analyzer
from whoosh.analysis import IDTokenizer, LowercaseFilter, RegexTokenizer, StandardAnalyzer
from whoosh.codec.whoosh3 import W3Codec
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.formats import Positions


@pytest.fixture(scope="module")
def sample_documents(tmp_path_factory) -> list[dict]:
    """The sample archive's records as index documents, and 150 renamed copies of some
    of them (so frequent terms span more than one 128-posting block)."""
    path = tmp_path_factory.mktemp("bulk") / "store.sqlite3"
    with RecordStore(path) as store:
        run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
        records = list(store.iter_records())
    docs = [to_document(r) for r in records]
    for i in range(150):
        copy = records[i % len(records)].model_copy(update={"accession": f"S-COPY{i}"})
        docs.append(to_document(copy))
    return docs


def build(path, docs, bulk: bool, schema=None, codec=None):
    path.mkdir()
    ix = whoosh_index.create_in(path, schema or build_schema())
    writer = BulkSegmentWriter(ix, codec=codec) if bulk else ix.writer(codec=codec)
    for doc in docs:
        try:
            writer.add_document(**doc)
        except ValueError:
            pass  # a rejected document (see test_a_rejected_document_leaves_no_postings)
    writer.commit()
    return ix


def decoded_postings(postfile: bytes, terminfo) -> list:
    """A term's posting blocks as (block info, (ids, weights, values)) tuples, decoded (to
    show which term and block differ before the files are compared byte for byte)."""
    offset, (length,) = terminfo._offset, terminfo._length
    raw = postfile[offset: offset + length]
    assert raw[:4] == b"W3Bl"
    blocks, pos = [], 4
    while pos < len(raw):
        (size,) = struct.unpack("!i", raw[pos: pos + 4])
        body = raw[pos + 4: pos + 4 + abs(size)]
        info = pickle.loads(body)
        data = body[len(pickle.dumps(info, 2)):]
        blocks.append((info, pickle.loads(zlib.decompress(data) if info[3] else data)))
        pos += 4 + abs(size)
    assert size < 0, "the last block is marked by a negative length"
    return blocks


def segment_contents(ix) -> tuple[dict, dict]:
    (segment,) = ix._segments()
    files = segment.open_compound_file(ix.storage)
    return segment, {name.split(".", 1)[1]: files.open_file(name).read() for name in files.list()}


def term_stats(info) -> tuple:
    return (info._weight, info._df, info._minlength, info._maxlength, info._maxweight, info._minid, info._maxid)


def assert_same_segment(plain, bulk, columns: bool = True) -> int:
    """The bulk segment holds what Whoosh's writer wrote, file for file byte for byte, and
    term for term the same postings (what a difference would be); returns its multi-block
    terms. ``columns=False`` leaves out the column files (lengths, stored fields)."""
    plain_segment, plain_files = segment_contents(plain)
    bulk_segment, bulk_files = segment_contents(bulk)

    assert bulk_segment.doc_count_all() == plain_segment.doc_count_all()
    assert dict(bulk_segment._fieldlengths) == dict(plain_segment._fieldlengths)  # totals for BM25

    plain_reader, bulk_reader = plain.reader(), bulk.reader()
    terms = list(plain_reader.all_terms())
    assert list(bulk_reader.all_terms()) == terms
    multi_block = 0
    for fieldname, text in terms:
        expected, got = plain_reader.term_info(fieldname, text), bulk_reader.term_info(fieldname, text)
        assert term_stats(got) == term_stats(expected), (fieldname, text)
        blocks = decoded_postings(plain_files["pst"], expected)
        assert decoded_postings(bulk_files["pst"], got) == blocks, (fieldname, text)
        multi_block += len(blocks) > 1

    whoosh_files = {name for name in bulk_files if not name.endswith(".pos")}
    assert sorted(whoosh_files) == sorted(plain_files)
    for name, content in plain_files.items():
        if columns or name in ("pst", "trm"):
            assert bulk_files[name] == content, name
    return multi_block


def assert_position_keys_hold_whooshs_positions(ix) -> int:
    """Every term of every positional field: its keys are the (document, position) pairs
    Whoosh's postings hold, and its postings derived from them are Whoosh's ids and weights.
    Returns the number of terms checked."""
    reader = ix.reader()
    (leaf, _), = reader.leaf_readers()
    checked = 0
    for name in positional_fields(ix.schema):
        keys = open_position_keys(leaf._storage, leaf._segment, name)
        if keys is None:  # a field without postings has no file
            assert not list(reader.lexicon(name)), name
            continue
        for text in reader.lexicon(name):
            matcher = reader.postings(name, text)
            expected, ids, weights = [], [], []
            while matcher.is_active():
                expected += [(matcher.id(), p) for p in matcher.value_as("positions")]
                ids.append(matcher.id())
                weights.append(matcher.weight())
                matcher.next()
            got = keys.keys(text)
            assert [(int(k) >> 32, int(k) & 0xFFFFFFFF) for k in got] == expected, (name, text)
            docs, counts = keys.postings(text)
            assert docs.tolist() == ids and counts.astype(float).tolist() == weights, (name, text)
            checked += 1
        assert len(keys.keys(b"\xff no such term")) == 0
    return checked


def positional_fields(schema) -> list[str]:
    """The fields the bulk analysis writes position keys for."""
    return [name for name, f in schema.items() if plan_for(f) is not None]


# Whoosh's default compression, and the one our builds write with.
COMPRESSIONS = sorted({3, POSTING_COMPRESSION})


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_bulk_segment_holds_what_whooshs_writer_writes(sample_documents, tmp_path, compression):
    codec = W3Codec(compression=compression)
    plain = build(tmp_path / "plain", sample_documents, bulk=False, codec=codec)
    bulk = build(tmp_path / "bulk", sample_documents, bulk=True, codec=codec)
    assert bulk.doc_count_all() == len(sample_documents)
    assert assert_same_segment(plain, bulk) > 10, "the documents must exercise multi-block posting lists"


def test_position_keys_hold_the_positions_whoosh_stores(sample_documents, tmp_path):
    bulk = build(tmp_path / "bulk", sample_documents, bulk=True)
    assert {"title", "description", "author"} <= set(positional_fields(bulk.schema))
    assert assert_position_keys_hold_whooshs_positions(bulk) > 1000


def small_schema() -> Schema:
    """A field of every kind the bulk writer treats differently."""
    return Schema(
        key=ID(stored=True, sortable=True),
        tags=KEYWORD(lowercase=True, commas=True, scorable=True),
        flags=KEYWORD(),
        body=TEXT(analyzer=text_analyzer(), phrase=True, stored=True),
        name=TEXT(analyzer=name_analyzer(), phrase=True),
        other=TEXT(analyzer=StandardAnalyzer(), phrase=True),  # analysed by Whoosh
        count=NUMERIC(numtype=int, bits=64, signed=False, shift_step=16, sortable=True),
    )


# Blocks of a few postings: a few documents give terms of one posting, of one block (the
# last of a term may hold one posting) and of several blocks, and blocks of up to three
# values (pickled as TUPLE1-3) and of more (MARK ... TUPLE).
SMALL_BLOCKS = (2, 3, 5)
COMMON = st.sampled_from(["cell", "cells", "Mouse", "mouse", "EM", "İstanbul", "straße", "3.5", "o'neil", "x-ray"])
PHRASES = st.lists(st.one_of(COMMON, COMMON, st.text(max_size=12)), max_size=12).map(" ".join)
SMALL_DOCUMENT = st.fixed_dictionaries({
    "key": st.text(min_size=1, max_size=6),
    "tags": st.lists(st.one_of(COMMON, st.text(max_size=6)), max_size=5).map(",".join) | st.none(),
    "flags": st.lists(COMMON, max_size=4).map(" ".join),
    "body": PHRASES | st.none(),
    "name": PHRASES,
    "other": PHRASES,
    "count": st.integers(0, 2**40) | st.sampled_from([0, 7]) | st.none(),
})


def build_both(docs: list[dict], blocklimit: int = 3, compression: int = 3):
    root = Path(tempfile.mkdtemp())
    codec = W3Codec(blocklimit=blocklimit, compression=compression)
    plain = build(root / "plain", docs, bulk=False, schema=small_schema(), codec=codec)
    bulk = build(root / "bulk", docs, bulk=True, schema=small_schema(), codec=codec)
    return plain, bulk


@settings(max_examples=60, deadline=None)
@given(st.lists(SMALL_DOCUMENT, min_size=1, max_size=25), st.sampled_from(SMALL_BLOCKS), st.sampled_from(COMPRESSIONS))
def test_random_documents_give_whooshs_postings(docs, blocklimit, compression):
    """Terms of one posting (the fast path), of one block and of several blocks."""
    plain, bulk = build_both(docs, blocklimit, compression)
    assert_same_segment(plain, bulk)
    assert_position_keys_hold_whooshs_positions(bulk)


def test_many_documents_give_whooshs_postings():
    """Whoosh's blocks of 128: a block's pickle remembers more than 256 objects (LONG_BINPUT),
    positions and counts of one, two and four bytes, uniform and mixed weights, and a term
    more than 1,000 times in a document (its value pickled in batches)."""
    rng = random.Random(7)
    words = ["cell", "mouse", "EM", "x-ray", "o'neil", "straße"] + [f"w{i}" for i in range(300)]
    docs = [{"key": f"k{i}", "tags": f"cell,EM,t{i % 7}", "flags": "EM mouse",
             "body": " ".join(rng.choice(words) for _ in range(rng.choice([1, 5, 40, 300, 70000 if i == 3 else 9]))),
             "name": "o'neil x-ray" if i % 2 else "", "other": "the cell", "count": i % 5} for i in range(400)]
    docs[5]["body"] = "mouse " * 1500
    plain, bulk = build_both(docs, blocklimit=128)
    assert assert_same_segment(plain, bulk) > 5
    assert_position_keys_hold_whooshs_positions(bulk)


def test_a_rejected_document_leaves_no_postings():
    good = [{"key": "a", "body": "cell mouse", "count": 1}, {"key": "b", "body": "mouse", "count": 2}]
    rejected = {"key": "c", "tags": "new,tag", "body": "cell unique words", "count": "not a number"}
    plain, _ = build_both(good)
    _, bulk = build_both([good[0], rejected, good[1]])
    # Whoosh's per-document writer keeps the column values (body's length) a rejected
    # document added before the error: only the postings are the writer's to drop.
    assert assert_same_segment(plain, bulk, columns=False) == 0
    assert_position_keys_hold_whooshs_positions(bulk)


def test_values_the_plans_do_not_analyse_go_through_whoosh():
    """A list of words for a text or keyword field: Whoosh's own postings of it."""
    docs = [{"key": "a", "body": ["Cell", "cell", "mice"], "tags": ["EM", "x ray"], "name": ["o'neil"]},
            {"key": "b", "body": "cell mice", "tags": "em", "name": "O'Neil"}]
    plain, bulk = build_both(docs)
    assert_same_segment(plain, bulk)
    assert_position_keys_hold_whooshs_positions(bulk)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_the_bulk_index_answers_queries_like_whooshs(sample_documents, tmp_path, compression):
    """Whoosh's own searcher over our segments, as written by our builds (uncompressed
    blocks) and with Whoosh's default compression."""
    from whoosh.qparser import MultifieldParser

    plain = build(tmp_path / "plain", sample_documents, bulk=False)
    bulk = build(tmp_path / "bulk", sample_documents, bulk=True, codec=W3Codec(compression=compression))
    parser = MultifieldParser(["title", "description", "content"], plain.schema)
    for text in ['"electron microscopy"', "cell* AND nucleus", "mouse OR zebrafish", "organism:human"]:
        query = parser.parse(text)
        with plain.searcher() as a, bulk.searcher() as b:
            expected = [(hit["accession"], round(hit.score, 5)) for hit in a.search(query, limit=None)]
            assert [(hit["accession"], round(hit.score, 5)) for hit in b.search(query, limit=None)] == expected


TEXT_SAMPLES = st.text(
    alphabet=st.one_of(st.sampled_from(list("abcXYZ éİßΣς'’.-,;  \t\n0123456789_")), st.characters()),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(TEXT_SAMPLES)
def test_bulk_analysis_yields_the_analyzers_tokens(text):
    other_pattern = RegexTokenizer(r"\w+(\.?\w+)*") | LowercaseFilter()
    for analyzer, by_words in ((text_analyzer(), True), (name_analyzer(), True), (other_pattern, False)):
        plan = plan_for(TEXT(analyzer=analyzer, phrase=True))
        assert plan is not None and plan.by_words == by_words
        expected = [t.text for t in analyzer(text, positions=True)]
        assert plan.tokens(text) == expected


KEYWORD_FIELDS = (ID(), ID(analyzer=IDTokenizer() | LowercaseFilter()), KEYWORD(), KEYWORD(lowercase=True, commas=True),
                  KEYWORD(commas=True, scorable=True, field_boost=2.0))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT_SAMPLES, st.sampled_from([",", " , ", "A,a", "x x"])), max_size=4).map("".join))
def test_keyword_analysis_yields_whooshs_items(text):
    for fieldobj in KEYWORD_FIELDS:
        plan = keyword_plan_for(fieldobj)
        assert plan is not None
        assert outcome(lambda: sorted(plan.items(text))) == outcome(lambda: sorted(fieldobj.index(text)))


def outcome(function):
    """What ``function`` returns, or the type of what it raises (text that UTF-8 cannot
    encode: a lone surrogate)."""
    try:
        return function()
    except ValueError as error:
        return type(error)


def test_fields_with_their_own_index_go_through_whoosh():
    for fieldobj in (NUMERIC(), DATETIME(), TEXT(), KEYWORD(analyzer=StandardAnalyzer())):
        assert keyword_plan_for(fieldobj) is None


POSITION_LISTS = st.lists(st.sets(st.integers(0, 2**31 - 1) | st.integers(0, 300), min_size=1, max_size=12).map(sorted),
                          max_size=30)


@settings(max_examples=300, deadline=None)
@given(POSITION_LISTS)
def test_position_values_are_whooshs_encoding(lists):
    assert encoded(lists) == [Positions().encode(positions) for positions in lists]


def test_long_position_lists_are_whooshs_encoding():
    """Lists around pickle's batch of 1,000 items, alone and among short ones."""
    lists = [list(range(0, 3 * n, 3)) for n in (999, 1000, 1001, 2500)] + [[5], [1, 70000]]
    assert encoded(lists) == [Positions().encode(positions) for positions in lists]


def encoded(lists: list[list[int]]) -> list[bytes]:
    counts = np.array([len(p) for p in lists], np.int64)
    starts = np.cumsum(counts) - counts
    positions = np.array([p for ps in lists for p in ps], np.uint32)
    return encode_positions(positions, starts, counts)


def test_fields_the_bulk_analysis_cannot_mirror_go_through_whoosh():
    from whoosh.analysis import StandardAnalyzer

    assert plan_for(TEXT(analyzer=StandardAnalyzer())) is None  # a stop filter
    assert plan_for(TEXT(analyzer=text_analyzer(), phrase=False)) is None  # no positions
    assert plan_for(KEYWORD(commas=True)) is None


def test_the_bulk_writer_refuses_to_merge_segments(sample_documents, tmp_path):
    ix = build(tmp_path / "bulk", sample_documents[:5], bulk=True)
    writer = BulkSegmentWriter(ix)
    with pytest.raises(NotImplementedError):
        writer.add_reader(ix.reader())
    writer.add_document(**sample_documents[5])
    writer.commit(optimize=True)  # asked to merge: adds its segment, merges nothing
    assert len(ix._segments()) == 2 and ix.doc_count() == 6
