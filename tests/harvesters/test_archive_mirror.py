"""The archive harvester over local mirrors: FTP layout, flat folders, every PageTab format."""

from __future__ import annotations

import shutil
from pathlib import Path

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore

PAGETAB = Path(__file__).parent.parent / "fixtures" / "pagetab"


def flat_mirror(tmp_path: Path) -> Path:
    root = tmp_path / "flat"
    root.mkdir()
    shutil.copy(PAGETAB / "constructed" / "features.pagetab.tsv", root / "features.tsv")
    xml = (PAGETAB / "formats" / "S-ACC-TEST.xml").read_text().replace("${SUB_ACC_NO}", "S-ACC-XML1")
    (root / "submission.xml").write_text(xml)
    shutil.copy(PAGETAB / "testdata" / "bbc024_images.json", root / "a_file_list.json")  # not a submission
    (root / "broken.json").write_text('{"accno": "S-BROKEN", "section": ')
    return root


def test_flat_folder_in_every_format_with_a_broken_record(tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        summary = run_harvest(MirrorArchiveHarvester(flat_mirror(tmp_path)), store)
        assert (summary.counts["added"], summary.counts["errored"]) == (2, 1), summary.line()
        errors = store.errors()
        assert len(errors) == 1 and errors[0]["source_url"].endswith("broken.json")
        assert "PageTab" in errors[0]["message"]
        # The accession comes from the record, not the file name.
        assert {r.accession for r in store.iter_records()} == {"S-TEST1", "S-ACC-XML1"}


def test_tsv_record_is_fully_normalised(tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        run_harvest(MirrorArchiveHarvester(flat_mirror(tmp_path)), store)
        record = store.get("S-TEST1")
    assert record.title == "Root section title"
    assert record.release_date == "2024-01-31"
    assert [(o.name, o.taxon_id) for o in record.organisms] == [("Danio rerio", "NCBITaxon:7955")]
    assert [(m.name, m.fbbi_id) for m in record.imaging_methods] == [("confocal microscopy", "FBbi:00000251")]
    assert [(a.name, a.affiliations) for a in record.authors] == [
        ("Alice Example", ["Institute One"]),
        ("Bob Example", ["Institute One"]),
    ]
    links = {(link.type, link.value) for link in record.links}
    assert {("empiar", "EMPIAR-10001"), ("doi", "10.1000/xyz"), ("url", "https://example.org/paper")} <= links
    assert record.funding == ["Agency A (G-1)", "Agency B (G-2)"]
    assert record.file_count == 5 and record.file_formats == ["TIFF"]


def test_xml_record_resolves_affiliation_reference(tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        run_harvest(MirrorArchiveHarvester(flat_mirror(tmp_path)), store)
        record = store.get("S-ACC-XML1")
    assert record.title == "Main Section 1"
    assert record.authors[0].name == "John Smith"
    assert record.authors[0].affiliations == ["The Francis Crick Institute"]
    assert record.authors[0].email == "john.smith@email.com"


def test_ftp_layout_streams_file_lists_from_files_folder(tmp_path):
    mirror = tmp_path / "ftp" / "S-BIAD" / "492"
    shutil.copytree(SAMPLE_STORE / "S-BIAD1492", mirror / "S-BIAD1492")
    with RecordStore(tmp_path / "store.sqlite3") as store:
        summary = run_harvest(MirrorArchiveHarvester(tmp_path / "ftp"), store)
        assert summary.status == "ok" and summary.counts["added"] == 1
        record = store.get("S-BIAD1492")
        rows = list(store.iter_files("S-BIAD1492"))
    assert record.file_count == len(rows) > 0
    assert record.total_size_bytes == sum(r.size for r in rows)
    components = {c.file_list: c for c in record.study_components if c.file_list}
    assert set(components) == {"bbc024_images.json", "bbc024_masks.json"}
    assert sum(c.file_count for c in components.values()) == record.file_count
    assert {r.attributes.get("SNR") for r in rows} >= {"low", "high"}


def test_missing_file_list_is_an_error_row_but_the_record_is_kept(tmp_path):
    mirror = tmp_path / "m"
    shutil.copytree(SAMPLE_STORE / "S-BIAD1492", mirror / "S-BIAD1492")
    (mirror / "S-BIAD1492" / "Files" / "bbc024_masks.json").unlink()
    with RecordStore(tmp_path / "store.sqlite3") as store:
        summary = run_harvest(MirrorArchiveHarvester(mirror), store)
        assert summary.counts["added"] == 1 and summary.status == "partial"
        [error] = store.errors()
        assert error["stage"] == "files" and "bbc024_masks.json" in error["message"]
        assert store.get("S-BIAD1492").file_count > 0


def test_missing_mirror_fails_the_run(tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        summary = run_harvest(MirrorArchiveHarvester(tmp_path / "nope"), store, full=True)
    assert summary.status == "failed" and summary.errors[0].stage == "gather"
