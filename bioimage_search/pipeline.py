"""The jobs that keep the index fresh: harvest one source then bring the index up to date,
and a full rebuild. The scheduler, the admin endpoints and the CLI all run these.

Each job may start in any process at any time, and stays safe:

- one harvest per source at a time: an ``fcntl.flock`` on ``<data_dir>/locks/harvest-<source>.lock``
  (a second one fails at once with JobBusyError, it does not queue behind the first);
- one index writer at a time: :func:`indexer.builder.writer_lock`; an update that finds the
  writer busy retries until the freshness bound runs out;
- a harvest killed half-way leaves a ``running`` run row: the next harvest of that source
  (holding the lock, so that run is surely dead) marks it ``interrupted``;
- a store that cannot be written (disk full, permissions) ends the run as ``failed`` with
  the reason, as far as the store still takes writes, and raises StoreError.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, sleep

from bioimage_search.config import Settings
from bioimage_search.sources import FACTORIES, build_harvester
from harvesters.base import RunSummary, run_harvest
from harvesters.store import RecordStore, StoreError
from indexer.builder import BuildRejectedError, BuildSummary, IndexBusyError, full_build, update
from indexer.generations import NoIndexError, current

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.25


class JobBusyError(RuntimeError):
    """The same job (a harvest of this source) is already running somewhere."""


class UnknownSourceError(KeyError):
    """No harvester is registered under that source name."""

    def __str__(self) -> str:
        return f"unknown source {self.args[0]!r} (known: {', '.join(FACTORIES)})"


@dataclass
class HarvestJobResult:
    """A harvest run and the index update that followed it (None: nothing to apply)."""

    harvest: RunSummary
    index: BuildSummary | None
    index_error: str | None = None

    def line(self) -> str:
        """One line for logs and job records."""
        index = self.index.line() if self.index else (f"index not updated: {self.index_error}" if self.index_error else "index already up to date")
        return f"{self.harvest.line()}; {index}"


# -- locks ------------------------------------------------------------------------------


@contextmanager
def exclusive_lock(path: Path, busy_message: str) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) or raise JobBusyError.

    The kernel releases an flock when its process dies, so a killed job never leaves a
    lock behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as exc:  # the data directory is not writable: the store will not be either
        raise StoreError(f"cannot create the lock {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobBusyError(busy_message) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def harvest_lock(settings: Settings, source: str):
    """The per-source harvest lock."""
    return exclusive_lock(settings.data_dir / "locks" / f"harvest-{source}.lock", f"a harvest of {source} is already running")


# -- harvest ------------------------------------------------------------------------------

_RECORD_SOURCES: dict[tuple[str, str], str] = {}


def record_source(settings: Settings, source: str) -> str:
    """The ``source`` its records (and harvest runs) carry: ``archive`` harvests ``bia``."""
    key = (source, settings.location_of(source))
    if key not in _RECORD_SOURCES:
        harvester = build_harvester(settings, source)
        _RECORD_SOURCES[key] = harvester.name
        harvester.close()
    return _RECORD_SOURCES[key]


def harvest_source(
    settings: Settings,
    source: str,
    location: str | None = None,
    *,
    full: bool = False,
    on_record: Callable[[str], None] | None = None,
) -> RunSummary:
    """Harvest one source into the record store, holding that source's lock.

    Raises JobBusyError if the source is being harvested elsewhere, StoreError if the store
    cannot be opened or written (the run is then recorded as failed where possible)."""
    if source not in FACTORIES:
        raise UnknownSourceError(source)
    with harvest_lock(settings, source):
        harvester = build_harvester(settings, source, location)
        try:
            with RecordStore(settings.store_path) as store:
                try:
                    _mark_interrupted(store, harvester.name)
                    return run_harvest(harvester, store, full=full, on_record=on_record)
                except (StoreError, sqlite3.Error) as exc:
                    message = f"record store write failed: {_root_cause(exc)}"
                    _record_failure(settings, harvester.name, message)
                    raise StoreError(f"harvest {source}: {message}") from exc
                except Exception as exc:  # a harvester bug: the run must not stay 'running'
                    _record_failure(settings, harvester.name, f"{type(exc).__name__}: {exc}")
                    raise
        finally:
            harvester.close()


def _mark_interrupted(store: RecordStore, name: str) -> None:
    """Runs of ``name`` still 'running' belong to a killed process (we hold the lock)."""
    stale = [run["id"] for run in store.runs(name, limit=50) if run["status"] == "running"]
    for run_id in stale:
        store.finish_run(run_id, "interrupted", {}, "the harvest process ended before the run finished")
        log.warning("harvest run %s of %s was interrupted (its process died); marked so", run_id, name)


def _root_cause(exc: BaseException) -> str:
    """The first store error in the chain: after SQLITE_FULL SQLite has already rolled the
    transaction back, so the store's own ROLLBACK fails ('no transaction is active') and
    that second error would otherwise hide the real one."""
    cause, seen = exc, []
    while cause is not None and len(seen) < 20:
        if isinstance(cause, (sqlite3.Error, StoreError)):
            seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return str(seen[-1] if seen else exc)


def _record_failure(settings: Settings, name: str, message: str) -> None:
    """Best effort: end the newest running run of ``name`` as failed, on a fresh connection."""
    try:
        with RecordStore(settings.store_path) as store:
            for run in store.runs(name, limit=1):
                if run["status"] == "running":
                    store.finish_run(run["id"], "failed", {}, message)
    except (StoreError, sqlite3.Error) as exc:
        log.error("could not record the failed run of %s either: %s", name, exc)


# -- index ----------------------------------------------------------------------------------


def index_is_behind(settings: Settings) -> bool:
    """Whether the store holds changes the live generation has not applied (or no index)."""
    try:
        last = int(current(settings.index_dir).meta.get("last_seq", -1))
    except NoIndexError:
        return True
    with RecordStore(settings.store_path) as store:
        return store.current_seq() > last


def update_index(settings: Settings, *, deadline: float | None = None) -> BuildSummary:
    """An incremental update; while another writer holds the index, retry until ``deadline``
    (a ``time.monotonic()`` value; None: try once)."""
    while True:
        try:
            with RecordStore(settings.store_path) as store:
                return update(store, settings.index_dir, keep=settings.index.keep_generations)
        except IndexBusyError:
            if deadline is None or monotonic() >= deadline:
                raise
            sleep(RETRY_SECONDS)


def harvest_and_update(
    settings: Settings,
    source: str,
    location: str | None = None,
    *,
    full: bool = False,
    on_record: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> HarvestJobResult:
    """Harvest ``source``, then apply what changed to the live index at once, so that a record
    the harvest added is searchable within ``[index] freshness_seconds`` of the run's end.

    If a full rebuild holds the index writer past that bound the update gives up; the
    rebuild's own catch-up update applies the harvest when it finishes."""
    (on_stage or _ignore)("harvest")
    summary = harvest_source(settings, source, location, full=full, on_record=on_record)
    deadline = monotonic() + settings.index.freshness_seconds
    if not index_is_behind(settings):
        return HarvestJobResult(summary, None)
    (on_stage or _ignore)("index")
    try:
        return HarvestJobResult(summary, update_index(settings, deadline=deadline))
    except IndexBusyError as exc:
        log.warning("harvest %s: index update deferred: %s", source, exc)
        return HarvestJobResult(summary, None, f"{exc} (a running rebuild applies this harvest when it ends)")


def rebuild(
    settings: Settings,
    *,
    wait_seconds: float = 0.0,
    on_record: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> BuildSummary:
    """A full rebuild (validated before its swap), then a catch-up update that applies what
    was harvested while it ran. Waits up to ``wait_seconds`` for a busy index writer."""
    deadline = monotonic() + wait_seconds
    (on_stage or _ignore)("build")
    while True:
        try:
            with RecordStore(settings.store_path) as store:
                summary = full_build(
                    store, settings.index_dir, keep=settings.index.keep_generations,
                    segment_records=settings.index.segment_records, workers=settings.index.build_workers, min_fraction=settings.index.min_fraction,
                    on_record=on_record,
                )
            break
        except IndexBusyError:
            if monotonic() >= deadline:
                raise
            sleep(RETRY_SECONDS)
    (on_stage or _ignore)("catch-up")
    if index_is_behind(settings):
        update_index(settings, deadline=monotonic() + settings.index.freshness_seconds)
    return summary


# -- what the scheduler calls ----------------------------------------------------------------


def harvest_job(settings: Settings, source: str) -> None:
    """The scheduled harvest of one source: never raises (APScheduler would only log it)."""
    try:
        log.info("scheduled: %s", harvest_and_update(settings, source).line())
    except JobBusyError as exc:
        log.info("scheduled harvest of %s skipped: %s", source, exc)
    except Exception:
        log.exception("scheduled harvest of %s failed", source)


def rebuild_job(settings: Settings) -> None:
    """The scheduled full rebuild: never raises."""
    try:
        log.info("scheduled: %s", rebuild(settings, wait_seconds=settings.scheduler.misfire_grace_seconds).line())
    except (BuildRejectedError, IndexBusyError) as exc:
        log.error("scheduled rebuild: %s", exc)
    except Exception:
        log.exception("scheduled rebuild failed")


def _ignore(_: str) -> None:
    pass
