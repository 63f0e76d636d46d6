"""Index generations: each full build writes a new Whoosh index beside the live one and
then swaps an atomic pointer (``CURRENT``), so readers never see a half-built index and a
failed or killed build leaves the last good generation serving.

Layout under the index directory::

    CURRENT                  name of the live generation (replaced with os.replace)
    gen-20261124T101500Z-1a2b/   a finished generation: Whoosh files, meta.json, labels.json
    gen-….building/          a build in progress (removed if found stale)
"""

from __future__ import annotations

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
