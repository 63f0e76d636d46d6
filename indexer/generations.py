"""Index generations: each full build writes a new Whoosh index beside the live one and
then swaps an atomic pointer (``CURRENT``), so readers never see a half-built index and a
failed or killed build leaves the last good generation serving.

Layout under the index directory::

    CURRENT                  name of the live generation (replaced with os.replace)
    gen-20261124T101500Z-1a2b/   a finished generation: Whoosh files, meta.json, labels.json
    gen-….building/          a build in progress (removed if found stale)
    builds.json              the last builds: kind, generation, outcome, reason, counts, times

A full build is validated before it is swapped in (``validate_build``); ``rollback``
points CURRENT back at the previous finished generation. Callers hold the index writer
lock (``indexer.builder.writer_lock``) around anything that writes here.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

POINTER = "CURRENT"
META = "meta.json"
LABELS = "labels.json"
BUILDING = ".building"
BUILDS = "builds.json"
BUILDS_KEPT = 50
WHOOSH_LOCK_GLOB = "*_WRITELOCK"


class NoIndexError(RuntimeError):
    """There is no live index generation yet (run the indexer first)."""


@dataclass(frozen=True)
class Generation:
    """A finished generation directory and its metadata."""

    path: Path
    meta: dict

    @property
    def name(self) -> str:
        return self.path.name

    def labels(self) -> dict[str, dict[str, str]]:
        """Facet labels recorded by the builder: facet -> key -> label."""
        return _read_json(self.path / LABELS, {})


def _read_json(path: Path, default):
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return default


def write_json_atomic(path: Path, value) -> None:
    """Write JSON to ``path`` via a temporary file and os.replace (never half-written)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("wb") as handle:
        handle.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def new_generation_dir(index_dir: Path) -> Path:
    """A fresh ``gen-….building`` directory for a build."""
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = index_dir / f"gen-{stamp}-{secrets.token_hex(2)}{BUILDING}"
    path.mkdir()
    return path


def finish_generation(building: Path) -> Path:
    """Rename a completed build to its final name (atomic within the directory)."""
    final = building.with_name(building.name.removesuffix(BUILDING))
    os.replace(building, final)
    return final


def current(index_dir: Path) -> Generation:
    """The live generation; NoIndexError if none."""
    pointer = index_dir / POINTER
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        raise NoIndexError(f"no index in {index_dir}: run 'bioimage-search index' first") from None
    path = index_dir / name
    if not name or not path.is_dir():
        raise NoIndexError(f"{pointer} names a missing generation {name!r}")
    return Generation(path, _read_json(path / META, {}))


def pointer_stamp(index_dir: Path) -> tuple[str, float] | None:
    """A cheap token that changes when the live generation or its metadata changes."""
    try:
        name = (index_dir / POINTER).read_text().strip()
        return name, (index_dir / name / META).stat().st_mtime
    except OSError:
        return None


def swap(index_dir: Path, generation: Path) -> None:
    """Point CURRENT at ``generation`` atomically."""
    tmp = index_dir / f".{POINTER}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(generation.name + "\n")
    os.replace(tmp, index_dir / POINTER)


def list_generations(index_dir: Path) -> list[Path]:
    """Finished generations, oldest first."""
    if not index_dir.is_dir():
        return []
    return sorted(p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith("gen-") and not p.name.endswith(BUILDING))


def cleanup(index_dir: Path, keep: int) -> list[str]:
    """Remove stale builds and all but the newest ``keep`` generations (never the live one)."""
    removed = []
    live = None
    try:
        live = current(index_dir).path.name
    except NoIndexError:
        pass
    for path in index_dir.glob(f"gen-*{BUILDING}") if index_dir.is_dir() else []:
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    finished = list_generations(index_dir)
    for path in finished[: max(0, len(finished) - keep)]:
        if path.name != live:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


# -- validation, build records, rollback, stale locks -------------------------------------


class NoRollbackError(RuntimeError):
    """There is no earlier finished generation to roll back to."""


def validate_build(built: dict[str, int], expected: dict[str, int], min_fraction: float) -> str | None:
    """Why a finished build must not be swapped in, or None if it may.

    ``built`` counts its documents per source, ``expected`` the store's live records per
    source when the build started. A build is refused if it holds fewer than
    ``min_fraction`` of the live records, or nothing from a source that has live records.
    """
    total, live = sum(built.values()), sum(expected.values())
    if live and total < min_fraction * live:
        return f"{total} documents built but the store holds {live} live records (minimum {min_fraction:.0%})"
    missing = sorted(source for source, count in expected.items() if count and not built.get(source))
    if missing:
        return f"no documents from {', '.join(missing)}, which the store holds live records of"
    return None


def read_builds(index_dir: Path) -> list[dict]:
    """The recorded builds, newest first (empty before the first build)."""
    builds = _read_json(index_dir / BUILDS, [])
    return builds if isinstance(builds, list) else []


def record_build(index_dir: Path, entry: dict, keep: int = BUILDS_KEPT) -> None:
    """Prepend ``entry`` to builds.json, keeping the newest ``keep`` (atomic write)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(index_dir / BUILDS, [entry, *read_builds(index_dir)][:keep])


def previous_generation(index_dir: Path) -> Path | None:
    """The newest finished generation older than the live one, or None."""
    live = current(index_dir).name
    older = [path for path in list_generations(index_dir) if path.name < live]
    return older[-1] if older else None


def rollback(index_dir: Path) -> tuple[str, str]:
    """Point CURRENT at the previous finished generation; returns (from, to) names.

    Generation names start with their creation time, so "previous" is the newest one
    older than the live one. The caller holds the writer lock.
    """
    live = current(index_dir)
    target = previous_generation(index_dir)
    if target is None:
        raise NoRollbackError(f"no finished generation older than the live {live.name} in {index_dir}: nothing to roll back to")
    swap(index_dir, target)
    record_build(index_dir, {"kind": "rollback", "generation": target.name, "outcome": "ok",
                             "reason": f"rolled back from {live.name}", "started": _now(), "ended": _now()})
    return live.name, target.name


def clear_stale_locks(index_dir: Path) -> list[str]:
    """Remove Whoosh write locks left behind by killed writers; returns what was removed.

    Call only while holding the index writer lock: then no writer of ours can be running,
    so a ``*_WRITELOCK`` file that nobody holds an flock on is a leftover of a writer that
    died (kill -9). A lock some process still holds is left alone.
    """
    removed = []
    for path in index_dir.glob(f"gen-*/{WHOOSH_LOCK_GLOB}") if index_dir.is_dir() else []:
        if _lock_is_free(path):
            path.unlink(missing_ok=True)
            removed.append(f"{path.parent.name}/{path.name}")
    return removed


def _lock_is_free(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def disk_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 if missing)."""
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass  # removed while we walked
    return total


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
