"""The scheduler: each source's harvest on its own cron (``[scheduler] harvest``, one key per
source of :data:`bioimage_search.sources.FACTORIES`), each followed by an incremental index
update, and a full rebuild on ``rebuild_cron``. APScheduler 3.x runs the jobs with explicit
ids, ``coalesce=True``, ``max_instances=1`` and ``misfire_grace_time``.

Exactly one scheduler runs per data directory, however many web processes there are: a
scheduler starts only while it holds an ``fcntl.flock`` on ``<data_dir>/scheduler.lock``
(the holder's pid is written inside). ``bioimage-search schedule`` is the dedicated
process; ``bioimage-search serve`` starts an embedded one only if it gets the lock.

APScheduler's memory job store forgets missed runs across restarts, so at start each job
is compared with our own history (the store's harvest runs, builds.json): a run that was
due within ``misfire_grace_seconds`` and did not happen runs once, at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from bioimage_search.config import ConfigError, Settings
from bioimage_search.pipeline import harvest_job, rebuild_job, record_source
from bioimage_search.sources import FACTORIES
from harvesters.store import RecordStore
from indexer.generations import read_builds

log = logging.getLogger(__name__)
LOCK_NAME = "scheduler.lock"
REBUILD_JOB = "rebuild"


def harvest_job_id(source: str) -> str:
    """The job id of a source's scheduled harvest."""
    return f"harvest:{source}"


@dataclass(frozen=True)
class PlannedJob:
    """One scheduled job as the configuration declares it."""

    id: str
    kind: str
    source: str | None
    cron: str
    trigger: CronTrigger
    func: Callable
    args: tuple


def _zone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.scheduler.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"[scheduler] timezone: unknown time zone {settings.scheduler.timezone!r}") from exc


def _trigger(cron: object, zone: ZoneInfo, key: str) -> CronTrigger:
    if not isinstance(cron, str):
        raise ConfigError(f"[scheduler] {key}: a cron must be a string, got {cron!r}")
    try:
        return CronTrigger.from_crontab(cron, timezone=zone)
    except ValueError as exc:
        raise ConfigError(f"[scheduler] {key}: invalid cron {cron!r} (minute hour day month weekday): {exc}") from exc


def planned_jobs(settings: Settings) -> list[PlannedJob]:
    """The jobs the configuration asks for; ConfigError for an unknown source or a bad cron."""
    zone, crons = _zone(settings), settings.scheduler.harvest
    unknown = sorted(set(crons) - set(FACTORIES))
    if unknown:
        raise ConfigError(f"[scheduler] harvest: unknown source(s) {', '.join(unknown)} (known: {', '.join(FACTORIES)})")
    jobs = [
        PlannedJob(harvest_job_id(source), "harvest", source, crons[source],
                   _trigger(crons[source], zone, f"harvest.{source}"), harvest_job, (settings, source))
        for source in FACTORIES
        if crons.get(source)
    ]
    if settings.scheduler.rebuild_cron:
        cron = settings.scheduler.rebuild_cron
        jobs.append(PlannedJob(REBUILD_JOB, "rebuild", None, cron, _trigger(cron, zone, "rebuild_cron"), rebuild_job, (settings,)))
    return jobs


# -- the single-scheduler lock --------------------------------------------------------------


class SchedulerLock:
    """An exclusive flock on ``<data_dir>/scheduler.lock``; the kernel drops it when the
    holder dies, so a killed scheduler never blocks the next one."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / LOCK_NAME
        self._handle = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        """Give the lock up (harmless if not held)."""
        if self._handle is not None:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the live process running the scheduler of ``data_dir``, if any."""
    try:
        pid = int((Path(data_dir) / LOCK_NAME).read_text().strip() or 0)
        if pid:
            os.kill(pid, 0)
            return pid
    except (OSError, ValueError):
        pass
    return None


# -- running it -----------------------------------------------------------------------------


class Scheduler:
    """APScheduler with our jobs, started only by the process that gets the lock."""

    def __init__(self, settings: Settings, *, blocking: bool = False):
        self.settings = settings
        self.jobs_planned = planned_jobs(settings)  # ConfigError early, before any lock
        cls = BlockingScheduler if blocking else BackgroundScheduler
        self.aps = cls(timezone=_zone(settings), job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
        })
        self.lock = SchedulerLock(settings.data_dir)

    @property
    def running(self) -> bool:
        return bool(self.aps.running)

    def start(self) -> bool:
        """Take the lock, add the jobs and start (a BlockingScheduler returns only when it
        stops). False, with nothing started, if another process runs the scheduler."""
        if not self.lock.acquire():
            return False
        try:
            now = datetime.now(timezone.utc)
            for job in self.jobs_planned:
                extra = {}
                due = catch_up_time(self.settings, job, now)
                if due is not None:
                    log.info("scheduler: %s missed a run within the grace period; running it now", job.id)
                    extra["next_run_time"] = due
                self.aps.add_job(job.func, job.trigger, args=job.args, id=job.id, name=job.id, replace_existing=True, **extra)
            log.info("scheduler started in pid %d with %d jobs", os.getpid(), len(self.jobs_planned))
            self.aps.start()
        except BaseException:
            self.shutdown()
            raise
        return True

    def shutdown(self, wait: bool = False) -> None:
        """Stop the scheduler (jobs in flight finish in their threads) and drop the lock."""
        if self.aps.running:
            self.aps.shutdown(wait=wait)
        self.lock.release()

    def next_runs(self) -> list[dict]:
        """The live jobs and their next run times."""
        planned = {job.id: job for job in self.jobs_planned}
        return [
            _job_row(planned[job.id], job.next_run_time) for job in self.aps.get_jobs() if job.id in planned
        ]


def start_embedded(settings: Settings) -> Scheduler | None:
    """Start a background scheduler in this process if ``[scheduler] enabled`` and no other
    process runs one; returns it, or None."""
    if not settings.scheduler.enabled:
        log.info("scheduler disabled in the configuration ([scheduler] enabled = false)")
        return None
    scheduler = Scheduler(settings)
    if not scheduler.start():
        log.info("scheduler not started here: pid %s runs it", lock_holder(settings.data_dir))
        return None
    return scheduler


def next_runs(settings: Settings, scheduler: Scheduler | None = None, now: datetime | None = None) -> list[dict]:
    """Next run of each scheduled job: from the running scheduler if it is in this
    process, else computed from the crons."""
    if scheduler is not None and scheduler.running:
        return scheduler.next_runs()
    now = now or datetime.now(timezone.utc)
    return [_job_row(job, job.trigger.get_next_fire_time(None, now)) for job in planned_jobs(settings)]


def _job_row(job: PlannedJob, when: datetime | None) -> dict:
    return {"id": job.id, "kind": job.kind, "source": job.source, "cron": job.cron,
            "next_run": _iso(when) if when else None}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- catching up after downtime ---------------------------------------------------------------


def catch_up_time(settings: Settings, job: PlannedJob, now: datetime) -> datetime | None:
    """``now`` if the job's latest fire time within the grace period passed without a run
    (by our own history), else None."""
    due = _latest_fire_time(job.trigger, now - timedelta(seconds=settings.scheduler.misfire_grace_seconds), now)
    if due is None:
        return None
    last = _last_start(settings, job)
    return now if last is None or last < due else None


def _latest_fire_time(trigger: CronTrigger, since: datetime, now: datetime) -> datetime | None:
    latest, moment = None, trigger.get_next_fire_time(None, since)
    while moment is not None and moment <= now:
        latest, moment = moment, trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return latest


def _last_start(settings: Settings, job: PlannedJob) -> datetime | None:
    if job.kind == "rebuild":
        starts = [b.get("started") for b in read_builds(settings.index_dir) if b.get("kind") == "full"]
    else:
        with RecordStore(settings.store_path) as store:
            starts = [run["started_at"] for run in store.runs(record_source(settings, job.source), limit=1)]
    return _parse(starts[0]) if starts and starts[0] else None


def _parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
