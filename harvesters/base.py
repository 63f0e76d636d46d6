"""The harvester stage contract and the run loop shared by every source.

A harvester lists what may have changed (``gather``), gets one raw record (``fetch``) and
turns it into a Record plus its file rows (``normalise``). ``run_harvest`` drives the
stages, decides added/updated/unchanged/deleted/errored per record, stores errors as rows,
and never lets one bad record stop the run (model: ckanext-harvest).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic

from harvesters.records import FileRow, Record, sha256_hex
from harvesters.store import RecordStore, StoreError

log = logging.getLogger(__name__)

OUTCOMES = ("added", "updated", "unchanged", "deleted", "errored", "skipped")


class HarvestError(Exception):
    """A failure of one stage for one record (or of the whole gather stage)."""

    def __init__(self, stage: str, message: str, source_url: str | None = None):
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.source_url = source_url


class RecordWithdrawn(Exception):
    """Raised by ``normalise`` for a record the source marks obsolete or withdrawn: the
    store marks it deleted and it leaves the index."""

    def __init__(self, accession: str, reason: str):
        super().__init__(f"{accession}: {reason}")
        self.accession = accession
        self.reason = reason


class RecordSkipped(Exception):
    """Raised by ``fetch`` or ``normalise`` for a listed record that is not this source's to
    harvest (an id gap in a range, a record of another collection); counted as skipped."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RecordRef:
    """A pointer to one record at the source, as ``gather`` lists it.

    ``hint`` is the accession the source suggests (a folder name, a search hit); the
    real accession always comes from the record itself.
    """

    source_url: str
    hint: str | None = None
    modified: str | None = None


@dataclass
class RawRecord:
    """The raw bytes of one record and what is needed to normalise it."""

    ref: RecordRef
    payload: bytes
    format: str
    modified: str | None = None
    released: str | None = None
    extra_hash: str = ""

    @property
    def content_hash(self) -> str:
        """Hash of the payload plus anything else that changes the record (file lists)."""
        return sha256_hex(self.payload + self.extra_hash.encode())


@dataclass
class Normalised:
    """A normalised record; ``files`` streams its file rows when called."""

    record: Record
    files: Callable[[], Iterator[FileRow]] = lambda: iter(())
    problems: list[HarvestError] = field(default_factory=list)


class Harvester(ABC):
    """One source's stages. ``name`` is the Record ``source``; ``location`` where it reads."""

    name: str
    location: str
    # False when gather lists only part of the source (an id range): a full run then
    # cannot tell "gone from the source" from "not asked for", and deletes nothing.
    complete_listing: bool = True

    @abstractmethod
    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """List the records that may have changed since ``since`` (None: all)."""

    @abstractmethod
    def fetch(self, ref: RecordRef) -> RawRecord:
        """Get one raw record; raise HarvestError("fetch", …) on failure."""

    @abstractmethod
    def normalise(self, raw: RawRecord) -> Normalised:
        """Turn a raw record into a Record; raise HarvestError("normalise", …) on failure."""

    def close(self) -> None:
        """Release connections."""


@dataclass
class RunSummary:
    """Outcome of one harvest run."""

    run_id: int
    source: str
    status: str
    counts: Counter
    seconds: float
    errors: list[HarvestError] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        parts = ", ".join(f"{self.counts.get(k, 0)} {k}" for k in OUTCOMES)
        stages = Counter(e.stage for e in self.errors)
        stored = f"; {len(self.errors)} errors stored ({', '.join(f'{s}: {n}' for s, n in sorted(stages.items()))})" if self.errors else ""
        return f"harvest {self.source}: {self.status}: {parts} in {self.seconds:.1f}s{stored}"


@dataclass
class _Run:
    harvester: Harvester
    store: RecordStore
    run_id: int
    full: bool
    counts: Counter = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)
    errors: list[HarvestError] = field(default_factory=list)

    def error(self, exc: HarvestError, hint: str | None) -> None:
        self.errors.append(exc)
        log.warning("%s %s: %s (%s)", exc.stage, hint or "?", exc.message, exc.source_url)
        self.store.record_error(
            self.run_id, self.harvester.name, exc.stage, exc.message, hint, exc.source_url
        )


def run_harvest(
    harvester: Harvester,
    store: RecordStore,
    *,
    full: bool = False,
    overlap: timedelta = timedelta(hours=1),
    on_record: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run gather → fetch → normalise → store over one source and record the run."""
    started = monotonic()
    run = _Run(harvester, store, store.start_run(harvester.name, harvester.location, full), full)
    since = None if full else _since(store, harvester, overlap)
    gathered_all = True
    try:
        for ref in harvester.gather(since):
            _harvest_one(run, ref)
            if on_record:
                on_record(ref.hint or ref.source_url)
    except HarvestError as exc:
        gathered_all = False
        run.error(exc, None)
    if full and gathered_all and harvester.complete_listing:
        _delete_missing(run)
    status = "failed" if not gathered_all else ("partial" if run.errors else "ok")
    store.finish_run(run.run_id, status, dict(run.counts), _message(run.errors))
    return RunSummary(run.run_id, harvester.name, status, run.counts, monotonic() - started, run.errors)


def _since(store: RecordStore, harvester: Harvester, overlap: timedelta) -> str | None:
    last = store.last_good_run_start(harvester.name, harvester.location)
    if not last:
        return None
    moment = datetime.fromisoformat(last.replace("Z", "+00:00")) - overlap
    return moment.isoformat().replace("+00:00", "Z")


def _harvest_one(run: _Run, ref: RecordRef) -> None:
    store = run.store
    state = store.state(ref.hint) if ref.hint else None
    if state and state.source != run.harvester.name:
        state = None  # another source's record: never a reason to skip this one
    if state and not state.deleted and not run.full and ref.modified and state.modified == ref.modified:
        run.seen.add(ref.hint)
        run.counts["unchanged"] += 1
        return
    try:
        raw = run.harvester.fetch(ref)
        if state and not state.deleted and not run.full and state.raw_hash == raw.content_hash:
            store.touch_unchanged(ref.hint, raw.content_hash, raw.modified)
            run.seen.add(ref.hint)
            run.counts["unchanged"] += 1
            return
        normalised = run.harvester.normalise(raw)
        outcome = _store(run, raw, normalised)
    except RecordSkipped as skipped:
        log.debug("skipped %s: %s", ref.source_url, skipped.reason)
        run.counts["skipped"] += 1
        return
    except RecordWithdrawn as withdrawn:
        run.seen.discard(withdrawn.accession)
        run.counts["deleted"] += run.store.mark_deleted([withdrawn.accession])
        return
    except HarvestError as exc:
        if ref.hint:
            run.seen.add(ref.hint)  # it exists at the source: never delete it for an error
        run.counts["errored"] += 1
        run.error(exc, ref.hint)
        return
    except StoreError:
        raise
    except Exception as exc:  # a normaliser bug must not stop the run
        log.exception("unexpected error for %s", ref.source_url)
        if ref.hint:
            run.seen.add(ref.hint)
        run.counts["errored"] += 1
        run.error(HarvestError("normalise", f"{type(exc).__name__}: {exc}", ref.source_url), ref.hint)
        return
    run.counts[outcome] += 1


def _store(run: _Run, raw: RawRecord, normalised: Normalised) -> str:
    record = normalised.record
    store = run.store
    run.seen.add(record.accession)
    previous = store.state(record.accession)
    with store.transaction() as db:
        stats = store.replace_files(db, record.accession, normalised.files())
        if stats.count:  # else keep what the normaliser knew (a source's declared size)
            record.file_count = stats.count
            record.total_size_bytes = stats.total_size
            record.file_formats = sorted(stats.formats, key=lambda f: (-stats.formats[f], f))
        if previous and not previous.deleted and previous.fingerprint == record.content_fingerprint():
            outcome = "unchanged"
            db.execute(
                "UPDATE records SET raw_hash=?, raw=?, modified=? WHERE accession=?",
                (raw.content_hash, raw.payload, record.modified, record.accession),
            )
        else:
            store.save_record(db, record, raw.payload, raw.content_hash)
            outcome = "updated" if previous and not previous.deleted else "added"
    for problem in normalised.problems:
        run.error(problem, record.accession)
    return outcome


def _delete_missing(run: _Run) -> None:
    missing = run.store.live_accessions(run.harvester.name) - run.seen
    if missing:
        run.counts["deleted"] += run.store.mark_deleted(sorted(missing))


def _message(errors: list[HarvestError]) -> str:
    if not errors:
        return ""
    first = errors[0]
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first.stage}: {first.message}{more}"
