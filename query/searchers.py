"""A small pool of Whoosh searchers per index generation.

A Whoosh searcher must not be used by two threads at once (its readers share file
positions: seen as corrupt reads under load), and each one holds its own copy of the term
dictionary (about 650 MB at 100k datasets), so one per request thread does not scale
either. Requests borrow a searcher for the few Whoosh reads they make; the array-based
query path does the rest without one.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_SIZE = 2


class SearcherPool:
    """``size`` searchers of one index, opened together and reused.

    They are opened up front so all of them see the same segments: an update committed
    later may delete the files of segments it merged away."""

    def __init__(self, index, size: int = DEFAULT_SIZE):
        self.index = index
        self.size = max(1, size)
        self._free: queue.LifoQueue = queue.LifoQueue()
        for _ in range(self.size):
            self._free.put(index.searcher())

    @contextmanager
    def use(self) -> Iterator[object]:
        """Borrow a searcher for the duration of the block."""
        searcher = self._free.get()
        try:
            yield searcher
        finally:
            self._free.put(searcher)
