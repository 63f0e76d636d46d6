"""The bulk segment writer writes what Whoosh's own writer writes: the same terms, term
statistics, posting blocks (ids, weights, positions, length bytes), stored fields, field
lengths and sort columns, on the real sample records and on records big enough for
multi-block posting lists."""

from __future__ import annotations

import pickle
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
from indexer.bulk_writer import BulkSegmentWriter, plan_for
from indexer.documents import to_document
from indexer.position_keys import open_position_keys
from indexer.schema import build_schema, name_analyzer, text_analyzer
from whoosh.fields import KEYWORD, TEXT


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


def build(path, docs, bulk: bool):
    path.mkdir()
    ix = whoosh_index.create_in(path, build_schema())
    writer = BulkSegmentWriter(ix) if bulk else ix.writer()
    for doc in docs:
        writer.add_document(**doc)
    writer.commit()
    return ix


def decoded_postings(postfile: bytes, terminfo) -> list:
    """A term's posting blocks as (block info, (ids, weights, values)) tuples, decoded: the
    pickles may differ in memo references (shared value objects) but not in content."""
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


def test_bulk_segment_holds_what_whooshs_writer_writes(sample_documents, tmp_path):
    plain = build(tmp_path / "plain", sample_documents, bulk=False)
    bulk = build(tmp_path / "bulk", sample_documents, bulk=True)
    plain_segment, plain_files = segment_contents(plain)
    bulk_segment, bulk_files = segment_contents(bulk)

    whoosh_files = {name for name in bulk_files if not name.endswith(".pos")}
    assert sorted(whoosh_files) == sorted(plain_files)
    for name, content in plain_files.items():
        if name not in ("pst", "trm"):  # columns, lengths and stored fields: byte for byte
            assert bulk_files[name] == content, name
    assert bulk_segment._fieldlengths == plain_segment._fieldlengths
    assert bulk_segment.doc_count_all() == plain_segment.doc_count_all() == len(sample_documents)

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
    assert multi_block > 10, "the documents must exercise multi-block posting lists"


def test_position_keys_hold_the_positions_whoosh_stores(sample_documents, tmp_path):
    """Every term of every positional field: its keys are the (document, position) pairs
    Whoosh's postings hold, and its postings derived from them are Whoosh's ids and weights."""
    bulk = build(tmp_path / "bulk", sample_documents, bulk=True)
    reader = bulk.reader()
    (leaf, _), = reader.leaf_readers()
    positional = [name for name, f in bulk.schema.items() if f.format and f.format.supports("positions")]
    assert {"title", "description", "author"} <= set(positional)
    checked = 0
    for name in positional:
        keys = open_position_keys(leaf._storage, leaf._segment, name)
        assert keys is not None, name
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
    assert checked > 1000


def test_the_bulk_index_answers_queries_like_whooshs(sample_documents, tmp_path):
    from whoosh.qparser import MultifieldParser

    plain = build(tmp_path / "plain", sample_documents, bulk=False)
    bulk = build(tmp_path / "bulk", sample_documents, bulk=True)
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
    for analyzer in (text_analyzer(), name_analyzer()):
        plan = plan_for(TEXT(analyzer=analyzer, phrase=True))
        assert plan is not None
        expected = [t.text for t in analyzer(text, positions=True)]
        assert plan.tokens(text) == expected


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
