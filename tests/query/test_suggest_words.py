"""The suggestion data's word counts: additive per document (so per-segment counts minus
deleted documents equal a fresh count), kept across an incremental update and in a
generation's store directory for other processes; and a request does not wait for an
index's first suggestion data longer than its bound."""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
from indexer.builder import full_build, update
from indexer.generations import current
from indexer.storage import open_for_search
from query import suggest as suggest_module
from query import suggest_words
from query.params import parse_search_params
from query.service import SearchService
from query.suggest import build_suggest_index
from query.suggest_words import STORE_DIR, SegmentWords, WordCounts

# --------------------------------------------------------------------------- additive counts

_word = st.sampled_from(["Cell", "cell", "cells", "HeLa", "hela", "Müller", "muller", "the", "of", "2024",
                         "light-sheet", "Zebrafish", "ZEBRAFISH", "nucleus", "é", "x_y"])
_text = st.lists(_word, max_size=8).map(" ".join)
_keyword = st.lists(_word, min_size=1, max_size=3).map(" ".join)
_document = st.fixed_dictionaries({
    "title": _text,
    "description": _text,
    "summary": st.fixed_dictionaries({
        "keywords": st.lists(st.one_of(_keyword, st.lists(_keyword, min_size=2, max_size=3).map(", ".join)), max_size=3),
        "organisms": st.lists(st.fixed_dictionaries({"name": _text, "common_name": _text}), max_size=2),
        "imaging_methods": st.lists(st.fixed_dictionaries({"name": _text}), max_size=2),
    }).map(lambda summary: orjson.dumps(summary).decode()),
})


def _counts(documents) -> WordCounts:
    counts = WordCounts()
    for document in documents:
        counts.add_document(document)
    return counts


def _as_plain(counts: WordCounts) -> dict:
    return orjson.loads(counts.to_json())


@settings(max_examples=150, deadline=None)
@given(st.lists(_document, max_size=8), st.data())
def test_counting_documents_out_equals_never_counting_them(documents, data):
    removed = data.draw(st.sets(st.sampled_from(range(len(documents))) if documents else st.nothing()))
    counts = _counts(documents)
    for i in sorted(removed):
        counts.add_document(documents[i], sign=-1)
    assert _as_plain(counts) == _as_plain(_counts(d for i, d in enumerate(documents) if i not in removed))


@settings(max_examples=100, deadline=None)
@given(st.lists(_document, max_size=8), st.integers(min_value=0, max_value=8))
def test_adding_the_counts_of_two_parts_equals_counting_the_whole(documents, cut):
    merged = _counts(documents[:cut])
    merged.add(_counts(documents[cut:]))
    assert _as_plain(merged) == _as_plain(_counts(documents))
    assert _as_plain(WordCounts.from_json(merged.to_json())) == _as_plain(merged)


def test_a_document_is_counted_once_per_word_and_its_spellings_are_kept():
    counts = _counts([{"title": "Zebrafish heart", "description": "zebrafish ZEBRAFISH larvae",
                       "summary": orjson.dumps({"keywords": ["light sheet, heart regeneration"]}).decode()}])
    assert counts.words["zebrafish"] == 1 and counts.plain["zebrafish"] == 1
    assert counts.forms["zebrafish"] == {"Zebrafish": 2, "ZEBRAFISH": 1}  # the title is read twice: text and name
    assert counts.terms["zebrafish"] == 1 and "larvae" not in counts.terms
    assert set(counts.phrases) == {"light sheet", "heart regeneration"}
    assert counts.titles == {"zebrafish heart": {"Zebrafish heart": 1}}


def test_an_unknown_format_is_recounted():
    assert WordCounts.from_json(orjson.dumps({"format": suggest_words.FORMAT + 1})) is None


# --------------------------------------------------------------------------- over a real index


@pytest.fixture()
def indexed(tmp_path):
    store_path, index_dir = tmp_path / "store.sqlite3", tmp_path / "index"
    with RecordStore(store_path) as store:
        run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
        full_build(store, index_dir, workers=2, parallel_min_records=0)  # two segments
    return store_path, index_dir


def _update(store_path, index_dir):
    """Change three titles, add a dataset and delete one; apply the update."""
    with RecordStore(store_path) as store:
        records = list(store.iter_records())
        with store.transaction() as db:
            for record in records[:3]:
                changed = record.model_copy(update={"title": record.title + " Quokkafish"})
                store.save_record(db, changed, b"{}", changed.content_fingerprint())
            added = records[4].model_copy(update={"accession": "S-NEW1", "title": "Wombat cortex atlas"})
            store.save_record(db, added, b"{}", added.content_fingerprint())
        store.mark_deleted([records[5].accession])
        update(store, index_dir)


def _reader(index_dir):
    return open_for_search(current(index_dir).path).searcher().reader()


def test_after_an_update_only_new_segments_are_read_and_the_counts_equal_a_fresh_count(indexed, monkeypatch):
    store_path, index_dir = indexed
    read = []
    real = suggest_words.count_segment
    monkeypatch.setattr(suggest_words, "count_segment", lambda leaf: read.append(leaf.doc_count_all()) or real(leaf))
    words = SegmentWords()
    before = words.live_counts(_reader(index_dir))
    assert len(read) == 2
    _update(store_path, index_dir)
    reader = _reader(index_dir)
    assert reader.has_deletions()
    after = words.live_counts(reader)
    assert len(read) == 3 and read[-1] == 4  # the update's segment only
    assert _as_plain(after) == _as_plain(SegmentWords().live_counts(reader))
    assert after.words["quokkafish"] == 3 and "quokkafish" not in before.words
    assert after.titles["wombat cortex atlas"] == {"Wombat cortex atlas": 1}
    assert sum(sum(c.values()) for c in after.titles.values()) == reader.doc_count()
    assert sum(sum(c.values()) for c in before.titles.values()) == reader.doc_count()  # one added, one deleted


def test_the_service_keeps_counts_in_the_generation_and_another_process_loads_them(indexed, monkeypatch):
    store_path, index_dir = indexed
    service = SearchService(index_dir, store_path)
    assert [i["text"] for i in service.suggest("zebraf", 5)]
    live = service._current()
    kept = sorted((live.generation.path / STORE_DIR).glob("*.json"))
    assert len(kept) == 2  # one per segment
    gone = live.generation.path / STORE_DIR / "MAIN_mergedaway.json"  # a segment an update merged away
    gone.write_bytes(kept[0].read_bytes())
    monkeypatch.setattr(suggest_words, "count_segment", lambda leaf: pytest.fail("counted instead of loaded"))
    with live.pool.use() as searcher:
        loaded = SegmentWords().live_counts(searcher.reader(), live.generation.path / STORE_DIR)
        assert sorted((live.generation.path / STORE_DIR).glob("*.json")) == kept
        index = build_suggest_index(searcher, live.resolver.labels, loaded)
        assert index.complete("zebraf", 5) == service.suggest("zebraf", 5)


def test_suggestions_after_an_update_equal_those_built_from_scratch(indexed):
    store_path, index_dir = indexed
    service = SearchService(index_dir, store_path)
    service.suggest("zeb", 5)
    _update(store_path, index_dir)
    for _ in range(500):  # the old data answers while the new is built in the background
        if service.suggest("quokk", 5):
            break
        time.sleep(0.01)
    assert service.suggest("quokk", 5)[0]["text"].lower() == "quokkafish"
    live = service._current()
    with live.pool.use() as searcher:
        scratch = build_suggest_index(searcher, live.resolver.labels)
    for prefix in ("quokk", "wom", "cell", "hum", "light sh", "mouse", "con", "wombat cortex"):
        assert service.suggest(prefix, 10) == scratch.complete(prefix, 10), prefix


def test_a_request_waits_for_the_first_suggestion_data_only_as_long_as_its_bound(indexed, monkeypatch):
    store_path, index_dir = indexed
    release = threading.Event()
    real = suggest_module.build_suggest_index
    monkeypatch.setattr(suggest_module, "build_suggest_index", lambda *a: release.wait(10) and real(*a))
    monkeypatch.setattr(suggest_module, "FIRST_BUILD_WAIT_S", 0.2)
    service = SearchService(index_dir, store_path)
    started = time.perf_counter()
    assert service.suggest("zebraf", 5) == []
    result = service.search(parse_search_params({"query": ["zebrafsh"]}))
    assert result["totalHits"] == 0 and result["didYouMean"] is None
    assert time.perf_counter() - started < 5
    release.set()
    for _ in range(500):
        if service.suggest("zebraf", 5):
            break
        time.sleep(0.01)
    assert service.suggest("zebraf", 5)
    assert service.search(parse_search_params({"query": ["zebrafsh"]}))["didYouMean"]["query"] == "zebrafish"


def test_without_a_writable_store_the_counts_are_kept_in_memory(indexed, tmp_path, monkeypatch):
    _, index_dir = indexed
    blocked = tmp_path / "a file"
    blocked.write_text("not a directory")
    read = []
    real = suggest_words.count_segment
    monkeypatch.setattr(suggest_words, "count_segment", lambda leaf: read.append(1) or real(leaf))
    words = SegmentWords()
    reader = _reader(index_dir)
    first = words.live_counts(reader, blocked / STORE_DIR)
    second = words.live_counts(reader, blocked / STORE_DIR)
    assert len(read) == 2 and _as_plain(first) == _as_plain(second) == _as_plain(SegmentWords().live_counts(reader))
    assert second.words["zebrafish"] > 0
