"""The EMPIAR harvester over a real local HTTP server replaying real EMPIAR JSON, and over
local mirrors of entry JSON files and deposition XML headers (including hostile XML)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest
from werkzeug import Response

from bioimage_search.config import SAMPLE_ROOT
from harvesters.base import HarvestError, RawRecord, RecordRef, RecordWithdrawn, run_harvest
from harvesters.empiar import (
    ApiEmpiarHarvester,
    MirrorEmpiarHarvester,
    harvester_for,
    parse_id_spec,
    read_ids_file,
)
from harvesters.empiar_entry import parse_dataset_size
from harvesters.empiar_methods import classify, rules
from harvesters.empiar_xml import EmpiarXmlError, parse_header
from harvesters.http import HttpClient
from harvesters.store import RecordStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "empiar"
SAMPLE = SAMPLE_ROOT / "empiar"
XML = FIXTURES / "xml_headers" / "10934.xml"
SERVED = {  # accession -> real API JSON (top keys renamed upstream, as in the fixtures)
    "EMPIAR-10442": FIXTURES / "api-json-real" / "EMPIAR-10442.json",
    "EMPIAR-10988": FIXTURES / "empiar-api-json-testvariants" / "IMAGELABELTEST.json",
    "EMPIAR-11419": FIXTURES / "empiar-api-json-testvariants" / "IMAGEPATTERNTEST.json",
    "EMPIAR-11561": FIXTURES / "empiar-api-json-testvariants" / "STARFILETEST.json",
    "EMPIAR-12104": FIXTURES / "empiar-api-json-testvariants" / "SPECIMENTEST.json",
}
NOT_FOUND = '{"detail": "Not found."}'  # constructed 404 body


@pytest.fixture()
def empiar_api(httpserver):
    """Serve the real entries at /empiar/api/entry/EMPIAR-n/; ``queued`` responses go first."""
    state = {"entries": {acc: path.read_bytes() for acc, path in SERVED.items()}, "queued": {}, "calls": [], "hits": []}

    def entry(request):
        accession = request.path.rstrip("/").rsplit("/", 1)[1]
        state["calls"].append(accession)
        if state["queued"].get(accession):
            return state["queued"][accession].pop(0)
        body = state["entries"].get(accession)
        if body is None:
            return Response(NOT_FOUND, status=404, content_type="application/json")
        return Response(body, content_type="application/json")

    def search(request):
        page, size = int(request.args["page"]), int(request.args["pageSize"])
        hits = [{"accession": acc, "type": "study"} for acc in state["hits"]]
        body = {"page": page, "pageSize": size, "totalHits": len(hits), "hits": hits[(page - 1) * size : page * size]}
        return Response(orjson.dumps(body), content_type="application/json")

    httpserver.expect_request(re.compile(r"^/empiar/api/entry/[^/]+/$")).respond_with_handler(entry)
    httpserver.expect_request("/biostudies/api/v1/BioImages-EMPIAR/search").respond_with_handler(search)
    return state


def api(httpserver, waits: list | None = None, **options) -> ApiEmpiarHarvester:
    sleep = waits.append if waits is not None else (lambda seconds: None)
    client = HttpClient(timeout=5, retries=2, sleep=sleep)
    return ApiEmpiarHarvester(httpserver.url_for("/").rstrip("/"), client=client, **options)


def store_at(tmp_path: Path) -> RecordStore:
    return RecordStore(tmp_path / "s.sqlite3")


# -- API ----------------------------------------------------------------------------------


def test_range_gaps_are_skipped_not_errors(httpserver, empiar_api, tmp_path):
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, id_range="10440-10443"), store)
        assert (summary.counts["added"], summary.counts["skipped"], summary.counts["errored"]) == (1, 3, 0), summary.line()
        assert summary.status == "ok" and store.errors() == []
        record = store.get("EMPIAR-10442")  # the top key says EMPIAR-TEST: the DOI gives the accession
        assert record.title.startswith("170314, Five-day-old Col-0 Arabidopsis")
        assert record.provenance.source_url.endswith("/empiar/api/entry/EMPIAR-10442/")
        assert record.provenance.raw_format == "json"


def test_server_error_then_success_is_retried(httpserver, empiar_api, tmp_path):
    empiar_api["queued"]["EMPIAR-10442"] = [Response("upstream trouble", status=500)]
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, id_range="10442"), store)
        assert summary.counts["added"] == 1 and summary.status == "ok"
        assert empiar_api["calls"] == ["EMPIAR-10442", "EMPIAR-10442"]


def test_429_honours_retry_after(httpserver, empiar_api, tmp_path):
    empiar_api["queued"]["EMPIAR-11419"] = [Response("slow down", status=429, headers={"Retry-After": "7"})]
    waits: list[float] = []
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, waits, id_range="EMPIAR-11419"), store)
        assert summary.counts["added"] == 1
        assert waits == [7.0]


def test_truncated_json_is_an_error_row_and_the_run_goes_on(httpserver, empiar_api, tmp_path):
    empiar_api["entries"]["EMPIAR-10988"] = empiar_api["entries"]["EMPIAR-10988"][:700]
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, id_range="10442,10988,11419"), store)
        assert (summary.counts["added"], summary.counts["errored"]) == (2, 1), summary.line()
        assert summary.status == "partial"
        [error] = store.errors()
        assert error["stage"] == "fetch" and error["accession"] == "EMPIAR-10988"
        assert error["source_url"].endswith("/empiar/api/entry/EMPIAR-10988/")
        assert "truncated" in error["message"]


def test_collection_id_that_vanished_before_fetch_is_an_error(httpserver, empiar_api, tmp_path):
    empiar_api["hits"] = ["EMPIAR-10442", "S-BIAD1", "EMPIAR-11419", "EMPIAR-99999"]
    del empiar_api["entries"]["EMPIAR-11419"]  # listed by BioStudies, gone from EMPIAR
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, page_size=2), store)
        assert (summary.counts["added"], summary.counts["errored"], summary.counts["skipped"]) == (1, 2, 0)
        errors = {e["accession"]: e for e in store.errors()}
        assert set(errors) == {"EMPIAR-11419", "EMPIAR-99999"}
        assert errors["EMPIAR-11419"]["stage"] == "fetch" and "listed but not found" in errors["EMPIAR-11419"]["message"]


def test_ids_file_with_comments_and_ranges(httpserver, empiar_api, tmp_path):
    listing = tmp_path / "ids.txt"
    listing.write_text("# EMPIAR ids to harvest\nEMPIAR-10442\n11419-11419  # a range of one\n\n10442\n")
    assert read_ids_file(listing) == ["EMPIAR-10442", "EMPIAR-11419", "EMPIAR-10442"]
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, ids_file=str(listing)), store)
        assert summary.counts["added"] == 2 and summary.status == "ok"


def test_obsolete_entry_is_withdrawn_after_it_was_added(httpserver, empiar_api, tmp_path):
    with store_at(tmp_path) as store:
        assert run_harvest(api(httpserver, id_range="10442"), store).counts["added"] == 1
        entry = orjson.loads(empiar_api["entries"]["EMPIAR-10442"])
        entry["EMPIAR-TEST"].update(status="OBS", obsolete_date="2024-05-01")
        empiar_api["entries"]["EMPIAR-10442"] = orjson.dumps(entry)
        summary = run_harvest(api(httpserver, id_range="10442"), store)
        assert summary.counts["deleted"] == 1 and summary.status == "ok"
        assert store.get("EMPIAR-10442") is None


def test_second_api_run_is_all_unchanged(httpserver, empiar_api, tmp_path):
    with store_at(tmp_path) as store:
        first = run_harvest(api(httpserver, id_range="10442,10988,11419,11561,12104"), store)
        assert first.counts["added"] == 5
        again = run_harvest(api(httpserver, id_range="10442,10988,11419,11561,12104"), store)
        assert again.counts["unchanged"] == 5 and again.counts["added"] == again.counts["updated"] == 0


def test_bad_range_fails_the_gather(httpserver, empiar_api, tmp_path):
    with store_at(tmp_path) as store:
        summary = run_harvest(api(httpserver, id_range="10010-10001"), store)
        assert summary.status == "failed" and store.errors()[0]["stage"] == "gather"
        assert empiar_api["calls"] == []


# -- mirror -------------------------------------------------------------------------------


def test_sample_store_harvests_cleanly_then_unchanged(tmp_path):
    with store_at(tmp_path) as store:
        summary = run_harvest(MirrorEmpiarHarvester(SAMPLE), store)
        assert summary.status == "ok" and summary.counts["added"] == 6, summary.line()
        assert {r.accession for r in store.iter_records()} == {*SERVED, "EMPIAR-10934"}
        assert store.get("EMPIAR-10934").provenance.raw_format == "xml"
        again = run_harvest(MirrorEmpiarHarvester(SAMPLE), store)
        assert again.counts["unchanged"] == 6 and again.status == "ok"


def test_renamed_top_keys_take_the_accession_from_the_content():
    refs = list(MirrorEmpiarHarvester(FIXTURES / "empiar-api-json-testvariants").gather(None))
    assert [r.hint for r in refs] == ["EMPIAR-10988", "EMPIAR-11419", "EMPIAR-11561", "EMPIAR-12104"]
    assert refs[0].source_url.endswith("/IMAGELABELTEST.json")


def test_json_is_preferred_over_the_xml_header_of_the_same_id(tmp_path):
    shutil.copy(SERVED["EMPIAR-10442"], tmp_path / "10442.json")
    (tmp_path / "10442.xml").write_bytes(XML.read_bytes().replace(b"EMPIAR-10934", b"EMPIAR-10442"))
    shutil.copy(XML, tmp_path / "10934.xml")
    refs = list(MirrorEmpiarHarvester(tmp_path).gather(None))
    assert [(r.hint, Path(r.source_url).name) for r in refs] == [("EMPIAR-10442", "10442.json"), ("EMPIAR-10934", "10934.xml")]


def hostile_mirror(tmp_path: Path, secret: Path) -> Path:
    root = tmp_path / "mirror"
    root.mkdir()
    shutil.copy(XML, root / "10934.xml")
    xxe = XML.read_text().replace(
        '<entry xmlns="http://pdbe.org/empiar"',
        f'<!DOCTYPE entry [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n<entry xmlns="http://pdbe.org/empiar"',
    ).replace("<title>Cryo-EM multiframe", "<title>&xxe; Cryo-EM multiframe")
    (root / "10935.xml").write_text(xxe.replace("EMPIAR-10934", "EMPIAR-10935"))
    (root / "10936.xml").write_text(XML.read_text()[:2000])  # cut mid-element
    return root


def test_xxe_and_malformed_headers_are_error_rows_and_the_secret_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    with store_at(tmp_path) as store:
        summary = run_harvest(MirrorEmpiarHarvester(hostile_mirror(tmp_path, secret)), store)
        assert (summary.counts["added"], summary.counts["errored"]) == (1, 2), summary.line()
        errors = {e["accession"]: e for e in store.errors()}
        assert errors["EMPIAR-10935"]["stage"] == "normalise" and "DOCTYPE" in errors["EMPIAR-10935"]["message"]
        assert errors["EMPIAR-10936"]["stage"] == "normalise" and "malformed XML" in errors["EMPIAR-10936"]["message"]
        assert errors["EMPIAR-10936"]["source_url"].endswith("/10936.xml")
    assert b"TOP-SECRET-TOKEN" not in (tmp_path / "s.sqlite3").read_bytes()


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><entry>&lol2;</entry>',
        b'<!doctype entry SYSTEM "http://example.invalid/empiar.dtd"><entry/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><entry>&x;</entry>'.encode("utf-16"),
        b"<entry><admin><title>&undefined;</title></admin></entry>",
        b"<notAnEntry/>",
        b"",
    ],
)
def test_hostile_or_foreign_xml_is_refused(payload):
    with pytest.raises(EmpiarXmlError):
        parse_header(payload)


def test_file_that_vanishes_between_gather_and_fetch_is_an_error(tmp_path):
    for accession in ("EMPIAR-10442", "EMPIAR-11419"):
        shutil.copy(SERVED[accession], tmp_path / f"{accession}.json")

    def remove_the_other(hint: str) -> None:
        (tmp_path / "EMPIAR-11419.json").unlink(missing_ok=True)

    with store_at(tmp_path / "db") as store:
        summary = run_harvest(MirrorEmpiarHarvester(tmp_path), store, on_record=remove_the_other)
        assert (summary.counts["added"], summary.counts["errored"]) == (1, 1)
        [error] = store.errors()
        assert error["stage"] == "fetch" and error["source_url"].endswith("/EMPIAR-11419.json")


# -- normalise, parsers, factory ----------------------------------------------------------


def _raw(entry: dict, key: str = "EMPIAR-10442") -> RawRecord:
    return RawRecord(RecordRef("file:///x/EMPIAR-10442.json", "EMPIAR-10442"), orjson.dumps({key: entry}), "json")


def test_obsolete_and_malformed_entries():
    entry = orjson.loads(SERVED["EMPIAR-10442"].read_bytes())["EMPIAR-TEST"]
    harvester = MirrorEmpiarHarvester(FIXTURES)
    with pytest.raises(RecordWithdrawn) as withdrawn:
        harvester.normalise(_raw({**entry, "obsolete_date": None, "status": "OBS"}))
    assert withdrawn.value.accession == "EMPIAR-10442"
    with pytest.raises(HarvestError, match="no title") as error:
        harvester.normalise(_raw({**entry, "title": "  "}))
    assert error.value.stage == "normalise"
    with pytest.raises(HarvestError, match="no EMPIAR accession"):
        harvester.normalise(RawRecord(RecordRef("file:///x/a.json"), orjson.dumps({"TEST": {**entry, "entry_doi": None}}), "json"))
    with pytest.raises(HarvestError, match="expected one entry"):
        harvester.normalise(RawRecord(RecordRef("u"), b"[1, 2]", "json"))


def test_references_become_typed_links():
    entry = orjson.loads(SERVED["EMPIAR-10442"].read_bytes())["EMPIAR-TEST"]
    entry.update(
        cross_references=[{"name": "EMD-1234"}, "5678"],
        biostudies_references=[{"name": "S-BIAD1"}],
        idr_references=[{"name": "idr0001"}],
        empiar_references=[{"name": "EMPIAR-10001"}, {"name": "EMPIAR-10001"}],
    )
    links = MirrorEmpiarHarvester(FIXTURES).normalise(_raw(entry)).record.links
    assert [(l.type, l.value) for l in links][:5] == [
        ("emdb", "EMD-1234"), ("emdb", "EMD-5678"), ("biostudies", "S-BIAD1"), ("idr", "idr0001"), ("empiar", "EMPIAR-10001"),
    ]
    assert links[0].url == "https://www.ebi.ac.uk/emdb/EMD-1234"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("43.2 GB", round(43.2 * 1024**3)), ("1.9 TB", round(1.9 * 1024**4)), ("512 MB", 512 * 1024**2),
        ("2 GiB", 2 * 1024**3), ("1,024 KB", 1024**2), ("123", 123), ("10 bytes", 10), (2048, 2048), (1.5, 2),
        ("", None), ("big", None), ("-1 GB", None), ("1 XB", None), (True, None), (None, None), (float("nan"), None), ("9" * 40, None),
    ],
)
def test_dataset_size(text, expected):
    assert parse_dataset_size(text) == expected


def test_id_specs():
    assert parse_id_spec("10001-10003, EMPIAR-10010") == ["EMPIAR-10001", "EMPIAR-10002", "EMPIAR-10003", "EMPIAR-10010"]
    assert parse_id_spec("EMPIAR-10001-EMPIAR-10002") == ["EMPIAR-10001", "EMPIAR-10002"]
    for bad in ("10003-10001", "abc", "10001-99999999"):
        with pytest.raises(ValueError):
            parse_id_spec(bad)


def test_harvester_for():
    assert isinstance(harvester_for("https://www.ebi.ac.uk", id_range="10001-10002"), ApiEmpiarHarvester)
    mirror = harvester_for(f"file://{SAMPLE}")
    assert isinstance(mirror, MirrorEmpiarHarvester) and mirror.root == SAMPLE
    with pytest.raises(ValueError):
        harvester_for(str(SAMPLE), id_range="10001")


def test_stored_record_keeps_the_dataset_size(tmp_path):
    with store_at(tmp_path) as store:
        run_harvest(MirrorEmpiarHarvester(SAMPLE), store)
        assert store.get("EMPIAR-10442").total_size_bytes == round(43.2 * 1024**3)


@pytest.mark.parametrize(
    "experiment_type, categories, title, methods, study_types",
    [
        ("SBF-SEM", [], "root", ["FBbi:00000585"], ["volume EM"]),
        ("FIB-SEM", ["micrographs - single frame"], "HeLa", ["FBbi:00050000"], ["volume EM"]),
        ("EMDB", ["micrographs - multiframe"], "Cryo-EM of Pol kappa", ["FBbi:00000258"], []),
        ("EMDB", ["tilt series"], "lamellae", ["FBbi:00000258", "FBbi:00001004"], ["tomography"]),
        ("EMDB", ["picked particles - single frame - processed"], "x", ["FBbi:00000258"], ["single particle"]),
        ("SPA", [], "Single-particle cryo-EM", ["FBbi:00000258"], ["single particle"]),
        ("SXT", [], "Soft X-ray tomography of cells", ["FBbi:00001003"], ["X-ray tomography", "tomography"]),
        ("INSILICO", [], "simulated", [], ["simulated data"]),
        ("FIB/SEM", [], "punctuation is ignored", ["FBbi:00050000"], ["volume EM"]),
        ("focused ion beam SEM", [], "from the shared FBbi aliases", ["FBbi:00050000"], []),
        ("Other", [], "an unknown type is not turned into a method", [], []),
    ],
)
def test_method_mapping(experiment_type, categories, title, methods, study_types):
    found, types = classify(experiment_type, categories, title)
    assert [m.fbbi_id for m in found] == methods
    assert types == study_types


def test_mapping_table_terms_are_live():
    assert len(rules()) > 40 and all(rule.fbbi_ids or rule.study_types for rule in rules())
