"""What operators see and trigger: the status report (live generation, documents per source,
each source's last runs with their errors, recent builds, next scheduled runs), admin jobs
run in a background thread, and the numbers behind /metrics.

Flask-free: :func:`make_app` hands an :class:`Ops` to the web app, whose status blueprint
(:mod:`web.status_api`) only calls its methods. ``bioimage-search status`` prints the
same report.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from time import monotonic

import orjson

from bioimage_search.config import ConfigError, Settings
from bioimage_search.pipeline import JobBusyError, UnknownSourceError, harvest_and_update, rebuild, record_source
from bioimage_search.scheduler import Scheduler, lock_holder, next_runs
from bioimage_search.sources import FACTORIES
from harvesters.store import RecordStore
from indexer.generations import NoIndexError, current, disk_size, list_generations, read_builds, write_json_atomic

log = logging.getLogger(__name__)
RUNS_SHOWN = 5
ERRORS_SHOWN = 10
BUILDS_SHOWN = 10
JOBS_KEPT = 200
METRIC_RUNS = 1000


# -- the status report ----------------------------------------------------------------------


def status_report(settings: Settings, scheduler: Scheduler | None = None) -> dict:
    """Everything an operator asks first, as plain JSON-able data."""
    store = _open_store(settings)
    try:
        seq = store.current_seq() if store else 0
        live = store.count_by_source() if store else {}
        sources = [_source_status(settings, store, source) for source in FACTORIES]
    finally:
        if store:
            store.close()
    try:
        planned, schedule_error = {row["id"]: row for row in next_runs(settings, scheduler)}, None
    except ConfigError as exc:  # report it; the rest of the status is still worth seeing
        planned, schedule_error = {}, str(exc)
    for row in sources:
        row["schedule"] = planned.get(f"harvest:{row['name']}")
    return {
        "generation": generation_status(settings.index_dir, seq),
        "generations": [path.name for path in list_generations(settings.index_dir)],
        "store": {"live_records": live, "seq": seq},
        "sources": sources,
        "builds": read_builds(settings.index_dir)[:BUILDS_SHOWN],
        "scheduler": {
            "enabled": settings.scheduler.enabled,
            "running_in_this_process": scheduler is not None and scheduler.running,
            "pid": lock_holder(settings.data_dir),
            "jobs": list(planned.values()),
            "error": schedule_error,
        },
    }


def generation_status(index_dir: Path, store_seq: int | None = None) -> dict | None:
    """The live generation: name, times, age, documents per source, size, lag behind the store."""
    try:
        live = current(index_dir)
    except NoIndexError:
        return None
    meta = live.meta
    last_seq = int(meta.get("last_seq", 0))
    return {
        "name": live.name,
        "created": meta.get("created"),
        "updated": meta.get("updated"),
        "age_seconds": _age(meta.get("created")),
        "update_age_seconds": _age(meta.get("updated")),
        "documents": meta.get("doc_count"),
        "per_source": meta.get("per_source", {}),
        "size_bytes": disk_size(live.path),
        "last_seq": last_seq,
        "changes_not_indexed": max(0, store_seq - last_seq) if store_seq is not None else None,
    }


def _source_status(settings: Settings, store: RecordStore | None, source: str) -> dict:
    try:
        name, location = record_source(settings, source), settings.location_of(source)
    except Exception:  # a misconfigured source must not take the whole report down
        log.exception("cannot build the %s harvester for the status report", source)
        name, location = source, None
    runs = store.runs(name, limit=RUNS_SHOWN) if store else []
    for run in runs:
        run["errors"] = [
            {k: error[k] for k in ("stage", "accession", "source_url", "message", "at")}
            for error in store.errors(run["id"], limit=ERRORS_SHOWN)
        ]
    return {"name": source, "record_source": name, "location": location, "runs": runs}


def _open_store(settings: Settings) -> RecordStore | None:
    return RecordStore(settings.store_path) if settings.store_path.exists() else None


def _age(stamp: str | None) -> float | None:
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return round((datetime.now(timezone.utc) - moment).total_seconds(), 1)


# -- metrics ----------------------------------------------------------------------------------


def metrics_snapshot(settings: Settings) -> dict:
    """Numbers for /metrics: index size and age, documents per source, harvest outcomes."""
    store = _open_store(settings)
    try:
        live = store.count_by_source() if store else {}
        runs = store.runs(limit=METRIC_RUNS) if store else []
    finally:
        if store:
            store.close()
    outcomes = Counter((run["source"], run["status"]) for run in runs)
    last: dict[str, dict] = {}
    for run in runs:  # newest first
        if run["status"] != "running":
            last.setdefault(run["source"], run)
    generation = generation_status(settings.index_dir)
    return {
        "generation": generation,
        "generations": len(list_generations(settings.index_dir)),
        "store_records": live,
        "harvest_runs": dict(outcomes),
        "last_runs": last,
        "builds": dict(Counter((b.get("kind"), b.get("outcome")) for b in read_builds(settings.index_dir))),
    }


# -- admin jobs ----------------------------------------------------------------------------------


class Jobs:
    """Admin-triggered jobs, run in a background thread of this process and recorded as
    JSON files under ``<data_dir>/jobs`` so any web worker can report on them.

    The pipeline's locks keep the single-writer guarantees: a harvest of a source already
    being harvested ends as ``busy``; a rebuild waits for the index writer."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.data_dir / "jobs"

    def start(self, kind: str, source: str | None = None) -> dict:
        """Record a queued job and start it; returns its record."""
        if kind == "harvest" and source not in FACTORIES:
            raise UnknownSourceError(source)
        self.dir.mkdir(parents=True, exist_ok=True)
        job = {"id": secrets.token_hex(8), "kind": kind, "source": source, "status": "queued", "created": _now(), "pid": os.getpid(),
               "started": None, "ended": None, "stage": None, "records": 0, "result": None, "error": None}
        self._save(job)
        threading.Thread(target=self._run, args=(job,), name=f"job-{job['id']}", daemon=True).start()
        self._prune()
        return job

    def get(self, job_id: str) -> dict | None:
        """A job's record, or None if unknown."""
        if not job_id.isalnum():
            return None
        try:
            job = orjson.loads((self.dir / f"{job_id}.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not job["ended"] and not _alive(job.get("pid")):
            job.update(status="interrupted", error="the process running this job has stopped")
        return job

    def _run(self, job: dict) -> None:
        job.update(status="running", started=_now())
        self._save(job)
        progress = _Progress(self, job)
        try:
            if job["kind"] == "harvest":
                outcome = harvest_and_update(self.settings, job["source"], on_record=progress.tick, on_stage=progress.stage)
                job.update(status=outcome.harvest.status, result=outcome.line())
            else:
                summary = rebuild(self.settings, wait_seconds=self.settings.index.freshness_seconds,
                                  on_record=progress.tick, on_stage=progress.stage)
                job.update(status="ok", result=summary.line())
        except JobBusyError as exc:
            job.update(status="busy", error=str(exc))
        except Exception as exc:  # recorded for the operator, and logged
            log.exception("admin job %s failed", job["id"])
            job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        job["ended"] = _now()
        self._save(job)

    def _save(self, job: dict) -> None:
        try:
            write_json_atomic(self.dir / f"{job['id']}.json", job)
        except OSError as exc:
            log.warning("cannot record job %s: %s", job["id"], exc)

    def _prune(self) -> None:
        files = sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in files[:-JOBS_KEPT]:
            path.unlink(missing_ok=True)


class _Progress:
    """Counts records and saves the job at most twice a second."""

    def __init__(self, jobs: Jobs, job: dict):
        self.jobs, self.job, self.saved = jobs, job, 0.0

    def stage(self, name: str) -> None:
        self.job.update(stage=name, records=0)
        self._save(force=True)

    def tick(self, _item: str) -> None:
        self.job["records"] += 1
        self._save()

    def _save(self, force: bool = False) -> None:
        if force or monotonic() - self.saved > 0.5:
            self.saved = monotonic()
            self.jobs._save(dict(self.job))


def _alive(pid: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    return True


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- what the web app gets ------------------------------------------------------------------------


class Ops:
    """The operations side handed to the web app (see web.status_api)."""

    def __init__(self, settings: Settings, scheduler: Scheduler | None = None):
        self.settings = settings
        self.scheduler = scheduler
        self.jobs = Jobs(settings)
        self._metrics: tuple[float, dict] | None = None

    @property
    def admin_token(self) -> str:
        """The admin bearer token; empty means the admin endpoints do not exist."""
        return self.settings.admin.token

    def sources(self) -> list[str]:
        """Source names a harvest can be triggered for."""
        return list(FACTORIES)

    def status(self) -> dict:
        """The status report."""
        return status_report(self.settings, self.scheduler)

    def start_job(self, kind: str, source: str | None = None) -> dict:
        """Start a harvest (of ``source``) or a rebuild in the background."""
        return self.jobs.start(kind, source)

    def job(self, job_id: str) -> dict | None:
        """A job's record."""
        return self.jobs.get(job_id)

    def metrics(self, max_age: float = 5.0) -> dict:
        """The metrics snapshot, cached for ``max_age`` seconds (scrapers poll often)."""
        cached = self._metrics
        if cached is None or monotonic() - cached[0] > max_age:
            cached = self._metrics = (monotonic(), metrics_snapshot(self.settings))
        return cached[1]


def make_app(settings: Settings, scheduler: Scheduler | None = None, service=None):
    """The Flask app with the operations side attached (status, admin, metrics)."""
    from web import create_app

    app = create_app(settings, service)
    app.extensions["ops"] = Ops(settings, scheduler)
    return app
