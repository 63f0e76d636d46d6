"""IDR harvesters: mirror layouts, study files over HTTP, odd encodings, malformed files, the
accession rule, tolerant keys (property tests), dispatch by location, and the JSON API over a
real local HTTP server (offset/limit paging, map annotations in both namespaces, retries,
truncated bodies, studies that vanish mid-run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug import Response

from bioimage_search.config import SAMPLE_ROOT
from harvesters.base import HarvestError, RawRecord, RecordRef, run_harvest
from harvesters.http import HttpClient
from harvesters.idr import ApiIdrHarvester, HttpStudyFilesIdrHarvester, MirrorIdrHarvester, harvester_for
from harvesters.idr_records import STUDY_FORMAT
from harvesters.store import RecordStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "idr"
STUDY_FILES = FIXTURES / "study_files"
SAMPLE_IDR = SAMPLE_ROOT / "idr"


def _normalise(payload: bytes, name: str = "idr0001-study.txt"):
    ref = RecordRef(source_url=f"file:///mirror/{name}", hint=None)
    return MirrorIdrHarvester("/mirror").normalise(RawRecord(ref, payload, STUDY_FORMAT)).record


def _harvest(harvester, store_path: Path):
    with RecordStore(store_path) as store:
        return run_harvest(harvester, store), {r.accession: r for r in store.iter_records()}, store.errors()


# -- mirror layouts ---------------------------------------------------------------------------


def test_flat_mirror(tmp_path):
    for acc in ("idr0001", "idr0038", "idr0113"):
        shutil.copy(STUDY_FILES / f"{acc}-study.txt", tmp_path)
    summary, records, _ = _harvest(MirrorIdrHarvester(tmp_path), tmp_path / "s.sqlite3")
    assert summary.status == "ok" and summary.counts["added"] == 3
    assert records["idr0038"].study_components[0].kind == "experiment"
    assert records["idr0001"].provenance.raw_format == STUDY_FORMAT


def test_idr_metadata_layout_ignores_component_files_and_hidden_folders(tmp_path):
    study = tmp_path / "idr0001-graml-sysgro"
    (study / "screenA").mkdir(parents=True)
    shutil.copy(STUDY_FILES / "idr0001-study.txt", study)
    (study / "screenA" / "idr0001-screenA-library.txt").write_text("Plate\tWell\n")
    (tmp_path / ".git").mkdir()
    shutil.copy(STUDY_FILES / "idr0004-study.txt", tmp_path / ".git")
    summary, records, _ = _harvest(MirrorIdrHarvester(tmp_path), tmp_path / "s.sqlite3")
    assert summary.status == "ok" and set(records) == {"idr0001"}
    assert records["idr0001"].study_components[0].name == "idr0001-graml-sysgro/screenA"


def test_sample_store_harvests_ok_and_a_second_run_changes_nothing(tmp_path):
    harvester = MirrorIdrHarvester(SAMPLE_IDR)
    with RecordStore(tmp_path / "s.sqlite3") as store:
        first = run_harvest(harvester, store)
        again = run_harvest(harvester, store)
    assert first.status == "ok" and first.counts["added"] == 15, first.line()
    assert again.status == "ok" and again.counts["unchanged"] == 15 and again.counts["added"] == 0


def test_study_ids_restrict_the_mirror(tmp_path):
    refs = list(MirrorIdrHarvester(SAMPLE_IDR, study_ids=["idr0001", "idr0113-bottes-opcclones"]).gather(None))
    assert [r.hint for r in refs] == ["idr0001", "idr0113"]


def test_missing_mirror_fails_the_run(tmp_path):
    summary, _, _ = _harvest(MirrorIdrHarvester(tmp_path / "nope"), tmp_path / "s.sqlite3")
    assert summary.status == "failed"


# -- accession rule ---------------------------------------------------------------------------


def test_accession_comes_from_the_file_before_its_name():
    record = _normalise((STUDY_FILES / "idr0001-study.txt").read_bytes(), "idr0999-study.txt")
    assert record.accession == "idr0001"


def test_accession_falls_back_to_the_file_or_folder_name():
    text = (STUDY_FILES / "idr0001-study.txt").read_text(encoding="utf-8")
    text = text.replace("Comment[IDR Study Accession]\tidr0001", "Comment[IDR Study Accession]\t")
    assert _normalise(text.encode(), "idr0042-study.txt").accession == "idr0042"
    assert _normalise(text.encode(), "idr0043-name/study.txt").accession == "idr0043"
    with pytest.raises(HarvestError, match="no study accession"):
        _normalise(text.encode(), "study.txt")


# -- malformed files and encodings -----------------------------------------------------------


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"<!DOCTYPE html>\n<html><body>Not Found</body></html>\n", "line 1 reads '<!DOCTYPE html>'"),
        (b"Study Title\tA\n\x00\x01binary", "line 2: NUL byte"),
        (b"# comment\n\nComment[IDR Study Accession]\tstudy one\nStudy Title\tA\n", "line 3: Comment[IDR Study Accession] is 'study one'"),
        (b"Comment[IDR Study Accession]\tidr0001\nStudy Type\tscreen\n\nScreen Number\t1\n", "no Study Title or Study Publication Title in the study block (lines 1-2)"),
        (b"Screen Number\t1\nScreen Name\tx\n", "no 'Study …' key before the first screen"),
        (b"", "empty study file"),
    ],
)
def test_malformed_file_is_a_clear_normalise_error(payload, message):
    with pytest.raises(HarvestError) as caught:
        _normalise(payload)
    assert caught.value.stage == "normalise" and message in caught.value.message
    assert caught.value.source_url == "file:///mirror/idr0001-study.txt"


def test_malformed_file_is_an_errored_record_and_the_run_goes_on(tmp_path):
    shutil.copy(STUDY_FILES / "idr0001-study.txt", tmp_path)
    (tmp_path / "idr0002-study.txt").write_bytes(b"<html>gone</html>")
    summary, records, errors = _harvest(MirrorIdrHarvester(tmp_path), tmp_path / "s.sqlite3")
    assert summary.status == "partial" and set(records) == {"idr0001"}
    assert errors[0]["stage"] == "normalise" and errors[0]["accession"] == "idr0002"
    assert errors[0]["source_url"].endswith("idr0002-study.txt")


def test_latin1_bytes_are_decoded():
    text = (STUDY_FILES / "idr0013-study.txt").read_text(encoding="utf-8")
    assert "Hériché JK" in text
    record = _normalise(text.encode("cp1252", errors="replace"), "idr0013-study.txt")
    assert record.authors[0].name == "Neumann B" and any(a.name == "Hériché JK" for a in record.authors)


def test_mac_roman_file_is_decoded():
    payload = (STUDY_FILES / "idr0113-study.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        payload.decode("utf-8")
    record = _normalise(payload, "idr0113-study.txt")
    assert record.authors[0].affiliations[0].endswith("CH-8057 Zürich")


def test_utf16_and_utf8_bom_are_read():
    text = (STUDY_FILES / "idr0040-study.txt").read_text(encoding="utf-8")
    for payload in (text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode()):
        record = _normalise(payload, "idr0040-study.txt")
        assert record.title == "Timing of gene expression in a cell-fate decision system"
        assert [a.name for a in record.authors][:2] == ["Delphine Aymoz", "Carme Solé"]


def test_value_typed_into_the_key_cell_is_found():
    record = _normalise((STUDY_FILES / "idr0040-study.txt").read_bytes(), "idr0040-study.txt")
    assert [(o.name, o.taxon_id) for o in record.organisms] == [("Saccharomyces cerevisiae", "NCBITaxon:4932")]


# -- property tests ---------------------------------------------------------------------------

STUDY_LINES = (
    ("Comment[IDR Study Accession]", "idr0007"),
    ("Study Title", "A title"),
    ("Study Organism", "Homo sapiens"),
    ("Study Organism Term Accession Number", "9606"),
    ("Study Author List", "Doe J, Roe R"),
    ("Screen Number", "1"),
    ("Screen Imaging Method", "confocal microscopy"),
    ("Screen Technology Type", "RNAi screen"),
)


@st.composite
def key_spelling(draw, key: str) -> str:
    """The key in random case with each space dropped, kept, doubled or made an underscore."""
    chars = [c.upper() if draw(st.booleans()) else c.lower() for c in key]
    spaced = "".join(draw(st.sampled_from(["", " ", "  ", "_"])) if c == " " else c for c in chars)
    return draw(st.sampled_from(["", " "])) + spaced + draw(st.sampled_from(["", " "]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.tuples(*(key_spelling(key) for key, _ in STUDY_LINES)))
def test_keys_are_found_whatever_their_case_and_spacing(spellings):
    text = "\n".join(f"{key}\t{value}\t\t" for key, (_, value) in zip(spellings, STUDY_LINES))
    record = _normalise(text.encode(), "study.txt")
    assert (record.accession, record.title) == ("idr0007", "A title")
    assert [o.taxon_id for o in record.organisms] == ["NCBITaxon:9606"]
    assert [m.fbbi_id for m in record.imaging_methods] == ["FBbi:00000251"]
    assert [a.name for a in record.authors] == ["Doe J", "Roe R"]
    assert record.study_components[0].attributes["Technology Type"] == "RNAi screen"


_STUDYISH = st.lists(
    st.one_of(
        st.sampled_from([k for k, _ in STUDY_LINES] + ["Study Person Last Name", "Study PubMed ID", "Experiment Number", "#", '"']),
        st.text(max_size=30),
    ),
    max_size=12,
).map("\t".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(_STUDYISH, max_size=15).map("\n".join), st.text()))
def test_parser_raises_only_harvest_errors_on_arbitrary_text(text):
    try:
        _normalise(text.encode("utf-8"))
    except HarvestError as exc:
        assert exc.stage == "normalise" and exc.message


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_parser_raises_only_harvest_errors_on_arbitrary_bytes(payload):
    try:
        _normalise(b"Study Title\tT\n" + payload)
    except HarvestError as exc:
        assert exc.stage == "normalise"


# -- study files over HTTP and dispatch -------------------------------------------------------


def test_study_files_over_http_from_an_index_page_and_from_ids(httpserver, tmp_path):
    index = '<html><a href="idr0001-graml-sysgro/idr0001-study.txt">1</a> <a href="./idr0113-study.txt">113</a></html>'
    httpserver.expect_request("/meta/").respond_with_data(index, content_type="text/html")
    httpserver.expect_request("/meta/idr0001-graml-sysgro/idr0001-study.txt").respond_with_data((STUDY_FILES / "idr0001-study.txt").read_bytes())
    httpserver.expect_request("/meta/idr0113-study.txt").respond_with_data((STUDY_FILES / "idr0113-study.txt").read_bytes())
    factory = lambda: HttpClient(retries=0, sleep=lambda s: None)  # noqa: E731
    listed = harvester_for(httpserver.url_for("/meta/"), client_factory=factory)
    assert isinstance(listed, HttpStudyFilesIdrHarvester)
    summary, records, _ = _harvest(listed, tmp_path / "a.sqlite3")
    assert summary.status == "ok" and set(records) == {"idr0001", "idr0113"}

    named = harvester_for(httpserver.url_for("/meta/"), study_ids=["idr0001-graml-sysgro", "idr0113", "idr0404"], client_factory=factory)
    summary, records, errors = _harvest(named, tmp_path / "b.sqlite3")
    assert set(records) == {"idr0001", "idr0113"} and summary.counts["errored"] == 1
    assert errors[0]["stage"] == "fetch" and errors[0]["source_url"].endswith("/meta/idr0404-study.txt")


@pytest.mark.parametrize(
    "location, kind",
    [
        ("https://idr.openmicroscopy.org/", ApiIdrHarvester),
        ("https://idr.openmicroscopy.org", ApiIdrHarvester),
        ("https://raw.githubusercontent.com/IDR/idr-metadata/master/", HttpStudyFilesIdrHarvester),
        ("/data/idr-metadata", MirrorIdrHarvester),
        ("file:///data/idr-metadata", MirrorIdrHarvester),
    ],
)
def test_harvester_for_dispatches_on_the_location(location, kind):
    harvester = harvester_for(location)
    assert type(harvester) is kind and harvester.name == "idr"
    assert harvester.location.rstrip("/").endswith(location.rstrip("/").removeprefix("file://"))


# -- the JSON API -------------------------------------------------------------------------------

API = FIXTURES / "api"
OLD_NS, NEW_NS = "openmicroscopy.org/idr/study", "idr.openmicroscopy.org/study/info"
IDR0038 = json.loads((API / "idr0038_projects_and_annotations.CONSTRUCTED.json").read_text(encoding="utf-8"))


def _screen(screen_id: int, name: str) -> dict:
    return {"@id": screen_id, "@type": "http://www.openmicroscopy.org/Schemas/OME/2016-06#Screen", "Name": name, "Description": "", "omero:details": {}}


def _annotations(values: list, ns: str = NEW_NS) -> dict:
    return {"annotations": [{"id": 1, "ns": ns, "values": values}], "experimenters": []}


def _screen102(year: int) -> dict:
    return json.loads((API / f"screen102_map_annotations_{year}.CONSTRUCTED.json").read_text(encoding="utf-8"))


SCREENS = [
    _screen(102, "idr0002-heriche-condensation/screenA"),
    _screen(901, "idr0901-constructed-flaky/screenA"),
    _screen(902, "idr0902-constructed-truncated/screenA"),
    _screen(903, "idr0903-constructed-vanished/screenA"),
    _screen(950, "not an IDR study"),
]
FLAKY = _annotations([["Study Title", "A study served after a 429 and a 500"], ["Organism", "Mus musculus"]])


class FakeIdr:
    """An IDR server: paged listings, per-object annotations, and scripted faults."""

    def __init__(self, httpserver, annotations_102: dict):
        self.listing_calls: list[tuple[str, int]] = []
        self.faults = {"901": [(429, "slow down", {"Retry-After": "7"}), (500, "oops", {})]}
        self.by_object = {("screen", "102"): annotations_102, ("screen", "901"): FLAKY}
        self.by_object.update({("project", pid): body for pid, body in IDR0038["annotations"].items()})
        for kind in ("projects", "screens"):
            httpserver.expect_request(f"/api/v0/m/{kind}/").respond_with_handler(self.listing)
        httpserver.expect_request("/webclient/api/annotations/").respond_with_handler(self.annotations)

    def listing(self, request) -> Response:
        kind = request.path.rstrip("/").rsplit("/", 1)[1]
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        self.listing_calls.append((kind, offset))
        objects = IDR0038["projects"] if kind == "projects" else SCREENS
        body = {"data": objects[offset : offset + limit], "meta": {"offset": offset, "limit": limit, "maxLimit": 500, "totalCount": len(objects)}}
        return Response(json.dumps(body), content_type="application/json")

    def annotations(self, request) -> Response:
        assert request.args["type"] == "map"
        kind = "screen" if "screen" in request.args else "project"
        object_id = request.args[kind]
        if self.faults.get(object_id):
            status, text, headers = self.faults[object_id].pop(0)
            return Response(text, status=status, headers=headers)
        if object_id == "902":
            return Response('{"annotations": [{"ns": "idr.openmicroscopy.org/stu', content_type="application/json")
        if (kind, object_id) not in self.by_object:
            return Response('{"message": "not found"}', status=404, content_type="application/json")
        return Response(json.dumps(self.by_object[(kind, object_id)]), content_type="application/json")


def _harvester(httpserver, waits: list | None = None, page_size: int = 2) -> ApiIdrHarvester:
    client = HttpClient(timeout=5, retries=3, backoff=1.0, sleep=(waits.append if waits is not None else lambda s: None))
    return ApiIdrHarvester(httpserver.url_for("/"), client, page_size=page_size)


def test_pages_fetches_retries_and_records_errors_then_a_second_run_changes_nothing(httpserver, tmp_path):
    server, waits = FakeIdr(httpserver, _screen102(2022)), []
    with RecordStore(tmp_path / "s.sqlite3") as store:
        summary = run_harvest(_harvester(httpserver, waits), store)
        assert summary.status == "partial", summary.line()
        assert (summary.counts["added"], summary.counts["errored"]) == (3, 2)
        assert sorted(r.accession for r in store.iter_records()) == ["idr0002", "idr0038", "idr0901"]
        assert ("projects", 2) in server.listing_calls and ("screens", 4) in server.listing_calls
        assert waits == [7.0, 2.0]  # Retry-After, then exponential backoff after the 500

        errors = {e["accession"]: e for e in store.errors()}
        assert errors["idr0902"]["stage"] == "fetch" and "invalid JSON" in errors["idr0902"]["message"]
        assert errors["idr0902"]["source_url"].endswith("/webclient/api/annotations/?type=map&screen=902")
        assert errors["idr0903"]["stage"] == "fetch" and "HTTP 404" in errors["idr0903"]["message"]
        assert "listed by gather is gone" in errors["idr0903"]["message"]
        assert store.get("idr0901").organisms[0].taxon_id == "NCBITaxon:10090"

        again = run_harvest(_harvester(httpserver), store)
        assert (again.counts["unchanged"], again.counts["errored"], again.counts["added"], again.counts["updated"]) == (3, 2, 0, 0)


def test_failed_listing_fails_the_run_and_deletes_nothing(httpserver, tmp_path):
    FakeIdr(httpserver, _screen102(2022))
    with RecordStore(tmp_path / "s.sqlite3") as store:
        run_harvest(_harvester(httpserver), store)
        httpserver.clear()
        httpserver.expect_request("/api/v0/m/projects/").respond_with_data("down", status=503)
        summary = run_harvest(_harvester(httpserver), store, full=True)
        assert summary.status == "failed" and summary.counts["deleted"] == 0
        assert store.count_by_source() == {"idr": 3}


def _harvest_one_screen(httpserver, tmp_path, annotations: dict):
    httpserver.expect_request("/api/v0/m/projects/").respond_with_json({"data": [], "meta": {"totalCount": 0}})
    httpserver.expect_request("/api/v0/m/screens/").respond_with_json({"data": SCREENS[:1], "meta": {"totalCount": 1}})
    httpserver.expect_request("/webclient/api/annotations/", query_string="type=map&screen=102").respond_with_json(annotations)
    with RecordStore(tmp_path / "s.sqlite3") as store:
        summary = run_harvest(_harvester(httpserver, page_size=50), store)
        assert summary.status == "ok", summary.line()
        return store.get("idr0002")


PUBLICATION = "Integration of biological data by kernels on graph nodes allows prediction of new genes involved in mitotic chromosome condensation."


@pytest.mark.parametrize("year", [2016, 2017, 2022])
def test_screen102_study_annotations_of_every_vintage(httpserver, tmp_path, year):
    record = _harvest_one_screen(httpserver, tmp_path, _screen102(year))
    publication = record.publications[0]
    assert (publication.doi, publication.pubmed_id, publication.pmc_id) == ("10.1091/mbc.E13-04-0221", "24943848", "PMC4142622")
    assert len(record.authors) == 16 and record.authors[-1].name == "Ellenberg J"
    assert {link.type for link in record.links} >= {"doi", "pubmed", "pmc"}
    screen = record.study_components[0]
    assert (screen.kind, screen.name) == ("screen", "idr0002-heriche-condensation/screenA")
    if year == 2016:  # publication keys only: the title falls back to the publication's
        assert record.title == PUBLICATION and record.imaging_methods == [] and record.organisms == []
    else:
        assert [m.fbbi_id for m in record.imaging_methods] == ["FBbi:00000246"]
        assert record.study_type == ["high content screen"]
        assert (screen.attributes["Screen Type"], screen.attributes["Technology Type"]) == ("primary screen", "RNAi screen")
    if year == 2022:
        assert record.title == "Focused mitotic chromsome condensaton screen using HeLa cells"
        assert [o.taxon_id for o in record.organisms] == ["NCBITaxon:9606"]
        assert (record.license.name, record.license.url) == ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")
        assert record.release_date == "2016-05-26" and screen.attributes["Sample Type"] == "cell"
        assert record.authors[0].name == "Hériché JK"


def test_newer_namespace_wins_and_other_annotations_are_ignored(httpserver, tmp_path):
    body = _screen102(2022)
    body["annotations"] += [
        {"id": 2, "ns": OLD_NS, "values": [["Study Title", "stale title from the old namespace"]]},
        {"id": 3, "ns": "openmicroscopy.org/omero/client/mapAnnotation", "values": [["Study Title", "a user's note"]]},
    ]
    record = _harvest_one_screen(httpserver, tmp_path, body)
    assert record.title == "Focused mitotic chromsome condensaton screen using HeLa cells"


def test_api_and_study_file_give_the_same_study(httpserver, tmp_path):
    """idr0038's map annotations were built from its study file the way IDR's pyidr does."""
    FakeIdr(httpserver, _screen102(2022))
    with RecordStore(tmp_path / "s.sqlite3") as store:
        run_harvest(_harvester(httpserver), store)
        api = store.get("idr0038")
    mirror = MirrorIdrHarvester(FIXTURES / "study_files", study_ids=["idr0038"])
    from_file = mirror.normalise(mirror.fetch(next(iter(mirror.gather(None))))).record
    for field in ("title", "description", "release_date", "doi", "license", "study_type", "publications", "organisms"):
        assert getattr(api, field) == getattr(from_file, field), field
    assert [a.name for a in api.authors] == ["Held M", "Santeramo I", "Wilm B", "Murray P", "Lévy R"]
    assert [(c.kind, c.name, c.attributes["Data DOI"]) for c in api.study_components] == [
        (c.kind, c.name, c.attributes["Data DOI"]) for c in from_file.study_components
    ]
    # Without the FBbi accession of the file, the free text maps to its own FBbi term.
    assert [m.fbbi_id for m in from_file.imaging_methods] == ["FBbi:00000364"]
    assert [m.fbbi_id for m in api.imaging_methods] == ["FBbi:00000369"]
