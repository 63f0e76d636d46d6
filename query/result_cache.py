"""A bounded cache of search results keyed by (generation stamp, request): a repeated
question on an unchanged index is answered without searching. A new stamp (swap or update)
makes every older key unreachable."""

from __future__ import annotations

import threading
from collections import OrderedDict

import orjson

from query.params import SearchRequest

MAX_ENTRIES = 1024


def request_key(req: SearchRequest) -> str:
    """Everything that shapes a response, as a hashable string."""
    filters = sorted((k, tuple(v.any_of), tuple(v.all_of), tuple(v.none_of)) for k, v in req.filters.items())
    return repr((
        req.query, repr(req.query_node), req.strict, filters, sorted(req.ranges.items()), sorted(req.has.items()),
        req.sort_by, req.sort_order, req.page, req.page_size, req.facets, req.cursor, req.fields, req.facet_tree,
    ))


class ResultCache:
    """An LRU of result dicts, kept serialised: callers get fresh copies and may change them
    freely (decoding is several times cheaper than a deep copy)."""

    def __init__(self, size: int = MAX_ENTRIES):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is None:
                return None
            self._items.move_to_end(key)
        return orjson.loads(value)

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = orjson.dumps(value)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
