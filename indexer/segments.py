"""Writing a new generation's documents: in this process, or split across worker processes.

A full build is CPU-bound Python. With ``workers`` > 1 and a store large enough to repay
starting them, the live records are cut into runs of consecutive accessions
(``RecordStore.split_accessions``); each worker process writes its run into segments of its own index
directory, and the parent moves those segments into the generation and writes one table
of contents listing them in accession order, so documents are numbered as a single
writer would number them. Workers are fresh interpreters (``python -m indexer.segments``),
not forks: the caller may be a multi-threaded server. Any worker failure, or an exception
from ``on_record`` (a budget, a cancelled build), kills the workers and propagates.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from harvesters.store import RecordStore
from indexer.bulk_writer import BulkSegmentWriter
from indexer.documents import RecordData, facet_values, merge_labels, record_data, to_document

# Segments are written as separate files, not one compound file: whoosh3 opens a compound
# file's postings and terms by copying them into a BytesIO, so every searcher held a
# private copy of the index (about 500 MB at 100k records); separate files are read
# through the page cache, shared by every searcher and process.
COMPOUND = False
# Posting blocks are written uncompressed (zlib level 0; the W3 codec's readers honour each
# block's compression flag). At Whoosh's level 3, zlib over the pickled blocks (about 13 kB
# per record, mostly positions) was a third of a segment's commit and a sixth of a build's
# CPU, and the query path never reads the positional fields' blocks: phrases and term
# frequencies come from the position-keys files. The cost is disk: the postings files are
# about three times larger (measured at 100k records in NOTES.md).
POSTING_COMPRESSION = 0
# Below this many live records a build stays in one process: starting a worker and
# importing the packages there costs about a second (10k records take ~28 s in one).
PARALLEL_MIN_RECORDS = 5_000
POLL_SECONDS = 0.25
PROGRESS_EVERY = 200
RESULT, PROGRESS = "result.pickle", "progress"


@dataclass
class Written:
    """What the writers put in the generation: facet labels and documents per source."""

    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    per_source: Counter = field(default_factory=Counter)

    def add(self, data: RecordData) -> None:
        merge_labels(self.labels, facet_values(data))
        self.per_source[data["source"]] += 1

    def merge(self, other: Written) -> None:
        merge_labels(self.labels, other.labels)
        self.per_source.update(other.per_source)


def new_segment_writer(ix) -> BulkSegmentWriter:
    """The writer of a build's or an update's new segment."""
    return BulkSegmentWriter(ix, compound=COMPOUND, codec=W3Codec(compression=POSTING_COMPRESSION))


def write_records(records: Iterable, ix, segment_records: int, on_record: Callable[[str], None] | None) -> Written:
    """Add ``records`` (``Record``s or their JSON form) to ``ix``, committing a new segment
    every ``segment_records`` records."""
    written = Written()
    writer = None
    try:
        for record in records:
            data = record_data(record)
            if writer is None:
                writer = new_segment_writer(ix)
            writer.add_document(**to_document(data))
            written.add(data)
            if on_record:
                on_record(data["accession"])
            if writer.doc_count() >= segment_records:
                writer.commit(merge=False)
                writer = None
        if writer is not None:
            writer.commit(merge=False)
    except BaseException:
        if writer is not None:
            writer.cancel()
        raise
    return written


def write_generation(
    store: RecordStore,
    ix,
    *,
    segment_records: int,
    workers: int = 1,
    parallel_min_records: int = PARALLEL_MIN_RECORDS,
    on_record: Callable[[str], None] | None = None,
) -> Written:
    """Write every live record of ``store`` into the empty index ``ix``."""
    total = sum(store.count_by_source().values())
    if workers <= 1 or total < max(parallel_min_records, 2):
        return write_records(store.iter_record_data(), ix, segment_records, on_record)
    cuts = store.split_accessions(workers)
    bounds = list(zip([None, *cuts], [*cuts, None]))
    return _write_in_workers(store.path, ix, bounds, segment_records, on_record)


# -- worker processes ------------------------------------------------------------------


class BuildWorkerError(RuntimeError):
    """A worker process of a parallel build failed."""


def _write_in_workers(store_path: Path, ix, bounds: list, segment_records: int, on_record) -> Written:
    target = Path(ix.storage.folder)
    runs = [target / f".run-{i}" for i in range(len(bounds))]
    procs: list[subprocess.Popen] = []
    reported = 0
    try:
        for run, (start, stop) in zip(runs, bounds):
            run.mkdir()
            procs.append(_start_worker(store_path, start, stop, run, segment_records))
        while any(p.poll() is None for p in procs):
            _check_workers(procs, runs)
            time.sleep(POLL_SECONDS)
            reported = _report(sum(_progress(run) for run in runs), reported, on_record)
        _check_workers(procs, runs)
        _report(sum(_progress(run) for run in runs), reported, on_record)
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    written, segments = Written(), []
    for run in runs:
        run_segments, run_written = pickle.loads((run / RESULT).read_bytes())
        segments += _move_segments(run, target, run_segments)
        written.merge(run_written)
        shutil.rmtree(run)
    _write_toc(ix, segments)
    return written


def _start_worker(store_path: Path, start, stop, run: Path, segment_records: int) -> subprocess.Popen:
    # A fresh interpreter rather than multiprocessing: no fork of a threaded server, and no
    # re-import of whatever script is __main__.
    env = dict(os.environ)
    code_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [code_root, env.get("PYTHONPATH")]))
    args = json.dumps([str(store_path), start, stop, str(run), segment_records])
    with (run / "stderr").open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "indexer.segments", args], env=env, stderr=stderr, stdin=subprocess.DEVNULL)


def _check_workers(procs: list, runs: list) -> None:
    for proc, run in zip(procs, runs):
        code = proc.poll()
        if code not in (None, 0) or (code == 0 and not (run / RESULT).exists()):
            tail = (run / "stderr").read_text(errors="replace").strip().splitlines()[-5:]
            raise BuildWorkerError(f"index build worker {run.name} failed (exit {code}): " + " | ".join(tail))


def _progress(run: Path) -> int:
    try:
        return int((run / PROGRESS).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _report(done: int, reported: int, on_record) -> int:
    if on_record:
        for _ in range(done - reported):
            on_record("")
    return max(done, reported)


def _move_segments(run: Path, target: Path, segments: list) -> list:
    for segment in segments:
        prefix = f"{segment.indexname}_{segment.segid}"
        for path in run.iterdir():
            if path.name.startswith(prefix):
                path.rename(target / path.name)
    return segments


def _write_toc(ix, segments: list) -> None:
    """Make ``segments`` (already in the index folder) the index's content, in this order."""
    latest = whoosh_index.open_dir(ix.storage.folder, indexname=ix.indexname)
    generation = latest.latest_generation() + 1
    TOC(ix.schema, segments, generation).write(FileStorage(ix.storage.folder), ix.indexname)


def _worker_main(store_path: str, start: str | None, stop: str | None, out_dir: str, segment_records: int) -> None:
    """In a worker: write the records with accession in [start, stop) into a new index in
    ``out_dir``, then leave the segment list and what was written in ``out_dir/RESULT``."""
    from indexer.schema import build_schema

    run = Path(out_dir)
    done = [0]

    def count(_accession: str) -> None:
        done[0] += 1
        if done[0] % PROGRESS_EVERY == 0:
            _write_atomic(run / PROGRESS, str(done[0]).encode())

    ix = whoosh_index.create_in(run, build_schema())
    with RecordStore(store_path) as store, _cyclic_gc_paused():
        written = write_records(store.iter_record_data(start=start, stop=stop), ix, segment_records, count)
    _write_atomic(run / PROGRESS, str(done[0]).encode())
    _write_atomic(run / RESULT, pickle.dumps((ix._segments(), written)))


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, then restore its state. Only in a worker: the
    setting is per process. A build leaves no cycles to collect (measured: none found at
    20k records), and the collections cost about 3% of a worker's CPU."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


if __name__ == "__main__":
    # Through the imported module, so that what the result pickles is indexer.segments.Written.
    from indexer.segments import _worker_main as worker_main

    worker_main(*json.loads(sys.argv[1]))
