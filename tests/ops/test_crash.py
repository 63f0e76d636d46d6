"""Crash safety with real processes: ``kill -9`` of a harvest or an index build at several
points loses no committed record, leaves the live generation serving, and the next run
recovers on its own; a full disk or an unwritable data dir is a recorded failure."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bioimage_search import pipeline
from bioimage_search.cli import main
from harvesters.store import RecordStore, StoreError
from indexer.builder import full_build
from indexer.generations import current, list_generations
from query.params import parse_search_params
from query.service import SearchService
from tests.ops.helpers import BIN, Proc, accession, env_for, ops_settings, record, save, write_mirror

RECORDS = 800
KILL_POINTS = (0.2, 0.6, "mid")
# A full build of these records takes ~0.2 s after ~0.4 s of start-up: a kill at a fixed
# 0.6 s can land after the swap. The build is killed at start-up, at its first progress
# report and half-way, all before it can swap.
INDEX_KILL_POINTS = (0.2, "first", "mid")
DONE = re.compile(r": (\d+) done \(last (\S+)\)")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    write_mirror(root, RECORDS)
    return root


def start(tmp_path: Path, data: Path, *args: str) -> Proc:
    # cwd without a config.toml: the defaults apply, with the data dir from the environment.
    return Proc([str(BIN), *args], cwd=tmp_path, env=env_for(data))


def kill_at(proc: Proc, point) -> None:
    if point == "mid":  # deterministic: once the process reports half of the records done
        proc.wait_for(lambda line: (m := DONE.search(line)) is not None and int(m.group(1)) >= RECORDS // 2)
    elif point == "first":  # once the process reports its first records done
        proc.wait_for(lambda line: DONE.search(line) is not None)
    else:
        time.sleep(max(0.0, point - (time.monotonic() - proc.started)))
    os.killpg(proc.popen.pid, signal.SIGKILL)
    proc.finish()


def reported_committed(lines: list[str]) -> set[str]:
    """Records the harvest reported done: every accession up to the last one it named
    (the mirror is gathered in accession order and a record is reported after its commit)."""
    last = None
    for line in lines:
        if m := DONE.search(line):
            last = m.group(2)
    return {accession(i) for i in range(int(last.removeprefix("S-GEN")) + 1)} if last else set()


def assert_store_intact(store_path: Path, must_hold: set[str]) -> set[str]:
    if not store_path.exists():
        assert not must_hold
        return set()
    with sqlite3.connect(store_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with RecordStore(store_path) as store:
        live = store.live_accessions("bia")
    assert must_hold <= live, sorted(must_hold - live)[:5]
    return live


def test_kill_9_harvest_at_any_point_loses_no_committed_record(mirror, tmp_path):
    data = tmp_path / "data"
    committed: set[str] = set()
    for point in KILL_POINTS:
        proc = start(tmp_path, data, "harvest", "archive", "--from", str(mirror))
        kill_at(proc, point)
        committed |= reported_committed(proc.lines)
        assert_store_intact(data / "store.sqlite3", committed)
    assert len(committed) >= RECORDS // 2  # the mid-way kill came after half were reported

    rerun = start(tmp_path, data, "harvest", "archive", "--from", str(mirror))
    assert rerun.finish() == 0, rerun.text()
    assert "harvest bia: ok:" in rerun.text()
    assert len(assert_store_intact(data / "store.sqlite3", committed)) == RECORDS
    with RecordStore(data / "store.sqlite3") as store:
        statuses = [run["status"] for run in store.runs("bia")]
    assert statuses[0] == "ok"
    assert "running" not in statuses  # runs of killed processes are marked, not left open
    assert "interrupted" in statuses


@pytest.fixture()
def indexed(tmp_path):
    """A store of RECORDS + 100 records whose live generation holds only the first RECORDS."""
    settings = ops_settings(tmp_path)
    with RecordStore(settings.store_path) as store:
        save(store, [record(accession(i), i) for i in range(RECORDS)])
        full_build(store, settings.index_dir)
        save(store, [record(accession(i), i) for i in range(RECORDS, RECORDS + 100)])
    return settings


def serves(service: SearchService) -> tuple[str, int]:
    result = service.search(parse_search_params({"query": [""], "pageSize": ["1"], "facets": [""]}))
    return result["generation"], result["totalHits"]


def test_kill_9_indexer_keeps_the_live_generation_serving(indexed, tmp_path):
    settings = indexed
    old = current(settings.index_dir).name
    in_flight = SearchService(settings.index_dir, settings.store_path)
    assert serves(in_flight) == (old, RECORDS)
    for point in INDEX_KILL_POINTS:
        kill_at(start(tmp_path, settings.data_dir, "index", "--full"), point)
        assert current(settings.index_dir).name == old
        assert serves(in_flight) == (old, RECORDS)
        assert serves(SearchService(settings.index_dir, settings.store_path)) == (old, RECORDS)

    # An incremental update killed while its Whoosh writer is open in the live generation:
    # killed the moment the writer's lock file appears (any earlier leftover removed first).
    with RecordStore(settings.store_path) as store:
        save(store, [record(accession(i), i) for i in range(RECORDS)])  # RECORDS + 100 changes pending
    whoosh_lock = settings.index_dir / old / "MAIN_WRITELOCK"
    whoosh_lock.unlink(missing_ok=True)
    update = start(tmp_path, settings.data_dir, "index")
    deadline = time.monotonic() + 30
    while not whoosh_lock.exists() and time.monotonic() < deadline and update.popen.poll() is None:
        time.sleep(0.005)
    kill_at(update, 0)
    assert whoosh_lock.exists(), update.text()
    assert serves(SearchService(settings.index_dir, settings.store_path)) == (old, RECORDS)
    leftovers = [whoosh_lock]

    rerun = start(tmp_path, settings.data_dir, "index", "--full")
    assert rerun.finish() == 0, rerun.text()
    new = current(settings.index_dir).name
    assert new != old and serves(in_flight) == (new, RECORDS + 100)
    assert not list(settings.index_dir.glob("*.building"))  # half-built generations cleaned up
    assert leftovers and not list((settings.index_dir / old).glob("*_WRITELOCK"))  # stale lock removed
    assert old in {p.name for p in list_generations(settings.index_dir)}  # kept for rollback


class FullStore(RecordStore):
    """A store whose file may not grow past its current size: SQLite's own 'database or
    disk is full' error (SQLITE_FULL), as on a full disk."""

    def __init__(self, path):
        super().__init__(path)
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count = {pages + 1}")


def test_disk_full_is_a_recorded_failure_not_a_corrupt_store(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    first = write_mirror(mirror, 10)
    settings = ops_settings(tmp_path, mirror)
    assert pipeline.harvest_source(settings, "archive").status == "ok"
    write_mirror(mirror, 200, start=10)

    monkeypatch.setattr(pipeline, "RecordStore", FullStore)
    with pytest.raises(StoreError, match="database or disk is full"):
        pipeline.harvest_source(settings, "archive")
    result = CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "harvest", "archive", "--from", str(mirror)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "record store write failed: database or disk is full" in result.output

    live = assert_store_intact(settings.store_path, set(first))
    with RecordStore(settings.store_path) as store:
        runs = store.runs("bia")
    assert runs[0]["status"] == "failed" and "disk is full" in runs[0]["message"]
    monkeypatch.undo()
    assert pipeline.harvest_source(settings, "archive").status == "ok"
    assert len(assert_store_intact(settings.store_path, live)) == 210


def test_an_unwritable_data_dir_is_a_clear_cli_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    for args in (["harvest", "archive"], ["index"]):
        result = CliRunner().invoke(main, ["--data-dir", str(blocker / "data"), *args])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and "Traceback" not in result.output
