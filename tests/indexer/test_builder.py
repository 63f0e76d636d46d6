"""Index generations on a real Whoosh index: full builds swap atomically, updates touch only
changed records, and a failed build leaves the last good generation serving."""

from __future__ import annotations

import pytest
from whoosh import index as whoosh_index

from harvesters.records import License, Record
from harvesters.store import RecordStore
from indexer import segments
from indexer.builder import IndexBusyError, full_build, update, writer_lock
from indexer.generations import current, list_generations


def record(acc: str, title: str, **extra) -> Record:
    return Record(accession=acc, source="bia", title=title, release_date="2024-01-02", **extra)


def save(store: RecordStore, rec: Record) -> None:
    with store.transaction() as db:
        store.save_record(db, rec, b"{}", rec.content_fingerprint())


def titles(index_dir) -> dict[str, str]:
    ix = whoosh_index.open_dir(current(index_dir).path)
    with ix.searcher() as searcher:
        return {doc["accession"]: doc["title"] for doc in searcher.all_stored_fields()}


@pytest.fixture()
def store(tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        for i in range(5):
            save(store, record(f"S-T{i}", f"title {i}", license=License(name="CC0 1.0")))
        yield store


def test_full_build_swaps_in_a_new_generation_and_keeps_n(store, tmp_path):
    index_dir = tmp_path / "index"
    names = [full_build(store, index_dir, keep=2).generation for _ in range(3)]
    assert current(index_dir).name == names[-1]
    assert [p.name for p in list_generations(index_dir)] == names[-2:]
    assert current(index_dir).meta["doc_count"] == 5
    assert current(index_dir).labels()["license"] == {"CC0 1.0": "CC0 1.0"}


def test_update_applies_only_changes_and_deletions(store, tmp_path):
    index_dir = tmp_path / "index"
    full_build(store, index_dir)
    generation = current(index_dir).name
    save(store, record("S-T1", "changed title"))
    save(store, record("S-NEW", "a new one"))
    store.mark_deleted(["S-T3"])
    summary = update(store, index_dir)
    assert (summary.indexed, summary.deleted, summary.total) == (2, 1, 5)
    assert summary.generation == generation  # in place, no new generation
    docs = titles(index_dir)
    assert docs["S-T1"] == "changed title" and "S-NEW" in docs and "S-T3" not in docs
    assert update(store, index_dir).indexed == 0  # nothing new since


def test_failed_build_leaves_last_good_generation(store, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    good = full_build(store, index_dir).generation
    calls = {"n": 0}
    real = segments.to_document

    def explode(rec):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(rec)

    monkeypatch.setattr(segments, "to_document", explode)
    with pytest.raises(RuntimeError):
        full_build(store, index_dir)
    assert current(index_dir).name == good
    assert len(titles(index_dir)) == 5
    monkeypatch.setattr(segments, "to_document", real)
    # The next build cleans the half-built generation away.
    full_build(store, index_dir)
    assert not list(index_dir.glob("*.building"))


def test_one_writer_at_a_time(store, tmp_path):
    index_dir = tmp_path / "index"
    with writer_lock(index_dir):
        with pytest.raises(IndexBusyError):
            full_build(store, index_dir)


def test_update_without_index_builds_one(store, tmp_path):
    summary = update(store, tmp_path / "index")
    assert summary.kind == "full" and summary.total == 5


def test_full_build_starts_a_new_segment_every_segment_records(store, tmp_path):
    index_dir = tmp_path / "index"
    full_build(store, index_dir, segment_records=2)
    ix = whoosh_index.open_dir(current(index_dir).path)
    assert [s.doc_count() for s in ix._segments()] == [2, 2, 1]
    assert sorted(titles(index_dir)) == [f"S-T{i}" for i in range(5)]


def test_a_parallel_build_numbers_documents_as_one_writer_would(store, tmp_path):
    for i in range(5, 12):
        save(store, record(f"S-T{i:02d}", f"title {i}"))
    one, two = tmp_path / "one", tmp_path / "two"
    full_build(store, one, workers=1)
    summary = full_build(store, two, workers=3, parallel_min_records=0, segment_records=2)
    assert summary.total == 12
    ix = whoosh_index.open_dir(current(two).path)
    assert len(ix._segments()) > 3  # three runs, each cut into segments of two
    order = lambda d: [f["accession"] for f in whoosh_index.open_dir(current(d).path).searcher().all_stored_fields()]
    assert order(two) == order(one) == sorted(order(one))
    assert current(two).labels() == current(one).labels()
    assert current(two).meta["per_source"] == {"bia": 12}


def test_a_failing_parallel_build_leaves_the_live_generation(store, tmp_path):
    index_dir = tmp_path / "index"
    live = full_build(store, index_dir).generation

    def cancel(_accession):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        full_build(store, index_dir, workers=2, parallel_min_records=0, on_record=cancel)
    assert current(index_dir).name == live
    assert sorted(titles(index_dir)) == [f"S-T{i}" for i in range(5)]


def test_segments_are_separate_files_read_in_place(store, tmp_path):
    # whoosh3 copies a compound segment's postings and terms into memory for every searcher.
    index_dir = tmp_path / "index"
    full_build(store, index_dir)
    save(store, record("S-NEW", "a new one"))
    update(store, index_dir)
    ix = whoosh_index.open_dir(current(index_dir).path)
    assert len(ix._segments()) == 2
    assert not [name for name in ix.storage.list() if name.endswith(".seg")]
    assert all(not segment.is_compound() for segment in ix._segments())
