"""Read access to the record store for the partner protocols (OAI-PMH, sitemaps, dumps,
BioStudies compatibility): one SQLite connection per thread, opened on first use.

Flask-free. The search service answers questions about the index; this answers questions
about the store, which is the truth for change times and deleted records.
"""

from __future__ import annotations

import threading
from pathlib import Path

from harvesters.store import RecordStore


class Catalogue:
    """Per-thread :class:`RecordStore` connections to the store at ``store_path``."""

    def __init__(self, store_path: Path | str):
        self.store_path = Path(store_path)
        self._local = threading.local()

    def store(self) -> RecordStore:
        """This thread's connection (SQLite connections must not cross threads)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = RecordStore(self.store_path)
        return store
