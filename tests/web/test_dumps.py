"""`bioimage-search dump` and /dumps/: gzip NDJSON and JSON-LD lines of every record plus a
manifest with counts and SHA-256 sums, written while streaming from the store cursor."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc

import orjson
import pytest
from click.testing import CliRunner

from bioimage_search.cli import main
from harvesters.records import Record
from harvesters.store import RecordStore
from query.dumps import write_dump
from query.site import Site
from tests.web.live import build_index, sample_settings_in


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return sample_settings_in(tmp_path_factory.mktemp("dumps"))


def run(settings, *args):
    result = CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "dump", *args])
    assert result.exit_code == 0, result.output
    return result


def lines(path) -> list[dict]:
    with gzip.open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle]


def test_dump_writes_records_jsonld_and_a_manifest(settings, tmp_path):
    result = run(settings, "--out", str(tmp_path))
    assert "dump: 28 records" in result.output
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    with RecordStore(settings.store_path) as store:
        assert manifest["counts"] == store.count_by_source() and manifest["total"] == 28
        stored = {r.accession: r for r in store.iter_records()}
    assert manifest["generation"] is None and manifest["created"].endswith("Z") and manifest["source"] is None
    for item in manifest["files"]:
        data = (tmp_path / item["name"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest() and item["bytes"] == len(data)
    records = [Record.model_validate(r) for r in lines(tmp_path / "records.ndjson.gz")]
    assert {r.accession: r for r in records} == stored
    docs = lines(tmp_path / "records.jsonld.gz")
    assert [d["@type"] for d in docs] == ["Dataset"] * 28
    assert {d["name"] for d in docs} == {r.title for r in records}


def test_dump_of_one_source_and_the_generation(settings, tmp_path):
    build_index(settings)
    run(settings, "--out", str(tmp_path / "bia"), "--source", "bia")
    manifest = orjson.loads((tmp_path / "bia" / "manifest.json").read_bytes())
    assert manifest["source"] == "bia" and manifest["counts"] == {"bia": 28}
    assert manifest["generation"].startswith("gen-")
    run(settings, "--out", str(tmp_path / "empiar"), "--source", "empiar")
    assert orjson.loads((tmp_path / "empiar" / "manifest.json").read_bytes())["total"] == 0


def test_identical_store_gives_identical_files(settings, tmp_path):
    run(settings, "--out", str(tmp_path / "a"))
    run(settings, "--out", str(tmp_path / "b"))
    for name in ("records.ndjson.gz", "records.jsonld.gz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


class _ManyRecords:
    """A store stand-in yielding N large records one at a time, counting what it handed out."""

    def __init__(self, template: Record, n: int):
        self.template, self.n, self.pulled = template, n, 0

    def iter_records(self, source=None):
        for i in range(self.n):
            self.pulled += 1
            yield self.template.model_copy(update={"accession": f"S-BIG{i}", "description": f"{i} " + "x" * 20_000})

    def current_seq(self):
        return self.n


def test_dump_streams_instead_of_holding_all_records(settings, tmp_path):
    with RecordStore(settings.store_path) as store:
        template = store.get("S-BIAD1043")
    fake = _ManyRecords(template, 1500)  # ~30 MB of record JSON in all
    tracemalloc.start()
    try:
        manifest = write_dump(fake, tmp_path, Site("https://x.org"), None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fake.pulled == manifest["total"] == 1500
    assert peak < 5_000_000, f"peak {peak} bytes: the dump held records in memory"


def test_dumps_are_served(settings):
    from web import create_app

    client = create_app(settings).test_client()
    missing = client.get("/dumps/")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    run(settings)  # the default folder, which /dumps/ serves
    listing = client.get("/dumps/").get_json()["data"]
    assert listing["manifest"]["total"] == 28
    for item in listing["files"]:
        response = client.get(item["url"].removeprefix("http://localhost"))
        assert response.status_code == 200
        if "sha256" in item:
            assert hashlib.sha256(response.get_data()).hexdigest() == item["sha256"]
    assert client.get("/dumps/store.sqlite3").status_code == 404
    assert client.get("/dumps/..%2Fstore.sqlite3").status_code == 404
