"""Per-generation arrays that let the query path work outside Whoosh's per-request loops.

Built once when a generation (or an update of it) is opened, and shared by every request:

- facet ordinals: for each facet field, its keys and a CSR-like pair of arrays
  (``entry_doc``, ``entry_key``) so counting a facet over any set of matching documents is one
  ``numpy.bincount``;
- posting arrays of facet keys (filters become array lookups);
- sort columns (release date, title rank, accession rank, file count, size) as numpy arrays;
- a bounded cache of text postings (doc ids and term frequencies: from the segments'
  position keys, ``indexer.position_keys``, or decoded from Whoosh's blocks) and per-field
  document lengths for BM25 scoring; phrase positions from the same position keys.

Whoosh stays the index of record: everything here is read from its segments.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.util.numeric import byte_to_length

from indexer.position_keys import open_position_keys
from indexer.postings import concat, decode_positions, decode_postings, segment_ids
from indexer.schema import FACETS
from query.segment_arrays import SegmentArrays, SegmentCache, assemble_facet

MISSING_U64 = np.iinfo(np.uint64).max
TREE_FIELDS = ("f_imaging_method_tree", "f_organism_tree")
POSTINGS_CACHE_BYTES = 64 * 1024 * 1024  # decoded postings kept per generation
POSITION_CACHE_ENTRIES = 200_000  # distinct encoded position lists kept decoded
WARM_TERMS = 200  # most frequent terms per default field decoded when a generation opens


@dataclass
class FacetOrdinals:
    """One facet field: its keys, which documents hold which key, and each key's postings."""

    keys: list[str]
    entry_doc: np.ndarray  # int32, one entry per (document, key) pair
    entry_key: np.ndarray  # int32 ordinal into keys
    postings: dict[str, np.ndarray] = field(default_factory=dict)

    def count(self, mask: np.ndarray) -> dict[str, int]:
        """Documents per key among those where ``mask`` is true."""
        if not len(self.entry_doc):
            return {}
        counts = np.bincount(self.entry_key[mask[self.entry_doc]], minlength=len(self.keys))
        return {self.keys[i]: int(counts[i]) for i in np.flatnonzero(counts)}


def _decode(term) -> str:
    return term.decode("utf-8") if isinstance(term, bytes) else str(term)


def _term_bytes(field_obj, text: str) -> bytes:
    return field_obj.to_bytes(text) if hasattr(field_obj, "to_bytes") else text.encode()


_LENGTH_TABLE = np.array([byte_to_length(b) for b in range(256)], np.float32)


def read_field_lengths(reader, fieldname: str, size: int) -> np.ndarray:
    """Token count of a field in every document: whoosh3 keeps them as one byte per document
    in a column, decoded here through a 256-entry table instead of one call per document."""
    out = np.zeros(size, np.float32)
    for leaf, offset in reader.leaf_readers():
        perdoc = getattr(leaf, "_perdoc", None)
        count = leaf.doc_count_all()
        column = None
        if perdoc is not None and hasattr(perdoc, "_cached_reader"):
            column = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is not None:
            out[offset : offset + count] = _LENGTH_TABLE[_length_bytes(column, count)]
        else:
            out[offset : offset + count] = [leaf.doc_field_length(d, fieldname, 0) for d in range(count)]
    return out


def _length_bytes(column, count: int) -> np.ndarray:
    """The length bytes of every document: one read of the column's fixed-width block when
    the reader is whoosh's one-byte numeric column, else one document at a time."""
    raw = np.zeros(count, np.uint8)
    if getattr(column, "_typecode", None) == "B" and all(hasattr(column, a) for a in ("_dbfile", "_basepos", "_count")):
        stored = min(column._count, count)
        raw[:stored] = np.frombuffer(column._dbfile.get(column._basepos, stored), np.uint8)
        return raw
    return np.fromiter(column, np.uint8, count)


def read_column(reader, name: str, size: int, dtype) -> np.ndarray:
    """A sortable numeric column's raw value for every document: whoosh3 keeps them as one
    block of fixed-width big-endian numbers per segment (documents past its end hold the
    column's default), read here in one go instead of one value at a time."""
    if not reader.has_column(name):
        return np.zeros(size, dtype)
    out = np.zeros(size, dtype)
    default = np.asarray(getattr(reader.schema[name].column_type, "_default", 0) or 0, np.uint64).astype(dtype)
    for leaf, offset in reader.leaf_readers():
        count = leaf.doc_count_all()
        if not leaf.has_column(name):  # no document of this segment has a value
            out[offset:offset + count] = default
            continue
        column = leaf.column_reader(name, translate=False)
        if all(hasattr(column, a) for a in ("_typecode", "_dbfile", "_basepos", "_count", "_fixedlen")):
            stored = min(column._count, count)
            raw = column._dbfile.get(column._basepos, stored * column._fixedlen)
            out[offset:offset + stored] = np.frombuffer(raw, np.dtype(">" + column._typecode)).astype(dtype)
            out[offset + stored:offset + count] = default
        else:
            out[offset:offset + count] = np.fromiter(column, dtype=dtype, count=count)
    return out


def _segment_position_keys(leaf) -> dict:
    """The position keys a segment has, by field (none for segments Whoosh's writer wrote)."""
    storage, segment = getattr(leaf, "_storage", None), getattr(leaf, "_segment", None)
    if storage is None or segment is None:
        return {}
    found = {}
    for name, field_obj in leaf.schema.items():
        if field_obj.format and field_obj.format.supports("positions"):
            keys = open_position_keys(storage, segment, name)
            if keys is not None:
                found[name] = keys
    return found


def _rank(values: list) -> np.ndarray:
    """Rank of each value in sorted order (ties share the lower rank)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = np.zeros(len(values), np.int64)
    previous, rank = object(), -1
    for position, doc in enumerate(order):
        if values[doc] != previous:
            rank, previous = position, values[doc]
        ranks[doc] = rank
    return ranks


class GenerationColumns:
    """Arrays of one opened index generation, read through borrowed searchers (a searcher is
    never used by two threads at once); everything read is cached."""

    def __init__(self, pool, segments: SegmentCache | None = None):
        self.pool = pool
        with pool.use() as searcher:
            self._load(searcher.reader(), segments or SegmentCache())
        self._postings: OrderedDict = OrderedDict()
        self._postings_bytes = 0
        self._lengths: dict[str, np.ndarray] = {}
        self._decoded_values: dict[bytes, list[int]] = {}
        self._average: dict[str, float] = {}
        self._lock = threading.Lock()

    def _load(self, reader, segments: SegmentCache) -> None:
        self.schema = reader.schema
        self.size = reader.doc_count_all()
        leaves = reader.leaf_readers()
        offsets = [offset for _, offset in leaves]
        parts = self._parts = segments.arrays([leaf for leaf, _ in leaves], self._read_segment)
        self._offsets = offsets
        self.live = np.ones(self.size, bool)
        for leaf, offset in leaves:
            if leaf.has_deletions():
                deleted = getattr(leaf, "deleted_docs_set", None)
                if deleted is None:
                    deleted = [d for d in range(leaf.doc_count_all()) if leaf.is_deleted(d)]
                self.live[np.fromiter(deleted, np.int64) + offset] = False
        self.live_count = int(self.live.sum())
        facet = lambda name: FacetOrdinals(*assemble_facet([p.facets[name] for p in parts], offsets))  # noqa: E731
        self.facets = {spec.name: facet(spec.field) for spec in FACETS}
        self.trees = {name: facet(name) for name in TREE_FIELDS}
        self.accessions = [a for p in parts for a in p.accessions]
        self.accession_rank = _rank(self.accessions)
        self.sorted_accessions = sorted(self.accessions)
        self.title_values = [t for p in parts for t in p.titles]
        numeric = lambda name, dtype: concat([p.numeric[name] for p in parts], dtype)  # noqa: E731
        dates = numeric("release_date", np.uint64)
        self.has_date = dates != MISSING_U64
        self.release_date = np.where(self.has_date, dates, 0).astype(np.int64)
        self.file_count = numeric("file_count", np.int64)
        self.total_size = numeric("total_size_bytes", np.int64)
        self._field_totals = {name: reader.field_length(name) for name in reader.schema.scorable_names()}

    # Sorting 100k titles takes a tenth of a second: done when a title sort first asks.
    @cached_property
    def title_rank(self) -> np.ndarray:
        """Each document's title's rank in title order."""
        return _rank(self.title_values)

    @cached_property
    def sorted_titles(self) -> list[str]:
        """All titles in order (to place a title cursor)."""
        return sorted(self.title_values)

    @staticmethod
    def _read_segment(leaf) -> SegmentArrays:
        count = leaf.doc_count_all()
        indexed = set(leaf.indexed_field_names())
        facets = {}
        for name in [spec.field for spec in FACETS] + list(TREE_FIELDS):
            terms = list(leaf.lexicon(name)) if name in indexed else []
            facets[name] = ([_decode(t) for t in terms],
                            [segment_ids(leaf.postings(name, t)) for t in terms])
        return SegmentArrays(
            size=count,
            facets=facets,
            accessions=[_decode(v) for v in leaf.column_reader("accession", translate=False)],
            titles=[_decode(v) for v in leaf.column_reader("title_sort", translate=False)],
            numeric={
                "release_date": read_column(leaf, "release_date", count, np.uint64),
                "file_count": read_column(leaf, "file_count", count, np.int64),
                "total_size_bytes": read_column(leaf, "total_size_bytes", count, np.int64),
            },
            position_keys=_segment_position_keys(leaf),
        )

    def postings(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Doc ids and term frequencies of ``text`` in ``fieldname`` (decoded once, cached)."""
        key = (fieldname, text)
        with self._lock:
            cached = self._postings.get(key)
            if cached is not None:
                self._postings.move_to_end(key)
                return cached
        with self.pool.use() as searcher:
            result = self._read_postings(searcher.reader(), fieldname, text)
        size = result[0].nbytes + result[1].nbytes
        with self._lock:
            if key not in self._postings:
                self._postings[key] = result
                self._postings_bytes += size
            while self._postings_bytes > POSTINGS_CACHE_BYTES and len(self._postings) > 1:
                _, (ids, freqs) = self._postings.popitem(last=False)
                self._postings_bytes -= ids.nbytes + freqs.nbytes
        return result

    def _read_postings(self, reader, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        field_obj = self.schema[fieldname]
        term = _term_bytes(field_obj, text)
        boost = np.float32(getattr(field_obj.format, "field_boost", 1.0))
        ids, weights = [], []
        for (leaf, offset), part in zip(reader.leaf_readers(), self._parts):
            keys = part.position_keys.get(fieldname)
            if keys is not None:
                docs, counts = keys.postings(term)
                docs += offset
                live = self.live[docs]
                ids.append(docs[live])
                weights.append(counts[live] * boost)
            elif (fieldname, term) in leaf:
                docs, found = decode_postings(leaf.postings(fieldname, term))
                ids.append(docs + offset)
                weights.append(found)
        return concat(ids, np.int32), concat(weights, np.float32)

    def position_keys(self, fieldname: str, text: str, wanted: np.ndarray) -> np.ndarray:
        """The sorted ``doc << 32 | position`` keys of ``text`` in ``fieldname`` within the
        ``wanted`` documents (a mask over the generation; not cached: the caller caches what
        it computes from them). Read from the segments' position keys, or decoded from
        Whoosh's postings for segments without (only the wanted documents' blocks)."""
        term = _term_bytes(self.schema[fieldname], text)
        found: list[np.ndarray] = []
        from_whoosh = []
        for index, (part, offset) in enumerate(zip(self._parts, self._offsets)):
            local = wanted[offset:offset + part.size]
            keys = part.position_keys.get(fieldname)
            if keys is None:
                from_whoosh.append((index, len(found)))
                found.append(np.zeros(0, np.int64))
            elif local.any():
                keys = keys.keys(term)
                found.append(keys[local[keys >> 32]] + (offset << 32))
        if from_whoosh:
            self._decode_keys(fieldname, text, term, wanted, from_whoosh, found)
        return concat(found, np.int64)

    def _decode_keys(self, fieldname: str, text: str, term: bytes, wanted: np.ndarray, segments: list, found: list) -> None:
        ids, _ = self.postings(fieldname, text)
        docs = np.sort(ids[wanted[ids]]).astype(np.int64)
        decode = self._position_decoder(self.schema[fieldname].format)
        with self.pool.use() as searcher:
            leaves = searcher.reader().leaf_readers()
            for index, slot in segments:
                leaf, offset = leaves[index]
                local = docs[(docs >= offset) & (docs < offset + self._parts[index].size)] - offset
                if len(local):
                    seg_docs, positions = decode_positions(leaf.postings(fieldname, term), local, decode)
                    found[slot] = ((seg_docs + offset) << 32) | positions

    def _position_decoder(self, fmt):
        """``fmt.decode_positions`` through a bounded cache: a posting's value is its encoded
        positions, and most postings hold one or two small positions, so values repeat."""
        cache = self._decoded_values

        def decode(value: bytes) -> list[int]:
            found = cache.get(value)
            if found is None:
                if len(cache) >= POSITION_CACHE_ENTRIES:
                    cache.clear()
                found = cache[value] = fmt.decode_positions(value)
            return found

        return decode

    def warm(self, fields, terms_per_field: int = WARM_TERMS, stop: threading.Event | None = None) -> int:
        """Decode the postings of each field's most frequent terms ahead of the first search
        that needs them (the first-seen decode of a common term is the slow part of a cold
        query). Runs in the background; stops early when ``stop`` is set."""
        warmed = 0
        for fieldname in fields:
            self.field_lengths(fieldname)
            if all(fieldname in part.position_keys for part in self._parts):
                continue  # read from position keys: no slow first decode to do ahead
            with self.pool.use() as searcher:
                top = [t for _, t in searcher.reader().most_frequent_terms(fieldname, number=terms_per_field)]
            for term in top:
                if stop is not None and stop.is_set():
                    return warmed
                self.postings(fieldname, _decode(term))
                warmed += 1
        return warmed

    def field_lengths(self, fieldname: str) -> np.ndarray:
        """Length in tokens of ``fieldname`` in every document (for BM25 length norms)."""
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            with self.pool.use() as searcher:
                lengths = read_field_lengths(searcher.reader(), fieldname, self.size)
            self._lengths[fieldname] = lengths
        return lengths

    def average_length(self, fieldname: str) -> float:
        """Mean field length over live documents (at least 1)."""
        live = max(1, self.live_count)
        return max(1.0, self._field_totals.get(fieldname, 0) / live)

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """Documents holding the term (from the cached postings)."""
        return len(self.postings(fieldname, text)[0])
