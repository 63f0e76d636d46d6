"""The array-based query path against Whoosh itself: same matches, same exact totals, same
multi-select facet counts, for generated questions over every sample source."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from whoosh import sorting
from whoosh.query import And, Every

from bioimage_search.config import Settings
from bioimage_search.sources import FACTORIES, build_harvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
from indexer.builder import full_build
from indexer.schema import FACETS, FACETS_BY_NAME
from query.compile import compile_query
from query.errors import QuerySyntaxError
from query.filters import build_filters
from query.params import ParamError, parse_search_params
from query.service import SearchService
from query.syntax import parse_query


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    data = tmp_path_factory.mktemp("all-sources")
    settings = Settings(base_dir=data)
    settings.paths.data_dir = str(data)
    with RecordStore(settings.store_path) as store:
        for source in FACTORIES:
            run_harvest(build_harvester(settings, source), store)
        full_build(store, settings.index_dir)
    return SearchService(settings.index_dir, settings.store_path)


def oracle(service, args):
    """What plain Whoosh says: matching accessions and multi-select facet counts."""
    req = parse_search_params(args)
    live = service._current()
    searcher = live.index.searcher()
    node = parse_query(req.query, strict=True).node
    user = compile_query(node, schema=live.index.schema, resolvers=live.resolver.resolvers(), facet_keys=live.resolver.facet_keys())
    filters = build_filters(req, live.resolver, [])
    everything = [q for q in [user, *filters.values()]]
    results = searcher.search(And(everything) if len(everything) > 1 else everything[0], limit=None)
    matched = {hit["accession"] for hit in results}
    counts = {}
    for spec in FACETS:
        others = [q for name, q in filters.items() if name != spec.name]
        facet = sorting.FieldFacet(spec.field, allow_overlap=True, maptype=sorting.Count)
        query = And([user, *others]) if others else user
        groups = searcher.search(query, groupedby={"f": facet}, limit=1).groups("f")
        counts[spec.name] = {k.decode() if isinstance(k, bytes) else k: c for k, c in groups.items() if k}
    return matched, counts


def fast(service, args):
    result = service.search(parse_search_params({**args, "pageSize": ["100"]}))
    counts = {f["name"]: {b["key"]: b["count"] for b in f["buckets"] if b["count"]} for f in result["facets"]}
    return {h["accession"] for h in result["hits"]}, result["totalHits"], counts


TERMS = ["cell", "cells", "microscopy", "zebrafish", "mouse", "human", "screen", "tomography", "EMPIAR-10442", "idr0001",
         "title:light", "organism:human", "organism:\"Danio rerio\"", "imaging_method:confocal", "source:empiar", "source:IDR",
         "release_date:[2019 TO 2023]", "release_date:>2022-06-01", "file_count:>0", "size:>1GB", '"light sheet"',
         "fluoresc*", "mitosis~1", "license:\"CC BY 4.0\"", "xref:EMD-12602", "author:Test", "NOT", "OR", "AND", "-cell"]
FILTERS = st.dictionaries(
    st.sampled_from(["facet.source", "facet.organism", "facet.imaging_method", "facet.license.not", "facet.release_year", "file_count.gte", "has.doi"]),
    st.sampled_from(["bia", "idr", "human", "NCBITaxon:10090", "confocal microscopy", "FBbi:00000246", "CC0 1.0", "2024", "1", "true", "false"]),
    max_size=3,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(TERMS), max_size=4), filters=FILTERS)
def test_same_matches_totals_and_facet_counts_as_whoosh(service, words, filters):
    args = {"query": [" ".join(words)], **{k: [v] for k, v in filters.items()}}
    try:
        expected, expected_counts = oracle(service, args)
    except (QuerySyntaxError, ParamError):
        return
    hits, total, counts = fast(service, args)
    assert total == len(expected)
    assert hits == expected if total <= 100 else hits <= expected
    assert counts == expected_counts


def test_checked_questions_are_not_vacuous(service):
    hits, total, counts = fast(service, {"query": ["cell"], "facet.source": ["bia"]})
    assert total > 5 and len(counts["organism"]) > 2
    assert fast(service, {"query": ["*"]})[1] == 51


@pytest.mark.parametrize("sort, order", [("release_date", "descending"), ("release_date", "ascending"), ("title", "ascending"),
                                         ("size", "descending"), ("file_count", "ascending")])
def test_sorted_pages_follow_the_sort_with_missing_values_last(service, sort, order):
    result = service.search(parse_search_params({"sortBy": [sort], "sortOrder": [order], "pageSize": ["100"]}))
    field = {"release_date": "release_date", "title": "title", "size": "total_size_bytes", "file_count": "file_count"}[sort]
    values = [h[field] for h in result["hits"]]
    present = [v.lower() if isinstance(v, str) else v for v in values if v is not None]
    assert present == sorted(present, reverse=order == "descending")
    assert all(v is None for v in values[len(present):])


def test_repeated_question_is_served_from_the_cache_and_callers_cannot_corrupt_it(service):
    req = parse_search_params({"query": ["cell"]})
    first = service.search(req)
    first["hits"].clear()
    first["totalHits"] = -1
    again = service.search(req)
    assert again["totalHits"] > 0 and again["hits"]


def test_block_decoder_equals_whoosh_postings_on_a_multi_segment_index(tmp_path):
    import numpy as np
    from whoosh import index as whoosh_index

    from harvesters.records import Record
    from indexer.builder import update
    from indexer.generations import current
    from indexer.postings import decode_postings

    with RecordStore(tmp_path / "s.sqlite3") as store:
        def save(i):
            with store.transaction() as db:
                rec = Record(accession=f"S-T{i}", source="bia", title=f"cell imaging {i} " + "cell " * (i % 3), description="a cell study")
                store.save_record(db, rec, b"{}", "h")
        for i in range(300):
            save(i)
        full_build(store, tmp_path / "index")
        for i in range(300, 420):
            save(i)
        update(store, tmp_path / "index")
    ix = whoosh_index.open_dir(current(tmp_path / "index").path)
    with ix.searcher() as searcher:
        reader = searcher.reader()
        assert len(reader.leaf_readers()) > 1  # the update added a segment
        for field in ("title", "description"):
            for term in reader.lexicon(field):
                ids, freqs = decode_postings(reader.postings(field, term))
                matcher = reader.postings(field, term)
                expected = []
                while matcher.is_active():
                    expected.append((matcher.id(), matcher.weight()))
                    matcher.next()
                assert list(zip(ids.tolist(), freqs.tolist())) == expected


def test_warming_decodes_frequent_terms_of_fields_without_position_keys(service):
    live = service._current()
    # Text fields of a full build are read from position keys: nothing to decode ahead.
    assert live.columns.warm(["title", "description"], terms_per_field=20) == 0
    assert live.columns.warm(["identifiers"], terms_per_field=20) > 0
    assert any(field == "identifiers" for field, _ in live.columns._postings)
    hits, total, _ = fast(service, {"query": ["cell"]})
    expected, _ = oracle(service, {"query": ["cell"]})
    assert total == len(expected)


@pytest.fixture(scope="module")
def phrase_windows(service):
    """Runs of 2-4 consecutive index tokens from the stored titles and descriptions, and
    the same runs with two words swapped (mostly not phrases any more)."""
    from indexer.schema import text_analyzer

    live = service._current()
    windows = []
    with live.index.searcher() as searcher:
        for stored in searcher.all_stored_fields():
            for field in ("title", "description"):
                tokens = [t.text for t in text_analyzer()(stored.get(field) or "")]
                for start in range(0, max(0, len(tokens) - 4), 7):
                    run = tokens[start:start + 2 + start % 3]
                    windows.append((field, run))
                    windows.append((field, [run[1], run[0], *run[2:]]))
    return windows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_phrases_match_the_documents_whoosh_matches(service, phrase_windows, data):
    from whoosh.query import Phrase

    field, words = data.draw(st.sampled_from(phrase_windows))
    live = service._current()
    query = Phrase(field, words)
    with live.index.searcher() as searcher:
        expected = set(searcher.docs_for_query(query))
    mask = live.evaluator.mask(query)
    assert set(map(int, mask.nonzero()[0])) == expected, (field, words)


def test_numeric_columns_read_in_bulk_equal_whooshs_values(service, tmp_path):
    import numpy as np
    from whoosh import index as whoosh_index

    from query.columns import read_column

    live = service._current()
    # The live index, and a copy with two more segments (one holding no value of the column).
    ix = whoosh_index.open_dir(live.generation.path)
    for name, dtype in (("release_date", np.uint64), ("file_count", np.int64), ("total_size_bytes", np.int64)):
        reader = ix.reader()
        expected = np.fromiter(reader.column_reader(name, translate=False), dtype=dtype, count=reader.doc_count_all())
        assert np.array_equal(read_column(reader, name, reader.doc_count_all(), dtype), expected), name
    extra = whoosh_index.create_in(tmp_path, ix.schema)
    from datetime import datetime

    for docs in ([{"accession": "S-A", "file_count": 7, "total_size_bytes": 2**40, "release_date": datetime(2020, 1, 2)},
                  {"accession": "S-B"}],
                 [{"accession": "S-C", "file_count": 1}]):
        writer = extra.writer()
        for doc in docs:
            writer.add_document(**doc)
        writer.commit(merge=False)
    reader = extra.reader()
    assert len(reader.leaf_readers()) == 2
    for name, dtype in (("release_date", np.uint64), ("file_count", np.int64), ("total_size_bytes", np.int64)):
        # Whoosh's own values, one at a time per segment; a segment without the column
        # holds its default; a missing value is unsigned, wrapped as numpy wraps it.
        default = reader.schema[name].column_type._default
        values = []
        for leaf, _ in reader.leaf_readers():
            values += list(leaf.column_reader(name, translate=False)) if leaf.has_column(name) else [default] * leaf.doc_count_all()
        expected = np.array(values, np.uint64).astype(dtype)
        assert np.array_equal(read_column(reader, name, reader.doc_count_all(), dtype), expected), name


def test_phrases_and_terms_over_an_updated_index_match_whoosh(tmp_path):
    """Full builds and updates write segments with position keys; the segments updates
    leave are merged by Whoosh's writer into one without; updates delete documents of the
    first segment: phrases and term postings read from both kinds agree with Whoosh."""
    import numpy as np
    from whoosh.query import Phrase

    from harvesters.records import Record
    from indexer.builder import update

    words = ["cell", "imaging", "mouse", "brain", "light", "sheet", "screen"]

    def save(store, i, version=0):
        text = " ".join(words[(i * k + version) % len(words)] for k in range(1, 9))
        with store.transaction() as db:
            rec = Record(accession=f"S-T{i}", source="bia", title=f"{text} {i}", description=f"a {text} study")
            store.save_record(db, rec, b"{}", f"h{version}")

    with RecordStore(tmp_path / "s.sqlite3") as store:
        for i in range(300):
            save(store, i)
        full_build(store, tmp_path / "index")
        for start in range(250, 420, 17):  # 10 updates: 50 replaced (deleted from the first segment), 120 new
            for i in range(start, min(start + 17, 420)):
                save(store, i, version=1)
            update(store, tmp_path / "index")
    service = SearchService(tmp_path / "index", tmp_path / "s.sqlite3")
    live = service._current()
    with_keys = [bool(part.position_keys) for part in live.columns._parts]
    assert with_keys.count(True) >= 2 and False in with_keys  # the build's, the last update's; the merged one
    from indexer.schema import text_analyzer

    terms = [t.text for t in text_analyzer()(" ".join(words))]  # index terms (stemmed)
    with live.pool.use() as searcher:
        for field in ("title", "description"):
            for a in terms:
                ids, weights = live.columns.postings(field, a)
                matcher = searcher.reader().postings(field, a)
                expected = []
                while matcher.is_active():
                    expected.append((matcher.id(), matcher.weight()))
                    matcher.next()
                assert sorted(zip(ids.tolist(), weights.tolist())) == expected, (field, a)
                for b in terms:
                    for phrase in ([a, b], [a, b, a]):
                        query = Phrase(field, phrase)
                        mask = live.evaluator.mask(query)
                        assert set(np.flatnonzero(mask).tolist()) == set(searcher.docs_for_query(query)), (field, phrase)
        assert live.evaluator.mask(Phrase("title", ["cell", "imag"])).sum() > 0


def test_a_service_opened_in_the_background_warms_before_any_request(service, tmp_path):
    import time

    started = SearchService(service.index_dir, service.store_path)
    assert not started.is_warm()
    started.open_in_background()
    deadline = time.monotonic() + 60
    while not started.is_warm():
        assert time.monotonic() < deadline, "the generation was not opened and warmed"
        time.sleep(0.05)
    assert started._live is not None  # opened without a search
    nothing = SearchService(tmp_path / "no-index", tmp_path / "no-store.sqlite3")
    nothing.open_in_background()  # no index yet: nothing to open, and no error
    time.sleep(0.2)
    assert nothing._live is None and not nothing.is_warm()


def test_updates_keep_the_number_of_small_segments_bounded(tmp_path):
    from harvesters.records import Record
    from indexer.builder import MAX_SMALL_SEGMENTS, update
    from indexer.generations import current
    from indexer.storage import open_for_search

    with RecordStore(tmp_path / "s.sqlite3") as store:
        def save(i):
            with store.transaction() as db:
                rec = Record(accession=f"S-U{i}", source="bia", title=f"update {i}", description="a study")
                store.save_record(db, rec, b"{}", "h")

        for i in range(200):
            save(i)
        full_build(store, tmp_path / "index")
        for i in range(200, 200 + 3 * (MAX_SMALL_SEGMENTS + 1)):
            save(i)
            update(store, tmp_path / "index")
            segments = open_for_search(current(tmp_path / "index").path)._segments()
            assert len(segments) <= MAX_SMALL_SEGMENTS + 2
    service = SearchService(tmp_path / "index", tmp_path / "s.sqlite3")
    assert service.search(parse_search_params({"query": ["update"]}))["totalHits"] == 200 + 3 * (MAX_SMALL_SEGMENTS + 1)
