"""JCB DataViewer imports: S-JCBD records from the archive store, their article as the
publication, and image-level metadata from OME-XML companions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bioimage_search.config import SAMPLE_ROOT
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.jcb import MirrorJcbHarvester
from harvesters.ome_xml import OmeXmlError, parse_ome_xml
from harvesters.store import RecordStore

OMEXML = Path(__file__).parent.parent / "fixtures" / "omexml"
JCB = SAMPLE_ROOT / "jcb"


def harvest(harvester, tmp_path):
    store = RecordStore(tmp_path / "store.sqlite3")
    return store, run_harvest(harvester, store)


def test_jcb_records_with_article_and_companion(tmp_path):
    store, summary = harvest(MirrorJcbHarvester(JCB), tmp_path)
    assert summary.status == "ok" and summary.counts["added"] == 2
    record = store.get("S-JCBD1")
    assert record.source == "jcb"
    article = record.publications[0]
    assert (article.doi, article.journal) == ("10.1083/jcb.201306001", "Journal of Cell Biology")
    [image] = record.image_acquisitions
    assert image.instrument == "Olympus IX70 (inverted)"
    assert image.objective == "100x/1.35 NA Oil, Olympus UPlanApo 100x"
    assert [c.name for c in image.channels] == ["KLP10A-GFP", "Tubulin"]
    assert image.channels[0].emission_nm == 509.0
    assert image.pixel_size_um == {"x": 0.131, "y": 0.131}
    assert "OME-XML" in record.file_formats and "OME-TIFF" in record.file_formats
    # A record naming its journal keeps its own publication; none is invented without a DOI.
    other = store.get("S-JCBD2")
    assert [(p.journal, p.doi) for p in other.publications] == [("Journal of Cell Biology", None)]
    assert other.organisms[0].taxon_id == "NCBITaxon:44689"


def test_archive_and_jcb_split_a_shared_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLE_ROOT / "archive" / "S-BIAD1043", mirror / "S-BIAD1043")
    shutil.copytree(JCB / "S-JCBD1", mirror / "S-JCBD1")
    with RecordStore(tmp_path / "s.sqlite3") as store:
        bia = run_harvest(MirrorArchiveHarvester(mirror), store)
        jcb = run_harvest(MirrorJcbHarvester(mirror), store)
        assert (bia.counts["added"], bia.counts["skipped"]) == (1, 1)
        assert (jcb.counts["added"], jcb.counts["skipped"]) == (1, 1)
        assert store.count_by_source() == {"bia": 1, "jcb": 1}


def test_bad_companions_are_error_rows_and_the_record_stays(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(JCB / "S-JCBD1", mirror / "S-JCBD1")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    companion = mirror / "S-JCBD1" / "Files" / "Figure_1" / "573821.companion.ome"
    companion.write_text(
        f'<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:1" Name="&x;"/></OME>'
    )
    store, summary = harvest(MirrorJcbHarvester(mirror), tmp_path)
    assert summary.counts["added"] == 1 and summary.status == "partial"
    [error] = store.errors()
    assert error["stage"] == "companion" and "refused" in error["message"]
    record = store.get("S-JCBD1")
    assert record.image_acquisitions == []
    assert "TOP-SECRET" not in record.to_json().decode()


def test_ome_xml_instrument_sample():
    [image] = parse_ome_xml((OMEXML / "instrument.ome.xml").read_bytes())
    assert image.instrument == "OME Insturuments Lab Mk3 (inverted)"
    assert image.objective == "60x/1.2 NA Air, OME Objectives 60xUV-Air"
    assert image.pixel_size_um == {"x": 10000.0, "y": 10000.0}


def test_ome_xml_channels_and_units():
    [image] = parse_ome_xml((OMEXML / "hcs.ome.xml").read_bytes())
    assert [(c.name, c.excitation_nm, c.emission_nm) for c in image.channels][:2] == [("CH1", 488.0, 523.0), ("CH3", 561.0, 578.0)]
    images = parse_ome_xml((OMEXML / "api__src__tests__data__simple.ome.xml").read_bytes())
    assert len(images) == 8 and images[0].objective.startswith("10x/0.3 NA")


@pytest.mark.parametrize("payload", [b"", b"<OME", b"<notome/>", b"\xff\xfe garbage", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><OME/>'])
def test_ome_xml_rejects_bad_documents(payload):
    with pytest.raises(OmeXmlError):
        parse_ome_xml(payload)
