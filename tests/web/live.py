"""Helpers for the partner-protocol tests: a private data dir harvested from the packaged
sample store (so a test may delete records or rewrite change times without touching the
session fixtures), and an app served on a real loopback socket."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server

from bioimage_search.config import SAMPLE_STORE, Settings
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
from indexer.builder import full_build


def sample_settings_in(data: Path) -> Settings:
    """Settings whose data dir holds a fresh harvest of the sample archive store (no index)."""
    settings = Settings(base_dir=data)
    settings.paths.data_dir = str(data)
    with RecordStore(settings.store_path) as store:
        run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
    return settings


def build_index(settings: Settings) -> None:
    """A full index build (a new generation swapped in)."""
    with RecordStore(settings.store_path) as store:
        full_build(store, settings.index_dir)


def set_changed_at(settings: Settings, times: dict[str, str]) -> None:
    """Rewrite records' change times (tests need times that differ by more than a second)."""
    db = sqlite3.connect(settings.store_path)
    with db:
        db.executemany("UPDATE records SET changed_at=? WHERE accession=?", [(t, a) for a, t in times.items()])
    db.close()


@contextmanager
def serving(app):
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
