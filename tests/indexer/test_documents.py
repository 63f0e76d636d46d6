"""Documents are built from a record's JSON form (what a build reads from the store)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.records import Record
from harvesters.store import RecordStore
from indexer.documents import facet_values, to_document

REQUIRED = {name for name, field in Record.model_fields.items() if field.is_required()}


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    with RecordStore(tmp_path_factory.mktemp("docs") / "store.sqlite3") as store:
        run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
        yield store


def test_record_data_is_the_records_json_form(sample_store):
    records = list(sample_store.iter_records())
    assert len(records) > 20
    assert list(sample_store.iter_record_data()) == [r.model_dump(mode="json") for r in records]
    middle = records[len(records) // 2].accession
    assert [d["accession"] for d in sample_store.iter_record_data(start=middle)] == [
        r.accession for r in records if r.accession >= middle]
    assert [d["accession"] for d in sample_store.iter_record_data(stop=middle)] == [
        r.accession for r in records if r.accession < middle]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_a_stored_record_without_optional_keys_gives_the_records_document(sample_store, data):
    """Records stored before a field existed lack its key; the document must be the one
    of the validated record (with the field's default)."""
    stored = data.draw(st.sampled_from(list(sample_store.iter_record_data())))
    optional = sorted(set(stored) - REQUIRED)
    dropped = data.draw(st.sets(st.sampled_from(optional)))
    partial = {k: v for k, v in stored.items() if k not in dropped}
    record = Record.model_validate(partial)
    assert to_document(partial) == to_document(record)
    assert facet_values(partial) == facet_values(record)
