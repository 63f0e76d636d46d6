"""Opaque cursors for deep paging: the sort key of the last hit a client saw.

The next page starts after that key in the current sort order, so it stays correct while
the index changes between pages (a record added before the cursor does not shift the page,
a deleted one does not make it skip); sorts always end with the accession, so keys are
unique. A cursor names its sort and a fingerprint of the question it belongs to.
"""

from __future__ import annotations

import base64
import hashlib

import orjson

from query.params import ParamError, SearchRequest


def fingerprint(req: SearchRequest) -> str:
    """A short hash of the question (query, filters, ranges, has-filters), not of its paging."""
    node = repr(req.query_node) if req.query_node is not None else req.query
    filters = {k: (v.any_of, v.all_of, v.none_of) for k, v in sorted(req.filters.items())}
    body = orjson.dumps([node, filters, sorted(req.ranges.items()), sorted(req.has.items())], option=orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(body).hexdigest()[:16]


def _plain(key) -> list:
    parts = key if isinstance(key, (tuple, list)) else (key,)
    return [p.decode("utf-8", "surrogateescape") if isinstance(p, bytes) else p for p in parts]


def encode(req: SearchRequest, sort_by: str, sort_order: str, key) -> str:
    """The cursor that continues after the hit whose sort key is ``key``."""
    # Integers travel as strings: Whoosh sorts missing values with sentinels beyond 64 bits.
    parts = [["i", str(p)] if isinstance(p, int) and not isinstance(p, bool) else p for p in _plain(key)]
    payload = orjson.dumps({"s": sort_by, "o": sort_order, "f": fingerprint(req), "k": parts})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode(req: SearchRequest, sort_by: str, sort_order: str) -> list:
    """The sort key a request's cursor continues after; ParamError if it is not ours or
    belongs to another question or sort."""
    try:
        raw = base64.urlsafe_b64decode(req.cursor + "=" * (-len(req.cursor) % 4))
        data = orjson.loads(raw)
        key, sort, order, fp = data["k"], data["s"], data["o"], data["f"]
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise ParamError("cursor", "not a cursor this service issued") from None
    if not isinstance(key, list) or (sort, order) != (sort_by, sort_order) or fp != fingerprint(req):
        raise ParamError("cursor", "this cursor belongs to another query or sort order; start again without it")
    try:
        return [int(p[1]) if isinstance(p, list) and len(p) == 2 and p[0] == "i" else p for p in key]
    except (TypeError, ValueError):
        raise ParamError("cursor", "not a cursor this service issued") from None
