"""Reopening a generation after an incremental update reads only the new segment, and the
arrays it assembles equal those read from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
from indexer.builder import full_build, update
from query.columns import GenerationColumns
from query.params import parse_search_params
from query.service import SearchService


@pytest.fixture()
def updated(tmp_path, monkeypatch):
    """A service whose generation was opened, then updated (changes, a deletion, an
    addition) and reopened; with the number of segments read at each open."""
    store_path, index_dir = tmp_path / "store.sqlite3", tmp_path / "index"
    reads = []
    real = GenerationColumns._read_segment
    monkeypatch.setattr(GenerationColumns, "_read_segment", staticmethod(lambda leaf: reads.append(1) or real(leaf)))
    with RecordStore(store_path) as store:
        run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
        full_build(store, index_dir, workers=2, parallel_min_records=0)  # two segments
        service = SearchService(index_dir, store_path)
        service.search(parse_search_params({"query": ["cell"]}))
        opened = len(reads)
        records = list(store.iter_records())
        with store.transaction() as db:
            for record in records[:3]:
                changed = record.model_copy(update={"title": record.title + " zebrafish", "file_formats": ["zarr"]})
                store.save_record(db, changed, b"{}", changed.content_fingerprint())
            added = records[4].model_copy(update={"accession": "S-NEW1"})
            store.save_record(db, added, b"{}", added.content_fingerprint())
        store.mark_deleted([records[5].accession])
        update(store, index_dir)
    service.search(parse_search_params({"query": ["cell"]}))
    return service, opened, len(reads) - opened


def test_a_reopen_reads_only_new_segments_and_equals_a_fresh_read(updated):
    service, first, reopened = updated
    live = service._current()
    assert first == 2 and reopened == 1
    fresh = GenerationColumns(live.pool)  # no cache: every segment read again
    cached = live.columns
    assert np.array_equal(cached.live, fresh.live) and not cached.live.all()
    assert cached.accessions == fresh.accessions and cached.title_values == fresh.title_values
    for name in ("release_date", "has_date", "file_count", "total_size", "accession_rank", "title_rank"):
        assert np.array_equal(getattr(cached, name), getattr(fresh, name)), name
    masks = [cached.live, cached.live & (np.arange(cached.size) % 2 == 0)]
    for group in ("facets", "trees"):
        for name, facet in getattr(cached, group).items():
            other = getattr(fresh, group)[name]
            assert facet.keys == other.keys, name
            for mask in masks:
                assert facet.count(mask) == other.count(mask), name
            for key, ids in facet.postings.items():
                assert np.array_equal(ids[cached.live[ids]], other.postings[key][fresh.live[other.postings[key]]]), (name, key)


def test_searches_after_the_update_see_it(updated):
    service, _, _ = updated
    result = service.search(parse_search_params({"query": ["zebrafish"], "facet.file_format": ["zarr"], "pageSize": ["50"]}))
    assert result["totalHits"] == 3
    assert service.search(parse_search_params({"query": ["accession:S-NEW1"]}))["totalHits"] == 1
