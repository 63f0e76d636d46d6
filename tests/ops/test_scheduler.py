"""The scheduler: one job per configured source plus the rebuild, the APScheduler job
options, configuration errors, exactly one scheduler per data dir (also across processes),
catching up after downtime, and a scheduled harvest reaching the index."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from bioimage_search.config import ConfigError
from bioimage_search.scheduler import (
    REBUILD_JOB,
    Scheduler,
    catch_up_time,
    harvest_job_id,
    lock_holder,
    next_runs,
    planned_jobs,
    start_embedded,
)
from bioimage_search.sources import FACTORIES
from harvesters.store import RecordStore
from indexer.generations import current
from tests.ops.helpers import BIN, NEVER, Proc, env_for, ops_settings, write_config, write_mirror


def test_one_job_per_configured_source_and_the_rebuild(tmp_path):
    crons = {source: f"{i} 3 * * *" for i, source in enumerate(FACTORIES)}
    settings = ops_settings(tmp_path, harvest=crons, misfire_grace_seconds=120)
    scheduler = Scheduler(settings)
    assert scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.aps.get_jobs()}
        assert set(jobs) == {harvest_job_id(s) for s in FACTORIES} | {REBUILD_JOB}
        for job in jobs.values():
            assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 120)
        assert jobs[harvest_job_id("archive")].args[1] == "archive"
        rows = {row["id"]: row for row in scheduler.next_runs()}
        assert rows[harvest_job_id("archive")]["next_run"].endswith(":00:00Z")
        assert rows[REBUILD_JOB]["cron"] == NEVER
    finally:
        scheduler.shutdown()


def test_a_new_source_needs_only_a_config_line(tmp_path, monkeypatch):
    monkeypatch.setitem(FACTORIES, "newsource", FACTORIES["archive"])
    settings = ops_settings(tmp_path, harvest={"newsource": "5 4 * * *"}, rebuild_cron="")
    assert [(job.id, job.cron) for job in planned_jobs(settings)] == [("harvest:newsource", "5 4 * * *")]


@pytest.mark.parametrize("change, message", [
    ({"harvest": {"nosuch": "0 * * * *"}}, "unknown source"),
    ({"harvest": {"archive": "every hour"}}, "invalid cron"),
    ({"harvest": {"archive": 5}}, "must be a string"),
    ({"rebuild_cron": "61 * * * *"}, "rebuild_cron"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
])
def test_bad_schedules_are_config_errors(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        planned_jobs(ops_settings(tmp_path, **change))


def test_next_runs_without_a_scheduler_come_from_the_crons(tmp_path):
    settings = ops_settings(tmp_path, harvest={"archive": "30 * * * *"})
    now = datetime(2026, 3, 1, 10, 10, tzinfo=timezone.utc)
    rows = {row["id"]: row for row in next_runs(settings, now=now)}
    assert rows["harvest:archive"]["next_run"] == "2026-03-01T10:30:00Z"
    assert rows[REBUILD_JOB]["next_run"] == "2027-01-01T00:00:00Z"


def test_exactly_one_scheduler_per_data_dir(tmp_path):
    settings = ops_settings(tmp_path, enabled=True)
    first = start_embedded(settings)
    assert first is not None and lock_holder(settings.data_dir) == os.getpid()
    try:
        assert start_embedded(settings) is None  # a second web process gets no scheduler
        assert not Scheduler(settings).start()
    finally:
        first.shutdown()
    assert lock_holder(settings.data_dir) is None
    again = start_embedded(settings)
    assert again is not None
    again.shutdown()
    settings.scheduler.enabled = False
    assert start_embedded(settings) is None


def test_the_dedicated_process_holds_the_lock_and_stops_cleanly(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "config.toml", data)
    proc = Proc([str(BIN), "--config", str(config), "schedule"], cwd=tmp_path, env=env_for())
    try:
        proc.wait_for(lambda line: "scheduler started in pid" in line)
        assert lock_holder(data) == proc.popen.pid
        assert start_embedded(ops_settings(tmp_path, enabled=True)) is None
        second = Proc([str(BIN), "--config", str(config), "schedule"], cwd=tmp_path, env=env_for())
        assert second.finish(30) == 1
        assert f"another process (pid {proc.popen.pid}) runs the scheduler" in second.text()
    finally:
        proc.popen.terminate()
    assert proc.finish(30) == 0 and "schedule: stopped" in proc.text()
    assert lock_holder(data) is None


def test_catch_up_after_downtime_within_the_grace(tmp_path):
    mirror = tmp_path / "mirror"
    write_mirror(mirror, 2)
    settings = ops_settings(tmp_path, mirror, harvest={"archive": "0 * * * *"}, misfire_grace_seconds=3600)
    job = planned_jobs(settings)[0]
    now = datetime.now(timezone.utc)
    assert catch_up_time(settings, job, now) == now  # due within the last hour, never ran
    with RecordStore(settings.store_path) as store:
        store.finish_run(store.start_run("bia", str(mirror), False), "ok", {})
    assert catch_up_time(settings, job, now + timedelta(seconds=1)) is None  # it ran since
    settings.scheduler.harvest = {"archive": NEVER}
    far = planned_jobs(settings)[0]
    assert catch_up_time(settings, far, datetime(2026, 6, 1, tzinfo=timezone.utc)) is None  # outside the grace


def test_a_scheduled_harvest_reaches_the_index(tmp_path):
    mirror = tmp_path / "mirror"
    write_mirror(mirror, 5)
    settings = ops_settings(tmp_path, mirror, harvest={"archive": NEVER})
    scheduler = Scheduler(settings)
    assert scheduler.start()
    try:
        scheduler.aps.modify_job(harvest_job_id("archive"), next_run_time=datetime.now(timezone.utc))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if settings.index_dir.joinpath("CURRENT").exists() and current(settings.index_dir).meta.get("doc_count") == 5:
                break
            time.sleep(0.05)
        assert current(settings.index_dir).meta["per_source"] == {"bia": 5}
        with RecordStore(settings.store_path) as store:
            assert store.runs("bia")[0]["status"] == "ok"
    finally:
        scheduler.shutdown(wait=True)
