"""Index generations for operators: validation before the swap, the builds record, rollback,
stale Whoosh locks, and freshness through the HTTP API."""

from __future__ import annotations

import fcntl
import json
import threading
import time
import urllib.request

import pytest
from click.testing import CliRunner

from bioimage_search.cli import main
from bioimage_search.ops import make_app
from bioimage_search.pipeline import harvest_and_update
from harvesters.records import Record
from harvesters.store import RecordStore
from indexer.builder import BuildRejectedError, full_build, update
from indexer.generations import (
    BUILDS,
    NoRollbackError,
    clear_stale_locks,
    current,
    read_builds,
    record_build,
    rollback,
    validate_build,
)
from tests.ops.helpers import accession, ops_settings, record, save, write_mirror


@pytest.fixture()
def store(tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        save(store, [record(accession(i), i) for i in range(18)])
        save(store, [record(f"S-JCBD{i}", i, source="jcb") for i in range(2)])
        yield store


def dropping(store, keep):
    """Make the store yield to an index build only the records ``keep`` accepts (a broken build)."""
    real = store.iter_record_data
    store.iter_record_data = lambda source=None: (d for d in real(source) if keep(Record.model_validate(d)))


def test_validate_build_rules():
    assert validate_build({"bia": 95, "jcb": 5}, {"bia": 100, "jcb": 5}, 0.9) is None
    assert "89 documents" in validate_build({"bia": 84, "jcb": 5}, {"bia": 100, "jcb": 5}, 0.9)
    assert "jcb" in validate_build({"bia": 100}, {"bia": 100, "jcb": 1}, 0.5)
    assert validate_build({}, {}, 0.9) is None  # an empty store may build an empty index
    assert validate_build({"bia": 1}, {"bia": 1, "idr": 0}, 0.9) is None  # no live records: not missing


def test_a_build_missing_a_source_is_not_swapped_in(store, tmp_path):
    index_dir = tmp_path / "index"
    good = full_build(store, index_dir).generation
    dropping(store, lambda r: r.source != "jcb")
    with pytest.raises(BuildRejectedError, match="no documents from jcb"):
        full_build(store, index_dir)
    assert current(index_dir).name == good
    assert not list(index_dir.glob("gen-*.building"))
    last = read_builds(index_dir)[0]
    assert (last["kind"], last["outcome"]) == ("full", "rejected")
    assert "jcb" in last["reason"] and last["expected"] == {"bia": 18, "jcb": 2} and last["per_source"] == {"bia": 18}


def test_a_build_with_far_fewer_documents_is_not_swapped_in(store, tmp_path):
    index_dir = tmp_path / "index"
    good = full_build(store, index_dir).generation
    dropping(store, lambda r: not r.accession.startswith("S-GEN0001"))  # 8 of 20 gone
    with pytest.raises(BuildRejectedError, match="minimum 90%"):
        full_build(store, index_dir)
    assert current(index_dir).name == good
    assert full_build(store, index_dir, min_fraction=0.5).total == 12  # a looser bound lets it through


def test_every_build_is_recorded_newest_first(store, tmp_path):
    index_dir = tmp_path / "index"
    built = full_build(store, index_dir)
    save(store, [record("S-NEW1", 1)])
    update(store, index_dir)
    newest, oldest = read_builds(index_dir)[:2]
    assert newest["kind"] == "update" and newest["indexed"] == 1 and newest["documents"] == 21
    assert oldest["kind"] == "full" and oldest["generation"] == built.generation and oldest["outcome"] == "ok"
    for entry in (newest, oldest):
        assert entry["started"] <= entry["ended"] and entry["seconds"] >= 0
    for i in range(5):
        record_build(index_dir, {"kind": "test", "n": i}, keep=3)
    assert [b["n"] for b in read_builds(index_dir)] == [4, 3, 2]
    assert json.loads((index_dir / BUILDS).read_text())[0]["n"] == 4


def test_rollback_returns_to_the_previous_generation_and_refuses_past_the_first(store, tmp_path):
    index_dir = tmp_path / "index"
    first = full_build(store, index_dir).generation
    save(store, [record("S-NEW1", 1)])
    second = full_build(store, index_dir).generation
    assert rollback(index_dir) == (second, first)
    assert current(index_dir).name == first and current(index_dir).meta["doc_count"] == 20
    assert read_builds(index_dir)[0]["kind"] == "rollback"
    with pytest.raises(NoRollbackError, match="nothing to roll back to"):
        rollback(index_dir)
    update(store, index_dir)  # the next update applies what the older generation lacks
    assert current(index_dir).meta["doc_count"] == 21


def test_rollback_on_the_command_line(tmp_path):
    settings = ops_settings(tmp_path)
    with RecordStore(settings.store_path) as store:
        save(store, [record(accession(i), i) for i in range(3)])
        first = full_build(store, settings.index_dir).generation
        second = full_build(store, settings.index_dir).generation
    runner = CliRunner()
    done = runner.invoke(main, ["--data-dir", str(settings.data_dir), "rollback"])
    assert done.exit_code == 0, done.output
    assert f"now {first} (was {second})" in done.output
    refused = runner.invoke(main, ["--data-dir", str(settings.data_dir), "rollback"])
    assert refused.exit_code == 1 and "nothing to roll back to" in refused.output
    empty = runner.invoke(main, ["--data-dir", str(tmp_path / "empty"), "rollback"])
    assert empty.exit_code == 1 and "no index" in empty.output


def test_stale_whoosh_locks_are_removed_but_held_ones_kept(store, tmp_path):
    index_dir = tmp_path / "index"
    full_build(store, index_dir)
    full_build(store, index_dir)
    old, live = sorted(p for p in index_dir.iterdir() if p.is_dir())
    (old / "MAIN_WRITELOCK").touch()  # left by a writer that was killed
    held = (live / "MAIN_WRITELOCK").open("a")
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a writer that is still alive
    try:
        assert clear_stale_locks(index_dir) == [f"{old.name}/MAIN_WRITELOCK"]
        assert (live / "MAIN_WRITELOCK").exists()
    finally:
        held.close()
    assert clear_stale_locks(index_dir) == [f"{live.name}/MAIN_WRITELOCK"]


def test_a_harvested_record_is_searchable_over_http_within_the_freshness_bound(tmp_path):
    from werkzeug.serving import make_server

    mirror = tmp_path / "mirror"
    write_mirror(mirror, 20)
    settings = ops_settings(tmp_path, mirror)
    harvest_and_update(settings, "archive")
    server = make_server("127.0.0.1", 0, make_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/search?query=accession:S-NEW00001&facets="

    def hits() -> int:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["data"]["totalHits"]

    try:
        assert hits() == 0
        write_mirror(mirror, 1, start=1, prefix="S-NEW")
        harvest_ended: list[float] = []
        job = threading.Thread(target=harvest_and_update, args=(settings, "archive"),
                               kwargs={"on_stage": lambda stage: stage == "index" and harvest_ended.append(time.monotonic())})
        job.start()  # in the background, as the scheduler runs it
        bound = settings.index.freshness_seconds
        deadline = time.monotonic() + bound + 30
        while hits() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = time.monotonic()
        job.join(30)
        assert hits() == 1, "the harvested record never became searchable"
        assert harvest_ended and found - harvest_ended[0] < bound
    finally:
        server.shutdown()
