"""Build and update the Whoosh index from the record store.

``full_build`` writes a new generation and swaps it in; ``update`` applies the store's
changes since the live generation's sequence number to that generation in place
(``update_document`` on the unique accession, so re-applying is harmless). One writer at a
time is enforced with an advisory file lock.

A full build is validated before the swap (``generations.validate_build``): one that lost
records or a whole source is dropped and the live generation keeps serving. Every build's
outcome is recorded in ``builds.json``. Whoosh locks left by a killed writer are removed
when the next writer takes the lock.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import monotonic

from whoosh import index as whoosh_index
from whoosh.reading import SegmentReader

from harvesters.records import utc_now
from harvesters.store import RecordStore
from indexer.documents import facet_values, merge_labels, record_data, to_document
from indexer.postings import decode_postings
from indexer.generations import (
    BUILDING,
    LABELS,
    META,
    NoIndexError,
    cleanup,
    clear_stale_locks,
    current,
    finish_generation,
    new_generation_dir,
    record_build,
    swap,
    validate_build,
    write_json_atomic,
)
from indexer.schema import build_schema
from indexer.segments import COMPOUND, PARALLEL_MIN_RECORDS, new_segment_writer, write_generation

log = logging.getLogger(__name__)
LOCK_NAME = ".writer.lock"
# An update writes one small segment (with position keys, through BulkSegmentWriter);
# once more than this many segments are smaller than a tenth of the largest, they are
# merged into one by Whoosh's writer (the merged one has no position keys: searches read
# its positions from Whoosh's postings).
MAX_SMALL_SEGMENTS = 8
SMALL_SEGMENT_FRACTION = 10


class IndexBusyError(RuntimeError):
    """Another process is writing the index."""


class BuildRejectedError(RuntimeError):
    """A finished full build failed validation and was not swapped in."""

    def __init__(self, generation: str, reason: str):
        super().__init__(f"build {generation} not swapped in: {reason}")
        self.generation, self.reason = generation, reason


@dataclass
class BuildSummary:
    """Outcome of a full build or an incremental update."""

    kind: str
    generation: str
    indexed: int
    deleted: int
    total: int
    seconds: float

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        return (
            f"index {self.kind}: {self.generation}: {self.indexed} indexed, {self.deleted} deleted, "
            f"{self.total} documents in {self.seconds:.1f}s"
        )


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the single-writer lock of ``index_dir`` (fails fast if another writer has it)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(f"another process is writing the index in {index_dir}") from None
        try:
            for name in clear_stale_locks(index_dir):
                # whoosh3's lock is an flock (released when its holder dies) but the file stays.
                log.debug("removed the stale Whoosh lock file %s (no writer holds it)", name)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _recorded(index_dir: Path, kind: str) -> Iterator[dict]:
    """Record the build run inside in builds.json, whatever its outcome."""
    entry: dict = {"kind": kind, "generation": None, "outcome": "ok", "reason": None, "started": utc_now()}
    started = monotonic()
    try:
        yield entry
    except BuildRejectedError as exc:
        entry.update(outcome="rejected", reason=exc.reason)
        raise
    except BaseException as exc:
        entry.update(outcome="failed", reason=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        entry.update(ended=utc_now(), seconds=round(monotonic() - started, 3))
        try:
            record_build(index_dir, entry)
        except OSError as exc:
            log.warning("cannot record the build in %s: %s", index_dir, exc)


def full_build(
    store: RecordStore,
    index_dir: Path,
    *,
    keep: int = 3,
    segment_records: int = 250_000,
    workers: int = 2,
    parallel_min_records: int = PARALLEL_MIN_RECORDS,
    min_fraction: float = 0.9,
    on_record: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Index every live record into a new generation, validate it, then swap it in atomically.

    A build holding fewer than ``min_fraction`` of the store's live records, or nothing of
    a source the store holds, is dropped with BuildRejectedError; the live generation keeps
    serving.
    """
    started = monotonic()
    with writer_lock(index_dir), _recorded(index_dir, "full") as entry:
        cleanup(index_dir, keep)
        building = new_generation_dir(index_dir)
        entry["generation"] = building.name.removesuffix(BUILDING)
        seq = store.current_seq()
        expected = store.count_by_source()
        ix = whoosh_index.create_in(building, build_schema())
        written = write_generation(
            store, ix, segment_records=segment_records, workers=workers,
            parallel_min_records=parallel_min_records, on_record=on_record,
        )
        labels, per_source = written.labels, written.per_source
        ix.close()
        total = sum(per_source.values())
        entry.update(documents=total, per_source=dict(per_source), expected=expected, last_seq=seq)
        reason = validate_build(per_source, expected, min_fraction)
        if reason:
            shutil.rmtree(building, ignore_errors=True)
            raise BuildRejectedError(entry["generation"], reason)
        write_json_atomic(building / LABELS, labels)
        write_json_atomic(building / META, _meta(seq, per_source, "full"))
        final = finish_generation(building)
        swap(index_dir, final)
        cleanup(index_dir, keep)
    return BuildSummary("full", final.name, total, 0, total, monotonic() - started)


def _meta(seq: int, per_source: Counter, kind: str, created: str | None = None) -> dict:
    now = utc_now()
    return {
        "created": created or now,
        "updated": now,
        "last_seq": seq,
        "doc_count": sum(per_source.values()),
        "per_source": dict(per_source),
        "last_kind": kind,
    }


def update(store: RecordStore, index_dir: Path, *, keep: int = 3) -> BuildSummary:
    """Apply records changed since the live generation was last brought up to date."""
    started = monotonic()
    try:
        live = current(index_dir)
    except NoIndexError:
        return full_build(store, index_dir, keep=keep)
    with writer_lock(index_dir), _recorded(index_dir, "update") as entry:
        live = current(index_dir)
        entry["generation"] = live.name
        since = int(live.meta.get("last_seq", 0))
        ix = whoosh_index.open_dir(live.path)
        labels = live.labels()
        indexed = deleted = 0
        seq = since
        writer = new_segment_writer(ix)
        try:
            for change in store.changes_since(since):
                seq = change.seq
                if change.deleted or change.record is None:
                    deleted += writer.delete_by_term("accession", change.accession)
                else:
                    data = record_data(change.record)
                    writer.update_document(**to_document(data))
                    merge_labels(labels, facet_values(data))
                    indexed += 1
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
        merge_small_segments(ix)
        total, per_source = _count(ix)
        ix.close()
        write_json_atomic(live.path / LABELS, labels)
        write_json_atomic(live.path / META, {**_meta(seq, per_source, "update", live.meta.get("created"))})
        entry.update(indexed=indexed, deleted=deleted, documents=total, per_source=dict(per_source), last_seq=seq)
    return BuildSummary("update", live.name, indexed, deleted, total, monotonic() - started)


def merge_small_segments(ix) -> bool:
    """Merge the segments incremental updates left (each update writes one) into one, with
    Whoosh's writer, once there are more than MAX_SMALL_SEGMENTS; True if it did."""
    small = _small_segments(ix._segments())
    if len(small) <= MAX_SMALL_SEGMENTS:
        return False
    writer = ix.writer(compound=COMPOUND)
    try:
        writer.commit(mergetype=_merge_these({s.segment_id() for s in small}))
    except BaseException:
        writer.cancel()
        raise
    return True


def _small_segments(segments: list) -> list:
    largest = max((s.doc_count_all() for s in segments), default=0)
    return [s for s in segments if s.doc_count_all() * SMALL_SEGMENT_FRACTION < largest]


def _merge_these(ids: set):
    """A Whoosh merge policy that merges exactly the segments with these ids."""

    def policy(writer, segments):
        kept = []
        for segment in segments:
            if segment.segment_id() in ids:
                reader = SegmentReader(writer.storage, writer.schema, segment)
                writer.add_reader(reader)
                reader.close()
            else:
                kept.append(segment)
        return kept

    return policy


def _count(ix) -> tuple[int, Counter]:
    per_source: Counter = Counter()
    with ix.searcher() as searcher:
        reader = searcher.reader()
        for source in reader.lexicon("f_source"):
            key = source.decode() if isinstance(source, bytes) else source
            # doc_frequency still counts deleted documents until a merge; the postings
            # matcher leaves them out.
            per_source[key] = len(decode_postings(reader.postings("f_source", source))[0])
        return searcher.doc_count(), per_source
