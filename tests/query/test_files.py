"""File-level search inside one dataset (query/files.py) over a real SQLite record store:
a generated screen of a few thousand files checked against a brute-force reference (both
execution strategies), the real S-BIAD1492 rows through the API, bad parameters, the
store's attribute rows on re-harvest and on migration, and no 500 for any parameters."""

from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harvesters.records import FileRow
from harvesters.store import RecordStore
from query import files as file_search
from query.files import FileSearchRequest, parse_file_params, search_files
from query.params import ParamError

ACC = "S-TEST1"
WELLS = [f"{r}{c:02d}" for r in "ABCDEFGH" for c in range(1, 13)]
COMPOUNDS = [f"Cmpd-{i:02d}" for i in range(20)]


def screen_rows(seed: int = 3) -> list[FileRow]:
    """4 plates x 96 wells x 3 fields x 2 channels = 2,304 files with ties in size."""
    rnd = random.Random(seed)
    rows = []
    for plate in range(1, 5):
        for well in WELLS:
            control = well.endswith("01")
            compound = "DMSO" if control else rnd.choice(COMPOUNDS)
            for fld in range(1, 4):
                for channel in ("DAPI", "GFP"):
                    attributes = {"Compound": compound, "Channel": channel, "Well": well, "Plate": f"P{plate}"}
                    if not control:
                        attributes["Concentration"] = rnd.choice(["1 uM", "10 uM", "100 uM"])
                    rows.append(FileRow(
                        accession=ACC,
                        path=f"plate{plate}/{well}/field{fld}_{channel}.{'png' if channel == 'GFP' and fld == 3 else 'tif'}",
                        size=rnd.choice([1000, 2000, 3000]) + rnd.randrange(50) * 10,
                        format="PNG" if channel == "GFP" and fld == 3 else "TIFF",
                        component="Validation" if plate == 4 else "Primary",
                        attributes=attributes,
                    ))
    rnd.shuffle(rows)  # stored order is not path order
    return rows


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    file_search.clear_cache()
    step, file_search.SIZE_STEP = file_search.SIZE_STEP, 64  # several size checkpoints at this size
    path = tmp_path_factory.mktemp("files") / "store.db"
    rows = screen_rows()
    with RecordStore(path) as store:
        with store.transaction() as db:
            store.replace_files(db, ACC, rows)
    store = RecordStore(path)
    search_files(store, ACC, FileSearchRequest())  # build the index with the small step
    file_search.SIZE_STEP = step
    yield store, rows
    store.close()
    file_search.clear_cache()


@pytest.fixture(params=["rows", "masks"])
def strategy(request, monkeypatch):
    """Run each check with small selections handled row by row (the default at this size)
    and with every selection handled through row masks (what large datasets use)."""
    if request.param == "masks":
        monkeypatch.setattr(file_search, "ENUM_MAX", -1)
        monkeypatch.setattr(file_search, "ENUM_ROWS_MAX", -1)
        monkeypatch.setattr(file_search, "WALK_ROWS", 0)
    return request.param


# -- a brute-force reference ---------------------------------------------------------------


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


_WORDS: dict[int, tuple[FileRow, set[str]]] = {}


def words_of(row: FileRow) -> set[str]:
    cached = _WORDS.get(id(row))
    if cached is None or cached[0] is not row:
        cached = _WORDS[id(row)] = (row, set(tokens(row.path + " " + " ".join(row.attributes.values()))))
    return cached[1]


def matches(row: FileRow, req: FileSearchRequest, skip: str | None = None) -> bool:
    if skip != "format" and req.formats and row.format not in req.formats:
        return False
    if skip != "component" and req.components and row.component not in req.components:
        return False
    for name, values in req.attributes.items():
        if skip != "attr." + name and row.attributes.get(name) not in values:
            return False
    if req.size_min is not None and (row.size is None or row.size < req.size_min):
        return False
    if req.size_max is not None and (row.size is None or row.size > req.size_max):
        return False
    words = tokens(req.query)
    if words:
        have = words_of(row)
        *exact, last = words
        if not set(exact) <= have or not (last in have if len(last) < 2 else any(w.startswith(last) for w in have)):
            return False
    return True


def reference(rows: list[FileRow], req: FileSearchRequest) -> dict:
    names = Counter(n for r in rows for n, v in r.attributes.items() if v)
    if req.query:  # the text filter applies to every facet: narrow once
        rows = [r for r in rows if matches(r, FileSearchRequest(query=req.query))]
        req = FileSearchRequest(**{**req.__dict__, "query": ""})
    hits = sorted((r for r in rows if matches(r, req)), key=lambda r: r.path)
    descending = req.sort_order == "descending"
    if req.sort_by == "path":
        hits.sort(key=lambda r: r.path, reverse=descending)
    elif req.sort_by == "size":
        hits.sort(key=lambda r: -1 if r.size is None else r.size, reverse=descending)  # stable: path asc in ties
    else:
        hits.sort(key=lambda r: r.format or "", reverse=descending)
    dims = [("format", lambda r: r.format), ("component", lambda r: r.component)]
    dims += [("attr." + n, (lambda n: lambda r: r.attributes.get(n))(n)) for n in sorted(names, key=lambda n: (-names[n], n))]
    selected = {"format": req.formats, "component": req.components, **{"attr." + n: v for n, v in req.attributes.items()}}
    facets = {}
    for param, get in dims:
        counts = Counter(get(r) for r in rows if matches(r, req, skip=param) and get(r))
        top = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: file_search.FACET_SIZE])
        for value in selected.get(param, []):
            top[value] = counts.get(value, 0)
        facets[param] = sorted(((k, c, k in selected.get(param, [])) for k, c in top.items() if c or k in selected.get(param, [])),
                               key=lambda b: (-b[1], b[0]))
    page = hits[req.offset: req.offset + req.page_size]
    return {"total": len(hits), "paths": [r.path for r in page], "facets": facets}


def run(store, args: dict) -> dict:
    return search_files(store, ACC, parse_file_params({k: v if isinstance(v, list) else [v] for k, v in args.items()}))


def check(screen, args: dict) -> dict:
    store, rows = screen
    req = parse_file_params({k: v if isinstance(v, list) else [v] for k, v in args.items()})
    got = search_files(store, ACC, req)
    want = reference(rows, req)
    assert got["totalHits"] == want["total"], args
    assert [f["path"] for f in got["files"]] == want["paths"], args
    facets = {f["name"]: [(b["key"], b["count"], b["selected"]) for b in f["buckets"]] for f in got["facets"]}
    assert list(facets) == list(want["facets"]), args
    for name, buckets in want["facets"].items():
        assert facets[name] == buckets, (args, name)
    return got


# -- filters, facets, text, sorting, paging ---------------------------------------------


FILTER_CASES = [
    {},
    {"format": "PNG"},
    {"component": "Validation"},
    {"attr.Compound": "Cmpd-03"},
    {"attr.Channel": "GFP"},
    {"size.gte": "2000", "size.lte": "2490"},
    {"size.gt": "2999"},
    {"size.lt": "1000"},
    {"query": "plate2 B07"},
    {"query": "dmso gfp"},
    {"query": "field3_G"},
    {"query": "cmpd-0"},
    {"attr.Concentration": ["1 uM", "100 uM"]},
    {"attr.Channel": "DAPI", "attr.Compound": ["Cmpd-03", "Cmpd-11"], "attr.Plate": "P2"},
    {"attr.Channel": "DAPI", "format": "TIFF", "size.gte": "1500", "query": "plate1"},
    {"attr.Well": "C04", "sortBy": "size"},
    {"attr.Nope": "x"},
    {"attr.Compound": ["Cmpd-03", "not there"]},
]


@pytest.mark.parametrize("args", FILTER_CASES, ids=[urlencode(a, doseq=True) or "none" for a in FILTER_CASES])
def test_filters_match_the_reference(screen, strategy, args):
    check(screen, {**args, "pageSize": "50"})


def test_or_within_an_attribute_and_across_attributes(screen, strategy):
    store, _ = screen
    one = run(store, {"attr.Compound": "Cmpd-03"})["totalHits"]
    other = run(store, {"attr.Compound": "Cmpd-11"})["totalHits"]
    either = run(store, {"attr.Compound": ["Cmpd-03", "Cmpd-11"]})["totalHits"]
    assert either == one + other and one and other
    both = run(store, {"attr.Compound": ["Cmpd-03", "Cmpd-11"], "attr.Channel": "GFP"})["totalHits"]
    assert both * 2 == either  # every field has both channels


def test_facets_are_multi_select(screen, strategy):
    store, rows = screen
    result = check(screen, {"attr.Channel": "DAPI", "attr.Plate": "P1"})
    facets = {f["name"]: f for f in result["facets"]}
    channel = {b["key"]: b for b in facets["attr.Channel"]["buckets"]}
    # The channel facet ignores the channel selection (but not the plate one): GFP stays visible.
    assert channel["DAPI"]["selected"] and not channel["GFP"]["selected"]
    assert channel["GFP"]["count"] == sum(1 for r in rows if r.attributes["Plate"] == "P1" and r.attributes["Channel"] == "GFP")
    # Other facets count within the whole selection.
    assert sum(b["count"] for b in facets["component"]["buckets"]) == result["totalHits"]
    assert facets["attr.Channel"]["otherCount"] == 0


def test_facets_list_top_values_with_the_rest_counted(screen, strategy):
    store, _ = screen
    monkey_top = file_search.FACET_SIZE
    result = run(store, {})
    well = next(f for f in result["facets"] if f["name"] == "attr.Well")
    assert len(well["buckets"]) == min(monkey_top, 96) and well["valueCount"] == 96
    assert sum(b["count"] for b in well["buckets"]) + well["otherCount"] == result["totalHits"]


def test_text_query_tokens_and_prefix(screen, strategy):
    store, rows = screen
    assert run(store, {"query": "PLATE3 a05 dapi"})["totalHits"] == 3  # 3 fields, case-insensitive
    assert run(store, {"query": "plate3 a05 da"})["totalHits"] == 3  # prefix on the last token
    assert run(store, {"query": "plate3 a0 dapi"})["totalHits"] == 0  # only the last token is a prefix
    assert run(store, {"query": "dmso"})["totalHits"] == sum(1 for r in rows if r.attributes["Compound"] == "DMSO")
    assert run(store, {"query": "!!! ???"})["totalHits"] == len(rows)  # no terms: no text filter
    assert run(store, {"query": "Plaaté"})["totalHits"] == 0


@pytest.mark.parametrize("sort_by", ["path", "size", "format"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorting_with_stable_tie_break_on_path(screen, strategy, sort_by, order):
    store, _ = screen
    for args in ({}, {"attr.Channel": "GFP", "query": "plate2"}):
        result = check(screen, {**args, "sortBy": sort_by, "sortOrder": order, "pageSize": "200", "page": "2"})
        files = result["files"]
        if sort_by != "path":
            keys = [(f[sort_by], f["path"]) for f in files]
            if order == "asc":
                assert keys == sorted(keys)
            else:
                assert keys == sorted(keys, key=lambda k: (-ord(k[0][0]) if sort_by == "format" else -k[0], k[1]))


def test_paging_and_beyond_the_end(screen, strategy):
    store, rows = screen
    first = check(screen, {"pageSize": "500"})
    second = check(screen, {"pageSize": "500", "page": "2"})
    assert {f["path"] for f in first["files"]}.isdisjoint(f["path"] for f in second["files"])
    last = check(screen, {"pageSize": "500", "page": "5"})
    assert len(last["files"]) == len(rows) - 4 * 500
    beyond = run(store, {"pageSize": "500", "page": "6"})
    assert beyond["files"] == [] and beyond["totalHits"] == len(rows)
    filtered = run(store, {"attr.Channel": "GFP", "page": "1000"})
    assert filtered["files"] == [] and filtered["totalHits"] == len(rows) // 2
    check(screen, {"attr.Channel": "GFP", "pageSize": "7", "page": "150", "sortOrder": "desc"})
    # offset/limit are aliases; an offset off the page grid is exact.
    aliased = run(store, {"offset": "3", "limit": "4"})
    assert [f["path"] for f in aliased["files"]] == [f["path"] for f in first["files"][3:7]]
    assert aliased["page"] == 1 and aliased["pageSize"] == 4


def test_random_requests_match_the_reference(screen, strategy):
    rnd = random.Random(11)
    choices = {
        "attr.Channel": ["DAPI", "GFP"],
        "attr.Compound": COMPOUNDS[:6] + ["DMSO"],
        "attr.Concentration": ["1 uM", "10 uM"],
        "attr.Plate": ["P1", "P3"],
        "format": ["TIFF", "PNG"],
        "component": ["Primary"],
        "query": ["plate1", "b0", "field2 gfp", "cmpd"],
    }
    for _ in range(15):
        args = {name: rnd.sample(values, rnd.randint(1, min(2, len(values)))) for name, values in choices.items()
                if rnd.random() < 0.3}
        if "query" in args:
            args["query"] = args["query"][:1]
        if rnd.random() < 0.3:
            args["size.gte"] = str(rnd.randrange(900, 2600))
        args["sortBy"] = rnd.choice(["path", "size", "format"])
        args["sortOrder"] = rnd.choice(["asc", "desc"])
        args["pageSize"] = str(rnd.choice([5, 50]))
        args["page"] = str(rnd.randint(1, 3))
        check(screen, args)


def test_identifier_like_attributes_filter_but_are_not_counted(screen, monkeypatch):
    store, rows = screen
    monkeypatch.setattr(file_search, "ID_LIKE_VALUES", 50)  # Well (96 values) becomes identifier-like
    monkeypatch.setattr(file_search, "ID_LIKE_SHARE", 0.01)
    file_search.clear_cache()
    try:
        result = run(store, {"attr.Well": ["B07", "C03"], "attr.Channel": "GFP"})
        assert result["totalHits"] == 2 * 4 * 3
        well = next(f for f in result["facets"] if f["name"] == "attr.Well")
        assert [(b["key"], b["count"], b["selected"]) for b in well["buckets"]] == [("B07", 12, True), ("C03", 12, True)]
        assert well["otherCount"] is None and well["valueCount"] == 96  # not counted beyond the selection
        unfiltered = next(f for f in run(store, {})["facets"] if f["name"] == "attr.Well")
        assert len(unfiltered["buckets"]) == file_search.FACET_SIZE and unfiltered["buckets"][0]["count"] == 24
        assert unfiltered["otherCount"] == len(rows) - 24 * file_search.FACET_SIZE
    finally:
        file_search.clear_cache()


def test_dataset_without_files_is_an_empty_answer(screen):
    store, _ = screen
    result = search_files(store, "S-NOFILES", FileSearchRequest())
    assert result["totalHits"] == 0 and result["files"] == [] and result["facets"] == []


# -- the store: re-harvest and migration ---------------------------------------------------


def attribute_rows(store: RecordStore, accession: str) -> int:
    return store.db.execute("SELECT count(*) FROM file_attributes WHERE accession=?", (accession,)).fetchone()[0]


def test_reharvest_replaces_attribute_and_text_rows(tmp_path):
    rows = screen_rows()[:300]
    with RecordStore(tmp_path / "s.db") as store:
        for _ in range(2):
            with store.transaction() as db:
                store.replace_files(db, ACC, rows)
        expected = sum(len(r.attributes) for r in rows)
        assert attribute_rows(store, ACC) == expected  # no duplicates
        version = store.file_set(ACC).version
        assert run(store, {"query": "cmpd"})["totalHits"] == sum(1 for r in rows if r.attributes["Compound"] != "DMSO")
        renamed = [r.model_copy(update={"attributes": {"Compound": "Renamed"}}) for r in rows[:10]]
        with store.transaction() as db:
            store.replace_files(db, ACC, renamed)
        assert attribute_rows(store, ACC) == 10
        assert store.file_set(ACC).version != version
        assert run(store, {"query": "cmpd"})["totalHits"] == 0  # the old text is gone from FTS
        assert run(store, {"query": "renamed"})["totalHits"] == 10
        result = run(store, {})  # the in-memory index follows the new version
        assert result["totalHits"] == 10
        assert [f["name"] for f in result["facets"]] == ["format", "component", "attr.Compound"]
        store.mark_deleted([ACC])
        assert attribute_rows(store, ACC) == 0 and store.file_set(ACC) is None
        assert store.db.execute("SELECT count(*) FROM files_fts WHERE files_fts MATCH 'renamed'").fetchone()[0] == 0


def test_reharvesting_a_record_keeps_one_attribute_row_per_file_attribute(sample_settings, tmp_path):
    import shutil

    from bioimage_search.config import SAMPLE_STORE
    from harvesters.archive import MirrorArchiveHarvester
    from harvesters.base import run_harvest

    path = tmp_path / "copy.db"
    shutil.copy(sample_settings.store_path, path)
    with RecordStore(path) as store:
        before = attribute_rows(store, "S-BIAD1492")
        files = list(store.iter_files("S-BIAD1492"))
        assert before == sum(len([v for v in f.attributes.values() if v]) for f in files) > 0
        run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
        assert attribute_rows(store, "S-BIAD1492") == before
        assert store.file_set("S-BIAD1492").count == len(files)


def test_migration_backfills_an_old_store(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE files (accession TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, format TEXT,
                            component TEXT, attributes BLOB);
        CREATE INDEX files_accession ON files(accession);
    """)
    old.executemany("INSERT INTO files VALUES (?,?,?,?,?,?)", [
        ("S-OLD1", "a/one.tif", 10, "TIFF", "c", orjson.dumps({"Stain": "DAPI", "Empty": ""})),
        ("S-OLD1", "a/two.tif", 20, "TIFF", "c", orjson.dumps({"Stain": "GFP"})),
        ("S-OLD2", "b/three.png", 30, "PNG", None, orjson.dumps({})),
    ])
    old.commit()
    old.close()
    with RecordStore(path) as store:
        assert [r[1] for r in store.db.execute("PRAGMA table_info(files)")][0] == "id"
        assert attribute_rows(store, "S-OLD1") == 2
        assert store.file_set("S-OLD1").attribute_names == ["Stain"]
        assert store.file_set("S-OLD2").count == 1
        assert [f["path"] for f in run_acc(store, "S-OLD1", {"attr.Stain": "GFP"})["files"]] == ["a/two.tif"]
        assert run_acc(store, "S-OLD1", {"query": "dapi"})["totalHits"] == 1
        with store.transaction() as db:  # the migrated rows can be replaced (FTS deletes work)
            store.replace_files(db, "S-OLD1", [FileRow(accession="S-OLD1", path="a/new.tif")])
        assert run_acc(store, "S-OLD1", {"query": "dapi"})["totalHits"] == 0
    with RecordStore(path) as store:  # opening again is a no-op
        assert attribute_rows(store, "S-OLD1") == 0 and store.file_set("S-OLD1").count == 1


def run_acc(store, accession, args):
    return search_files(store, accession, parse_file_params({k: [v] for k, v in args.items()}))


# -- parameters and the API ----------------------------------------------------------------


BAD = [
    ("page=0", "page"),
    ("page=abc", "page"),
    ("pageSize=501", "pageSize"),
    ("pageSize=0", "pageSize"),
    ("limit=0", "limit"),
    ("limit=1000", "limit"),
    ("offset=-1", "offset"),
    ("page=2&offset=10", "offset"),
    ("pageSize=10&limit=10", "limit"),
    ("sortBy=colour", "sortBy"),
    ("sortOrder=sideways", "sortOrder"),
    ("size.gte=big", "size.gte"),
    ("size.lte=", "size.lte"),
    ("size.lte=nan", "size.lte"),
    ("size.gte=-5", "size.gte"),
    ("size.between=1", "size.between"),
    ("bogus=1", "bogus"),
    ("facet.format=TIFF", "facet.format"),
    ("attr.=x", "attr."),
    ("attr.SNR=", "attr.SNR"),
    ("format=", "format"),
    ("query=" + "x" * 1001, "query"),
]


@pytest.mark.parametrize("query, param", BAD, ids=[b[1] + ":" + b[0][:20] for b in BAD])
def test_bad_parameters_are_400_with_the_one_error_shape(client, query, param):
    response = client.get("/api/v1/datasets/S-BIAD1492/files?" + query)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "code", "message", "param", "position"}
    assert body["error"]["code"] == "invalid_parameter" and body["error"]["param"] == param
    assert body["error"]["message"]
    with pytest.raises(ParamError):
        from urllib.parse import parse_qs

        parse_file_params(parse_qs(query, keep_blank_values=True))


def test_api_over_the_real_dataset(client):
    body = client.get("/api/v1/datasets/S-BIAD1492/files").get_json()
    data = body["data"]
    assert data["totalHits"] == len(data["files"]) == 13 and body["meta"]["total"] == 13
    assert [f["path"] for f in data["files"]] == sorted(f["path"] for f in data["files"])
    names = [f["name"] for f in data["facets"]]
    assert names[:2] == ["format", "component"]
    assert {"attr.SNR", "attr.clustering probability", "attr.Annotation type", "attr.Source image"} <= set(names)

    low = client.get("/api/v1/datasets/S-BIAD1492/files?attr.SNR=low&attr.clustering probability=75%25&attr.clustering probability=0%25").get_json()["data"]
    assert low["totalHits"] == 2
    assert all(f["attributes"]["SNR"] == "low" for f in low["files"])
    facets = {f["name"]: {b["key"]: b for b in f["buckets"]} for f in low["facets"]}
    assert facets["attr.SNR"]["high"]["count"] == 2 and facets["attr.SNR"]["low"]["selected"]
    assert facets["attr.clustering probability"]["50%"]["count"] == 1

    text = client.get("/api/v1/datasets/S-BIAD1492/files?query=lowSNR labels&sortBy=size&sortOrder=desc").get_json()["data"]
    assert text["totalHits"] == 3 and all("labels" in f["path"] and "lowSNR" in f["path"] for f in text["files"])
    sizes = [f["size"] for f in text["files"]]
    assert sizes == sorted(sizes, reverse=True)

    big = client.get("/api/v1/datasets/S-BIAD1492/files?size.gte=60000000&format=tiff").get_json()["data"]
    assert big["totalHits"] == 4 and all(f["size"] >= 60_000_000 for f in big["files"])

    lower = client.get("/api/v1/datasets/s-biad1492/files?pageSize=2&page=7").get_json()
    assert lower["data"]["accession"] == "S-BIAD1492" and len(lower["data"]["files"]) == 1


def test_dataset_without_file_rows_over_the_api(client):
    body = client.get("/api/v1/datasets/S-BIAD1043/files").get_json()
    assert body["data"]["totalHits"] == 0 and body["data"]["files"] == []


PARAM_NAMES = st.sampled_from([
    "query", "q", "format", "component", "attr.SNR", "attr.clustering probability", "attr.", "attr.x y",
    "size.gte", "size.lte", "size.gt", "size.lt", "size.eq", "sortBy", "sortOrder", "page", "pageSize",
    "offset", "limit", "facets", "x",
])
VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["low", "high", "75%", "TIFF", "size", "path", "format", "desc", "1", "0", "-1", "500",
                     "1e30", "nan", "inf", "9" * 30, "image*", '"', "a b", "OR", "NEAR(", "lowSNR lab"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(PARAM_NAMES, VALUES), max_size=6))
def test_arbitrary_parameters_never_500(client, params):
    response = client.get("/api/v1/datasets/S-BIAD1492/files?" + urlencode(params, doseq=True))
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code == 400:
        assert body["error"]["message"] and body["error"]["param"]
    else:
        data = body["data"]
        assert data["totalHits"] >= len(data["files"])
        assert len(data["files"]) <= data["pageSize"]


def test_index_snapshot_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(file_search, "SNAPSHOT_MIN_ROWS", 1)
    rows = screen_rows()
    queries = [{}, {"attr.Channel": "GFP", "sortBy": "size", "sortOrder": "desc", "page": "3"},
               {"query": "plate2 dmso"}, {"size.gte": "1500", "size.lte": "2600", "sortBy": "format"},
               {"attr.Compound": ["Cmpd-03", "DMSO"], "format": "TIFF", "pageSize": "7", "page": "4"}]
    with RecordStore(tmp_path / "s.db") as store:
        with store.transaction() as db:
            store.replace_files(db, ACC, rows)
        file_search.clear_cache()
        built = [run(store, q) for q in queries]  # builds, then writes the snapshot
        folder = tmp_path / "s.db.file-index"
        (snapshot,) = folder.glob("*.idx")
        file_search.clear_cache()
        build = file_search._Engine.__init__
        with monkeypatch.context() as patched:  # no build allowed: it must come from the snapshot
            patched.setattr(file_search._Engine, "__init__", lambda *a: pytest.fail("rebuilt"))
            assert [run(store, q) for q in queries] == built
        assert file_search._Engine.__init__ is build
        with store.transaction() as db:  # a new version replaces the snapshot
            store.replace_files(db, ACC, rows[:500])
        assert run(store, {})["totalHits"] == 500
        (replacement,) = folder.glob("*.idx")
        assert replacement.name != snapshot.name
        replacement.write_bytes(b"BISFILES" + b"\xff" * 40)  # unreadable: rebuilt, not an error
        file_search.clear_cache()
        assert run(store, {})["totalHits"] == 500
    file_search.clear_cache()
