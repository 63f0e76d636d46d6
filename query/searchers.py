"""A small pool of Whoosh searchers per index generation.

A Whoosh searcher must not be used by two threads at once (its readers share file
positions: seen as corrupt reads under load), and each one holds its own copy of the term
dictionary (about 650 MB at 100k datasets), so one per request thread does not scale
either. Requests borrow a searcher for the few Whoosh reads they make; the array-based
query path does the rest without one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_SIZE = 2


class SearcherPool:
    """At most ``size`` searchers of one index, created on demand and reused."""

    def __init__(self, index, size: int = DEFAULT_SIZE):
        self.index = index
        self.size = max(1, size)
        self._free: queue.LifoQueue = queue.LifoQueue()
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[object]:
        """Borrow a searcher for the duration of the block."""
        searcher = self._take()
        try:
            yield searcher
        finally:
            self._free.put(searcher)

    def _take(self):
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made < self.size:
                self._made += 1
                return self.index.searcher()
        return self._free.get()
