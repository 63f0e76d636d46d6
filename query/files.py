"""File-level search inside one dataset: filter, facet, sort and page its file rows.

``GET /api/v1/datasets/<acc>/files`` answers "show only the images of one compound in a
high-content screen": ``query`` (free text over path and attribute values, tokens AND-ed,
prefix match on the last token), ``format``, ``component`` and ``attr.<name>=<value>``
(repeatable: OR within one name, AND across names), ``size.gte``/``size.lte`` (also
``.gt``/``.lt``), ``sortBy=path|size|format`` with ``sortOrder``, ``page``/``pageSize``
(``offset``/``limit`` kept as aliases). The answer has the page of file rows, the exact
``totalHits`` and multi-select facets: counts per value of ``format``, ``component`` and every
attribute name (top 50 values each), each counted over the rows matching all the OTHER
filters, so selecting a value does not hide its siblings.

Storage design, and why
-----------------------
The record store (SQLite, WAL) stays the one durable store; harvesters/store.py keeps, in
the record's own transaction: ``files`` with an explicit id and indexes ``(accession, path)``
and ``(accession, format)``; the normalised ``file_attributes(file_id, accession, name,
value)`` table, clustered on ``(accession, name, value, file_id)`` (WITHOUT ROWID: the table
is the index); a contentless FTS5 table ``files_fts`` over path + attribute values keyed by
file id (detail=none, prefix indexes 2 and 3); and ``file_sets``, a per-dataset version.
No second store to keep consistent, no server to run, re-harvest replaces everything
atomically, and a store written before these tables is migrated (and backfilled) on open.

SQL alone is not fast enough for the unselective cases, and that decided the query side.
Measured at 1.3 M files on this 2-core machine: counting one compound's files through the
attribute index takes 0.1 ms and a facet restricted to it 0.3 ms, but a facet of 2,000
compounds over the 325,000 files of one channel takes 420 ms (a join per row), fetching
those 325,000 ids 210 ms, and ``OFFSET 1000000`` on the path index 43 ms before any
filter. Exact multi-select facets need, per facet, the counts over a different row set,
so those costs multiply.

So queries run on an in-memory columnar index of the dataset (``_Engine``), built from
the store on first use and cached per process, keyed by the dataset's ``file_sets.version``
(a re-harvest changes it, so no stale answer can be served). Rows are numbered in path
order. Each facet dimension (format, component, each attribute name) is a code per row
(one byte when it has at most 255 values, C-level ``bytes.translate`` turns a value set
into a row mask) and a permutation of the rows sorted by that code, in which every value
is one contiguous range. A filter is a row mask (one byte per row held as a Python int):
AND-ing two masks of 1.3 M rows costs about 1 ms and ``bytes.count`` counts a range in C.
Facet counts are then range counts over the selection's mask laid out in that
dimension's order, so the cost no longer depends on how many rows match. Selections
that some filter makes small (at most ``ENUM_MAX`` rows: one compound, a text query) are
handled row by row instead, which is cheaper there. Sorting by size or format, and deep
pages, use the same masks in the sort order; paging counts ones in 4 KB chunks, not row
by row. SQLite answers what it is good at: the text query (FTS5 returns the matching
ids), attribute values with too many distinct values to hold (identifier-like
attributes such as checksums are filtered through the attribute index and not counted
as facets), and the page's rows by id.

Measured (benchmarks/file_search.py, synthetic high-content screen, 1,300,000 files,
4 attributes, 200 queries; results in benchmarks/results/file_search.{json,md}):
MEASUREMENTS
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import and_, itemgetter
from pathlib import Path

import orjson

from harvesters.store import FileSet, RecordStore
from query.params import ParamError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_PAGE = 1_000_000
MAX_OFFSET = MAX_PAGE * MAX_PAGE_SIZE
FACET_SIZE = 50
MAX_QUERY_CHARS = 1000
MAX_QUERY_TERMS = 32
SORT_FIELDS = ("path", "size", "format")
SIZE_OPS = ("gte", "gt", "lte", "lt")
MAX_SIZE = 2**63 - 1
PARAMS = ("query", "format", "component", "attr.<name>", "size.gte", "size.lte", "sortBy", "sortOrder", "page", "pageSize")

ENUM_MAX = 20_000  # selections at most this large are handled row by row
ID_LIKE_VALUES = 50_000  # more distinct values than this and than ID_LIKE_SHARE of the rows:
ID_LIKE_SHARE = 0.5  # an identifier-like attribute (checksums, source-image paths), not counted
MASK_CACHE_SIZE = 48  # row masks kept per dataset (1.3 MB each at 1.3 M rows)
ENGINE_CACHE_ROWS = 4_000_000  # file rows of datasets kept in memory per process
CHUNK = 4096
FTS_TOKENIZER = "unicode61 remove_diacritics 2"  # as harvesters/store.py indexes


# -- parameters ------------------------------------------------------------------------


@dataclass
class FileSearchRequest:
    """A validated file search. ``offset`` is exact even when given as a page number."""

    query: str = ""
    formats: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    sort_by: str = "path"
    sort_order: str = "ascending"
    offset: int = 0
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def page(self) -> int:
        """The page number the offset falls in."""
        return self.offset // self.page_size + 1


def parse_file_params(args: Mapping[str, Sequence[str]]) -> FileSearchRequest:
    """Validate URL arguments (name → list of values) into a FileSearchRequest; ParamError
    names the first bad parameter."""
    req = FileSearchRequest()
    for name, raw in args.items():
        values = [v for v in raw if v is not None]
        if name in ("query", "q"):
            req.query = (values[-1] if values else "").strip()
            if len(req.query) > MAX_QUERY_CHARS:
                raise ParamError(name, f"at most {MAX_QUERY_CHARS} characters")
        elif name == "format":
            req.formats += _values(name, values)
        elif name == "component":
            req.components += _values(name, values)
        elif name.startswith("attr."):
            attribute = name[len("attr."):]
            if not attribute.strip():
                raise ParamError(name, "needs an attribute name: attr.<name>=<value>")
            req.attributes.setdefault(attribute, []).extend(_values(name, values))
        elif name.startswith("size.") and name[len("size."):] in SIZE_OPS:
            _size_bound(req, name, values)
        elif name not in ("sortBy", "sortOrder", "page", "pageSize", "offset", "limit"):
            raise ParamError(name, f"unknown parameter; use {', '.join(PARAMS)}")
    req.sort_by, req.sort_order = _sort(args)
    req.page_size, req.offset = _paging(args)
    return req


def _values(name: str, values: list[str]) -> list[str]:
    values = [v.strip() for v in values if v.strip()]
    if not values:
        raise ParamError(name, "needs a value")
    return values


def _size_bound(req: FileSearchRequest, name: str, values: list[str]) -> None:
    raw = values[-1].strip() if values else ""
    if not raw:
        raise ParamError(name, "needs a value")
    try:
        number = float(raw)
    except ValueError:
        raise ParamError(name, f"expected a number of bytes, got {raw!r}") from None
    if not math.isfinite(number) or not 0 <= number <= MAX_SIZE:
        raise ParamError(name, f"must be between 0 and {MAX_SIZE}, got {raw!r}")
    op = name[len("size."):]
    if op in ("gte", "gt"):
        low = math.floor(number) + 1 if op == "gt" else math.ceil(number)
        req.size_min = low if req.size_min is None else max(req.size_min, low)
    else:
        high = math.ceil(number) - 1 if op == "lt" else math.floor(number)
        req.size_max = high if req.size_max is None else min(req.size_max, high)


def _single(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in args.get(name) or () if v is not None]
    return values[-1].strip() if values else None


def _sort(args) -> tuple[str, str]:
    sort_by = _single(args, "sortBy")
    if sort_by is None or sort_by == "":
        sort_by = "path"
    elif sort_by not in SORT_FIELDS:
        raise ParamError("sortBy", f"unknown sort field {sort_by!r}; use {', '.join(SORT_FIELDS)}")
    order = _single(args, "sortOrder")
    if order is None or order == "":
        return sort_by, "ascending"
    order = {"asc": "ascending", "desc": "descending"}.get(order.lower(), order.lower())
    if order not in ("ascending", "descending"):
        raise ParamError("sortOrder", f"expected ascending or descending, got {order!r}")
    return sort_by, order


def _int(args, name: str, low: int, high: int) -> int | None:
    raw = _single(args, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ParamError(name, f"must be between {low} and {high}, got {value}")
    return value


def _paging(args) -> tuple[int, int]:
    page_size = _int(args, "pageSize", 1, MAX_PAGE_SIZE)
    limit = _int(args, "limit", 1, MAX_PAGE_SIZE)
    if page_size is not None and limit is not None:
        raise ParamError("limit", "use pageSize or its alias limit, not both")
    page_size = page_size or limit or DEFAULT_PAGE_SIZE
    page = _int(args, "page", 1, MAX_PAGE)
    offset = _int(args, "offset", 0, MAX_OFFSET)
    if page is not None and offset is not None:
        raise ParamError("offset", "use page or offset, not both")
    return page_size, offset if offset is not None else ((page or 1) - 1) * page_size


# -- the in-memory index of one dataset --------------------------------------------------


class _Dim:
    """One facet dimension: a code per row (0: no value), the values (code c is
    ``values[c-1]``) and the rows sorted by code (value c is ``order[starts[c]:starts[c+1]]``)."""

    def __init__(self, param: str, title: str, n: int, values: list[str], postings: list[list[int]]):
        self.param, self.title, self.id_like = param, title, False
        self.values = values
        self.counts = [len(p) for p in postings]
        self.codes = array("B" if len(values) < 256 else "H" if len(values) < 65536 else "I", bytes(n)) if n else array("B")
        if self.codes.itemsize > 1:
            self.codes = array(self.codes.typecode, [0]) * n
        for code, positions in enumerate(postings, 1):
            codes = self.codes
            for p in positions:
                codes[p] = code
        self.plane = self.codes.tobytes() if self.codes.typecode == "B" else None
        missing = n - sum(self.counts)
        self.order = array("I", [p for p in range(n) if not self.codes[p]] if missing else [])
        self.starts = array("I", [0, missing])
        for positions in postings:
            self.order.extend(positions)
            self.starts.append(self.starts[-1] + len(positions))
        self.index = {v: c for c, v in enumerate(values, 1)}
        self.lower: dict[str, list[int]] = {}
        for c, v in enumerate(values, 1):
            self.lower.setdefault(v.casefold(), []).append(c)
        self.top = sorted(range(1, len(values) + 1), key=lambda c: (-self.counts[c - 1], values[c - 1]))

    def resolve(self, value: str) -> list[int]:
        """Codes of a requested value: exact, else case-insensitive; [] if absent."""
        code = self.index.get(value)
        return [code] if code else self.lower.get(value.casefold(), [])


class _IdLikeDim:
    """An attribute with too many distinct values to hold: filtered through SQL, and its
    facet is the global top values (unfiltered) or the selected values only."""

    id_like = True

    def __init__(self, param: str, title: str, name: str, top: list[tuple[str, int]]):
        self.param, self.title, self.name, self.top_pairs = param, title, name, top


class _Space:
    """A row order: ``order[i]`` is the row at index i (None: path order itself)."""

    def __init__(self, name: str, order: array | None):
        self.name, self.order = name, order
        self._rank: array | None = None
        self.planes: dict[str, bytes] = {}

    def rank(self) -> array:
        if self._rank is None:
            rank = array("I", bytes(4 * len(self.order)))
            for i, p in enumerate(self.order):
                rank[p] = i
            self._rank = rank
        return self._rank

    def plane(self, key: str, plane: bytes) -> bytes:
        """A one-byte-per-row column laid out in this order."""
        if self.order is None:
            return plane
        out = self.planes.get(key)
        if out is None:
            out = self.planes[key] = bytes(_gather(plane, self.order))
        return out


@dataclass(eq=False)
class _Atom:
    """One filter (a dimension's value set, a size range or a text query) as a row set."""

    key: tuple
    count: int
    dim: _Dim | None = None
    codes: tuple[int, ...] = ()
    size_ranks: tuple[int, int] | None = None
    rows: list[int] | None = None  # known row numbers, sorted


class _Engine:
    """The columnar index of one dataset's file rows (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection, fs: FileSet):
        self.accession, self.version = fs.accession, fs.version
        self.first_id = fs.first_id or 0
        self._lock = threading.Lock()
        self._masks: OrderedDict[tuple, int] = OrderedDict()
        self._spaces: dict[str, _Space] = {}
        rel, sizes, formats, components = _base_columns(db, fs.accession, self.first_id)
        self.n = n = len(rel)
        self.rel_ids = rel
        self.pos_of = array("i", [-1]) * ((max(rel) + 1) if n else 0)
        pos_of = self.pos_of
        for p, r in enumerate(rel):
            pos_of[r] = p
        self.sizes = sizes
        self.dims: dict[str, _Dim | _IdLikeDim] = {}
        self.dims["format"] = _label_dim("format", "Format", formats)
        self.dims["component"] = _label_dim("component", "Component", components)
        for name in fs.attribute_names:
            self.dims["attr." + name] = self._attribute_dim(db, name)
        self._size_order: dict[bool, array] = {}
        self._asc_sizes: array | None = None
        self._size_dim: _Dim | None = None

    # -- loading

    def _attribute_dim(self, db: sqlite3.Connection, name: str):
        values, postings = [], []
        pos = self.pos_of.__getitem__
        cur = db.execute(
            "SELECT value, group_concat(file_id - ?) FROM file_attributes WHERE accession=? AND name=? GROUP BY value",
            (self.first_id, self.accession, name),
        )
        for value, ids in cur:
            values.append(value)
            postings.append(sorted(map(pos, map(int, ids.split(",")))))
            if len(values) > ID_LIKE_VALUES and len(values) > ID_LIKE_SHARE * self.n:
                cur.close()
                top = db.execute(
                    "SELECT value, count(*) AS c FROM file_attributes WHERE accession=? AND name=? "
                    "GROUP BY value ORDER BY c DESC, value LIMIT ?",
                    (self.accession, name, FACET_SIZE),
                ).fetchall()
                return _IdLikeDim("attr." + name, name, name, [(v, c) for v, c in top])
        return _Dim("attr." + name, name, self.n, values, postings)

    # -- orders

    def space(self, name: str) -> _Space:
        space = self._spaces.get(name)
        if space is None:
            with self._lock:
                space = self._spaces.get(name) or self._make_space(name)
                self._spaces[name] = space
        return space

    def _make_space(self, name: str) -> _Space:
        if name == "path":
            return _Space(name, None)
        if name in ("size+", "size-"):
            return _Space(name, self.size_order(name == "size-"))
        kind, _, param = name.partition(":")
        dim = self.dims[param]
        if kind == "dim":
            return _Space(name, dim.order)
        order = array("I")  # "desc:": values in descending order, rows without a value last
        for code in range(len(dim.values), 0, -1):
            order.extend(dim.order[dim.starts[code]:dim.starts[code + 1]])
        order.extend(dim.order[: dim.starts[1]])
        return _Space(name, order)

    def size_order(self, descending: bool) -> array:
        """Rows by size (no size sorts as smallest), ties in path order."""
        order = self._size_order.get(descending)
        if order is None:
            order = self._size_order[descending] = array(
                "I", sorted(range(self.n), key=self.sizes.__getitem__, reverse=descending)
            )
        return order

    def asc_sizes(self) -> array:
        if self._asc_sizes is None:
            self._asc_sizes = array("q", _gather(self.sizes, self.size_order(False)))
        return self._asc_sizes

    def size_dim(self) -> _Dim:
        """Size buckets (254 by rank, 0 for rows without a size) as a one-byte column."""
        if self._size_dim is None:
            order, sizes = self.size_order(False), self.asc_sizes()
            nulls = bisect_left(sizes, 0)
            known = self.n - nulls
            buckets: list[list[int]] = [[] for _ in range(254)]
            for rank in range(nulls, self.n):
                buckets[(rank - nulls) * 254 // known].append(order[rank])
            kept = [b for b in buckets if b]
            dim = _Dim("size", "size", self.n, [str(i) for i in range(len(kept))], [sorted(b) for b in kept])
            dim.bucket_starts = [nulls]
            for b in kept:
                dim.bucket_starts.append(dim.bucket_starts[-1] + len(b))
            self._size_dim = dim
        return self._size_dim

    # -- row masks

    def mask(self, atom: _Atom, space: _Space) -> int:
        """The atom's rows in ``space`` as an int whose byte i is 1 if row index i matches."""
        key = (atom.key, space.name)
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                self._masks.move_to_end(key)
                return cached
        value = int.from_bytes(self._mask_bytes(atom, space), "little")
        with self._lock:
            self._masks[key] = value
            while len(self._masks) > MASK_CACHE_SIZE:
                self._masks.popitem(last=False)
        return value

    def _mask_bytes(self, atom: _Atom, space: _Space) -> bytes | bytearray:
        n, dim = self.n, atom.dim
        if dim is not None and space.name == "dim:" + dim.param:
            out = bytearray(n)
            for code in atom.codes:
                start, end = dim.starts[code], dim.starts[code + 1]
                out[start:end] = b"\x01" * (end - start)
            return out
        if dim is not None and dim.plane is not None and atom.count > n // 64:
            return space.plane(dim.param, dim.plane).translate(_table(atom.codes))
        if atom.size_ranks is not None:
            low, high = atom.size_ranks
            if space.name in ("size+", "size-"):
                start, end = (low, high) if space.name == "size+" else (n - high, n - low)
                return b"\x00" * start + b"\x01" * (end - start) + b"\x00" * (n - end)
            if atom.count > n // 64:
                return self._size_mask(low, high, space)
        return self._rows_mask(self.rows(atom), space)

    def _rows_mask(self, rows, space: _Space) -> bytearray:
        out = bytearray(self.n)
        if space.order is None:
            for p in rows:
                out[p] = 1
        else:
            rank = space.rank()
            for p in rows:
                out[rank[p]] = 1
        return out

    def _size_mask(self, low: int, high: int, space: _Space) -> bytearray:
        """Whole size buckets through the bucket column, the two partial ones row by row."""
        dim, order = self.size_dim(), self.size_order(False)
        starts = dim.bucket_starts
        first = bisect_right(starts, low) - 1
        last = bisect_right(starts, high - 1) - 1
        if first == last:
            return self._rows_mask(order[low:high], space)
        inner = tuple(range(first + 2, last + 1))  # bucket codes are index + 1
        out = bytearray(space.plane("size", dim.plane).translate(_table(inner)) if inner else bytes(self.n))
        if space.order is None:
            for p in order[low:starts[first + 1]]:
                out[p] = 1
            for p in order[starts[last]:high]:
                out[p] = 1
        else:
            rank = space.rank()
            for p in order[low:starts[first + 1]]:
                out[rank[p]] = 1
            for p in order[starts[last]:high]:
                out[rank[p]] = 1
        return out

    def rows(self, atom: _Atom) -> list[int]:
        """The atom's row numbers, sorted."""
        if atom.rows is None:
            if atom.dim is not None:
                dim = atom.dim
                slices = [dim.order[dim.starts[c]:dim.starts[c + 1]] for c in atom.codes]
                atom.rows = list(slices[0]) if len(slices) == 1 else sorted(p for s in slices for p in s)
            else:
                low, high = atom.size_ranks
                atom.rows = sorted(self.size_order(False)[low:high])
        return atom.rows

    # -- search

    def search(self, db: sqlite3.Connection, req: FileSearchRequest) -> dict:
        atoms = self._atoms(db, req)
        everything = [a for group in atoms.values() for a in group]
        selection = _Selection(self, everything)
        total = selection.count()
        rows = self._page(selection, req, total)
        facets = [self._facet(db, dim, atoms, req) for dim in self.dims.values()]
        return _result(req, self.accession, total, _fetch_rows(db, [self.first_id + self.rel_ids[p] for p in rows]), facets)

    def _atoms(self, db: sqlite3.Connection, req: FileSearchRequest) -> dict[str, list[_Atom]]:
        """Filters by facet dimension ('' for text and size, which every facet respects)."""
        out: dict[str, list[_Atom]] = {"": []}
        for param, values in _dim_filters(req):
            dim = self.dims.get(param)
            if dim is None:
                out[param] = [_Atom(("none",), 0, rows=[])]
            elif dim.id_like:
                out[param] = [self._sql_atom(db, dim, values)]
            else:
                codes = tuple(sorted({c for v in values for c in dim.resolve(v)}))
                out[param] = [_Atom((param, codes), sum(dim.counts[c - 1] for c in codes), dim=dim, codes=codes,
                                    rows=[] if not codes else None)]
        if req.size_min is not None or req.size_max is not None:
            sizes = self.asc_sizes()
            low = bisect_left(sizes, max(req.size_min or 0, 0))
            high = bisect_right(sizes, req.size_max) if req.size_max is not None else self.n
            high = max(low, high)
            out[""].append(_Atom(("size", low, high), high - low, size_ranks=(low, high),
                                 rows=[] if low == high else None))
        if req.query:
            rows = self._text_rows(db, req.query)
            if rows is not None:
                out[""].append(_Atom(("text", req.query), len(rows), rows=rows))
        return out

    def _sql_atom(self, db: sqlite3.Connection, dim: _IdLikeDim, values: list[str]) -> _Atom:
        marks = ",".join("?" * len(values))
        ids = db.execute(
            f"SELECT file_id FROM file_attributes WHERE accession=? AND name=? AND value IN ({marks})",
            (self.accession, dim.name, *values),
        ).fetchall()
        rows = sorted(self.pos_of[i - self.first_id] for (i,) in ids)
        return _Atom(("sql", dim.param, tuple(values), len(rows)), len(rows), rows=rows)

    def _text_rows(self, db: sqlite3.Connection, query: str) -> list[int] | None:
        terms = _fts_terms(db, query)[:MAX_QUERY_TERMS]
        if not terms:
            return None
        parts = [f'"{t}"' for t in terms]
        if len(terms[-1]) >= 2:
            parts[-1] += "*"
        try:
            (ids,) = db.execute(
                "SELECT group_concat(rowid - ?) FROM files_fts WHERE files_fts MATCH ? AND rowid BETWEEN ? AND ?",
                (self.first_id, " ".join(parts), self.first_id, self.first_id + len(self.pos_of) - 1),
            ).fetchone()
        except sqlite3.OperationalError as exc:
            raise ParamError("query", f"cannot search for {query!r}: {exc}") from None
        if not ids:
            return []
        pos_of = self.pos_of
        return sorted(p for p in map(pos_of.__getitem__, map(int, ids.split(","))) if p >= 0)

    def _page(self, selection: "_Selection", req: FileSearchRequest, total: int) -> list[int]:
        start, n = req.offset, self.n
        if start >= total:
            return []
        count = min(req.page_size, total - start)
        descending = req.sort_order == "descending"
        if req.sort_by == "path":
            space = self.space("path")
        elif req.sort_by == "size":
            space = self.space("size-" if descending else "size+")
        else:
            space = self.space(("desc:" if descending else "dim:") + "format")
        reverse = descending and req.sort_by == "path"  # the other orders are built descending
        if not selection.atoms:
            if reverse:
                return list(range(n - 1 - start, n - 1 - start - count, -1))
            indexes = range(start, start + count)
            return list(indexes) if space.order is None else [space.order[i] for i in indexes]
        if selection.enumerable:
            rows = selection.rows()
            if req.sort_by == "path":
                return (rows[::-1] if reverse else rows)[start:start + count]
            key = self._sort_key(req.sort_by, descending)
            return sorted(rows, key=key)[start:start + count]
        mask = selection.mask(space).to_bytes(n, "little")
        if reverse:
            indexes = _select_ones(mask, total - start - count, count)[::-1]
        else:
            indexes = _select_ones(mask, start, count)
        return indexes if space.order is None else [space.order[i] for i in indexes]

    def _sort_key(self, sort_by: str, descending: bool):
        if sort_by == "size":
            sizes = self.sizes
            return (lambda p: (-sizes[p], p)) if descending else (lambda p: (sizes[p], p))
        codes = self.dims["format"].codes
        return (lambda p: (-codes[p], p)) if descending else (lambda p: (codes[p], p))

    def _facet(self, db: sqlite3.Connection, dim, atoms: dict[str, list[_Atom]], req: FileSearchRequest) -> dict:
        selected = _selected_values(req, dim.param)
        others = [a for param, group in atoms.items() if param != dim.param for a in group]
        selection = _Selection(self, others)
        if dim.id_like:
            return self._id_like_facet(db, dim, selection, selected)
        n_values = len(dim.values)
        if not others:
            counts = {c: dim.counts[c - 1] for c in dim.top[:FACET_SIZE]}
            in_values = self.n - dim.starts[1]
        elif selection.enumerable:
            tally = Counter(_gather(dim.codes, selection.rows()))
            tally.pop(0, None)
            in_values = sum(tally.values())
            counts = dict(sorted(tally.items(), key=lambda kv: (-kv[1], dim.values[kv[0] - 1]))[:FACET_SIZE])
        else:
            mask = selection.mask(self.space("dim:" + dim.param)).to_bytes(self.n, "little")
            counts = _top_counts(dim, mask)
            in_values = mask.count(1) - mask.count(1, 0, dim.starts[1])
        selected_codes = {c for v in selected for c in dim.resolve(v)}
        for code in selected_codes - set(counts):
            counts[code] = self._count_in(dim, code, selection)
        shown = sorted(counts.items(), key=lambda kv: (-kv[1], dim.values[kv[0] - 1]))
        buckets = [_bucket(dim.values[c - 1], k, c in selected_codes) for c, k in shown if k or c in selected_codes]
        known = {dim.values[c - 1] for c in selected_codes}
        buckets += [_bucket(v, 0, True) for v in dict.fromkeys(selected) if v not in known and not dim.resolve(v)]
        buckets.sort(key=lambda b: (-b["count"], b["key"]))
        other = in_values - sum(k for c, k in shown)
        return {"name": dim.param, "title": dim.title, "buckets": buckets, "otherCount": max(other, 0),
                "valueCount": n_values}

    def _count_in(self, dim: _Dim, code: int, selection: "_Selection") -> int:
        if not selection.atoms:
            return dim.counts[code - 1]
        if selection.enumerable:
            codes = dim.codes
            return sum(1 for p in selection.rows() if codes[p] == code)
        mask = selection.mask(self.space("dim:" + dim.param)).to_bytes(self.n, "little")
        return mask.count(1, dim.starts[code], dim.starts[code + 1])

    def _id_like_facet(self, db: sqlite3.Connection, dim: _IdLikeDim, selection: "_Selection",
                       selected: list[str]) -> dict:
        """Unfiltered: the global top values. Filtered: only the selected values, counted."""
        buckets = []
        if not selection.atoms:
            buckets = [_bucket(v, c, v in selected) for v, c in dim.top_pairs]
        listed = {b["key"] for b in buckets}
        path_mask = selection.mask(self.space("path")).to_bytes(self.n, "little") if selection.atoms else None
        for value in dict.fromkeys(selected):
            if value not in listed:
                rows = self._sql_atom(db, dim, [value]).rows
                count = sum(1 for p in rows if path_mask[p]) if path_mask is not None else len(rows)
                buckets.append(_bucket(value, count, True))
        buckets.sort(key=lambda b: (-b["count"], b["key"]))
        return {"name": dim.param, "title": dim.title, "buckets": buckets, "otherCount": None, "valueCount": None}


class _Selection:
    """The rows matching all of ``atoms`` (every row when there is none)."""

    def __init__(self, engine: _Engine, atoms: list[_Atom]):
        self.engine = engine
        self.atoms = sorted(atoms, key=lambda a: a.count)
        self.enumerable = bool(atoms) and self.atoms[0].count <= ENUM_MAX
        self._rows: list[int] | None = None

    def count(self) -> int:
        if not self.atoms:
            return self.engine.n
        if self.enumerable:
            return len(self.rows())
        return self.mask(self.engine.space("path")).bit_count()

    def rows(self) -> list[int]:
        """Matching row numbers, sorted (only for a selection some filter makes small)."""
        if self._rows is None:
            smallest, rest = self.atoms[0], self.atoms[1:]
            rows = self.engine.rows(smallest)
            if rest and rows:
                path = self.engine.space("path")
                allowed = reduce(and_, (self.engine.mask(a, path) for a in rest)).to_bytes(self.engine.n, "little")
                rows = [p for p in rows if allowed[p]]
            self._rows = list(rows)
        return self._rows

    def mask(self, space: _Space) -> int:
        return reduce(and_, (self.engine.mask(a, space) for a in self.atoms))


# -- helpers ---------------------------------------------------------------------------


def _gather(seq, positions) -> tuple:
    """``seq[p] for p in positions`` at C speed."""
    if len(positions) > 1:
        return itemgetter(*positions)(seq)
    return tuple(seq[p] for p in positions)


_TABLES: dict[tuple[int, ...], bytes] = {}


def _table(codes: tuple[int, ...]) -> bytes:
    """A ``bytes.translate`` table mapping the codes to 1 and everything else to 0."""
    table = _TABLES.get(codes)
    if table is None:
        wanted = set(codes)
        table = bytes(1 if i in wanted else 0 for i in range(256))
        if len(_TABLES) < 4096:
            _TABLES[codes] = table
    return table


def _select_ones(mask: bytes, start: int, count: int) -> list[int]:
    """Indexes of the ones number ``start`` to ``start + count - 1`` in a 0/1 byte string."""
    start = max(start, 0)
    i, seen, n = 0, 0, len(mask)
    while i < n:
        ones = mask.count(1, i, i + CHUNK)
        if seen + ones > start:
            break
        seen += ones
        i += CHUNK
    out: list[int] = []
    skip, find = start - seen, mask.find
    while len(out) < count:
        i = find(1, i)
        if i < 0:
            break
        if skip:
            skip -= 1
        else:
            out.append(i)
        i += 1
    return out


def _top_counts(dim: _Dim, mask: bytes) -> dict[int, int]:
    """The FACET_SIZE values with the most ones in their range of ``mask`` (ties by value),
    stopping as soon as no later value (by global count) can enter the top."""
    found: list[tuple[int, str, int]] = []
    worst: tuple[int, str] | None = None
    count, starts, values, counts = mask.count, dim.starts, dim.values, dim.counts
    for code in dim.top:
        value = values[code - 1]
        if worst is not None and (-counts[code - 1], value) > worst:
            break
        k = count(1, starts[code], starts[code + 1])
        if k:
            found.append((-k, value, code))
            if len(found) >= 2 * FACET_SIZE:
                found.sort()
                del found[FACET_SIZE:]
                worst = found[-1][:2]
    found.sort()
    return {code: -k for k, _, code in found[:FACET_SIZE]}


def _bucket(key: str, count: int, selected: bool) -> dict:
    return {"key": key, "label": key, "count": count, "selected": selected}


def _dim_filters(req: FileSearchRequest) -> list[tuple[str, list[str]]]:
    out = []
    if req.formats:
        out.append(("format", req.formats))
    if req.components:
        out.append(("component", req.components))
    out += [("attr." + name, values) for name, values in req.attributes.items()]
    return out


def _selected_values(req: FileSearchRequest, param: str) -> list[str]:
    return dict(_dim_filters(req)).get(param, [])


def _label_dim(param: str, title: str, labels: list[str | None]) -> _Dim:
    values = sorted({v for v in labels if v})
    code_of = {v: c for c, v in enumerate(values)}
    postings: list[list[int]] = [[] for _ in values]
    for p, label in enumerate(labels):
        if label:
            postings[code_of[label]].append(p)
    return _Dim(param, title, len(labels), values, postings)


def _base_columns(db: sqlite3.Connection, accession: str, first_id: int):
    """Relative ids, sizes, formats and components of the dataset's rows in path order."""
    sep = "\x1f"
    row = db.execute(
        "SELECT count(*), group_concat(id - ?), group_concat(coalesce(size, -1)), "
        "group_concat(coalesce(format, ''), char(31)), group_concat(coalesce(component, ''), char(31)) "
        "FROM (SELECT id, size, format, component FROM files WHERE accession = ? ORDER BY path, id)",
        (first_id, accession),
    ).fetchone()
    n = row[0]
    if not n:
        return array("i"), array("q"), [], []
    rel = array("i", map(int, row[1].split(",")))
    sizes = array("q", map(int, row[2].split(",")))
    formats, components = row[3].split(sep), row[4].split(sep)
    if len(formats) != n or len(components) != n:  # a separator inside a value: read row by row
        rows = db.execute(
            "SELECT format, component FROM files WHERE accession = ? ORDER BY path, id", (accession,)
        ).fetchall()
        formats, components = [r[0] for r in rows], [r[1] for r in rows]
    return rel, sizes, formats, components


def _fts_terms(db: sqlite3.Connection, text: str) -> list[str]:
    """The terms FTS5 makes of ``text`` (same tokenizer as the index), in order: each can
    then be searched as one quoted term, whatever characters the user typed."""
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.file_query_text USING fts5(body, tokenize='{FTS_TOKENIZER}')"
    )
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.file_query_terms USING fts5vocab(temp, file_query_text, instance)"
    )
    db.execute("DELETE FROM temp.file_query_text")
    db.execute("INSERT INTO temp.file_query_text(rowid, body) VALUES (1, ?)", (text,))
    terms = [t for (t,) in db.execute("SELECT term FROM temp.file_query_terms ORDER BY offset")]
    db.execute("DELETE FROM temp.file_query_text")
    return [t.replace('"', '""') for t in terms]


def _fetch_rows(db: sqlite3.Connection, ids: list[int]) -> list[dict]:
    if not ids:
        return []

    marks = ",".join("?" * len(ids))
    found = {
        row[0]: row[1:]
        for row in db.execute(f"SELECT id, path, size, format, component, attributes FROM files WHERE id IN ({marks})", ids)
    }
    out = []
    for i in ids:
        if i in found:
            path, size, fmt, component, attrs = found[i]
            out.append({"path": path, "size": size, "format": fmt, "component": component,
                        "attributes": orjson.loads(attrs) if attrs else {}})
    return out


def _result(req: FileSearchRequest, accession: str, total: int, files: list[dict], facets: list[dict]) -> dict:
    return {
        "accession": accession,
        "query": req.query,
        "totalHits": total,
        "isTotalHitsExact": True,
        "page": req.page,
        "pageSize": req.page_size,
        "offset": req.offset,
        "sortBy": req.sort_by,
        "sortOrder": req.sort_order,
        "files": files,
        "facets": facets,
    }


# -- entry point -----------------------------------------------------------------------

_ENGINES: OrderedDict[tuple[str, str], _Engine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()
_LOADING: dict[tuple[str, str], threading.Lock] = {}


def _engine(store: RecordStore, fs: FileSet) -> _Engine:
    key = (str(store.path.resolve()), fs.accession)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None and engine.version == fs.version:
            _ENGINES.move_to_end(key)
            return engine
        loading = _LOADING.setdefault(key, threading.Lock())
    with loading:  # one build per dataset at a time; the others wait for it
        with _ENGINES_LOCK:
            engine = _ENGINES.get(key)
        if engine is None or engine.version != fs.version:
            engine = _Engine(store.db, fs)
        with _ENGINES_LOCK:
            _ENGINES[key] = engine
            _ENGINES.move_to_end(key)
            while len(_ENGINES) > 1 and sum(e.n for e in _ENGINES.values()) > ENGINE_CACHE_ROWS:
                _ENGINES.popitem(last=False)
    return engine


def clear_cache() -> None:
    """Forget every in-memory dataset index (tests, benchmarks)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()


def search_files(store_path_or_store: RecordStore | Path | str, accession: str, request: FileSearchRequest) -> dict:
    """Search one dataset's file rows: the requested page, the exact total and
    multi-select facets. A dataset without file rows gives an empty answer."""
    if isinstance(store_path_or_store, RecordStore):
        return _search(store_path_or_store, accession, request)
    with RecordStore(store_path_or_store) as store:
        return _search(store, accession, request)


def _search(store: RecordStore, accession: str, request: FileSearchRequest) -> dict:
    db = store.db
    own_transaction = not db.in_transaction
    if own_transaction:
        db.execute("BEGIN")  # one snapshot: file set, index build and rows agree
    try:
        fs = store.file_set(accession)
        if fs is None or fs.count == 0:
            return _result(request, accession, 0, [], [])
        return _engine(store, fs).search(db, request)
    finally:
        if own_transaction:
            db.execute("COMMIT")
