"""Cursors stay correct while the index changes between pages."""

from __future__ import annotations

from harvesters.records import Record
from harvesters.store import RecordStore
from indexer.builder import full_build, update
from query.params import parse_search_params
from query.service import SearchService


def save(store, acc, date):
    with store.transaction() as db:
        store.save_record(db, Record(accession=acc, source="bia", title=f"dataset {acc}", release_date=date), b"{}", "h")


def page(service, cursor=None):
    args = {"sortBy": ["release_date"], "pageSize": ["3"]}
    if cursor:
        args["cursor"] = [cursor]
    result = service.search(parse_search_params(args))
    return [h["accession"] for h in result["hits"]], result["next"]


def test_cursor_survives_inserts_and_deletes_between_pages(tmp_path):
    with RecordStore(tmp_path / "s.sqlite3") as store:
        for i in range(1, 10):
            save(store, f"S-T{i}", f"2020-01-{i:02d}")
        full_build(store, tmp_path / "index")
        service = SearchService(tmp_path / "index", tmp_path / "s.sqlite3")
        first, cursor = page(service)
        assert first == ["S-T9", "S-T8", "S-T7"]
        # Between pages: a newer record arrives (before the cursor), one ahead is deleted.
        save(store, "S-NEW", "2021-01-01")
        store.mark_deleted(["S-T5"])
        update(store, tmp_path / "index")
        second, cursor = page(service, cursor)
        assert second == ["S-T6", "S-T4", "S-T3"]
        third, cursor = page(service, cursor)
        assert third == ["S-T2", "S-T1"] and cursor is None


def test_cursor_walks_records_without_a_sort_value(tmp_path):
    with RecordStore(tmp_path / "s.sqlite3") as store:
        for i in range(1, 6):
            save(store, f"S-T{i}", f"2020-01-0{i}")
        save(store, "S-UNDATED", None)
        full_build(store, tmp_path / "index")
    service = SearchService(tmp_path / "index", tmp_path / "s.sqlite3")
    seen, cursor = [], None
    while True:
        hits, cursor = page(service, cursor)
        seen += hits
        if not cursor:
            break
    assert sorted(seen) == sorted([f"S-T{i}" for i in range(1, 6)] + ["S-UNDATED"]) and len(seen) == 6
