"""Per-generation arrays that let the query path work outside Whoosh's per-request loops.

Built once when a generation (or an update of it) is opened, and shared by every request:

- facet ordinals: for each facet field, its keys and a CSR-like pair of arrays
  (``entry_doc``, ``entry_key``) so counting a facet over any set of matching documents is one
  ``numpy.bincount``;
- posting arrays of facet keys (filters become array lookups);
- sort columns (release date, title rank, accession rank, file count, size) as numpy arrays;
- a bounded cache of decoded text postings (doc ids and term frequencies) and per-field
  document lengths for BM25 scoring.

Whoosh stays the index of record: everything here is read from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from indexer.schema import FACETS

MISSING_U64 = np.iinfo(np.uint64).max
TREE_FIELDS = ("f_imaging_method_tree", "f_organism_tree")
POSTINGS_CACHE_SIZE = 4096


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


def _ids(matcher) -> np.ndarray:
    return np.fromiter(matcher.all_ids(), dtype=np.int32)


def load_facet(reader, fieldname: str) -> FacetOrdinals:
    """Read every key of a keyword facet field and its postings."""
    keys: list[str] = []
    docs: list[np.ndarray] = []
    postings: dict[str, np.ndarray] = {}
    if fieldname in reader.indexed_field_names():
        for term in reader.lexicon(fieldname):
            ids = _ids(reader.postings(fieldname, term))
            key = _decode(term)
            postings[key] = ids
            keys.append(key)
            docs.append(ids)
    entry_doc = np.concatenate(docs) if docs else np.zeros(0, np.int32)
    entry_key = np.repeat(np.arange(len(keys), dtype=np.int32), [len(d) for d in docs]) if docs else np.zeros(0, np.int32)
    return FacetOrdinals(keys, entry_doc, entry_key, postings)


def _column(reader, name: str, size: int, dtype) -> np.ndarray:
    if not reader.has_column(name):
        return np.zeros(size, dtype)
    return np.fromiter(reader.column_reader(name, translate=False), dtype=dtype, count=size)


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
    """Arrays of one opened index generation. Its own searcher is read only under a lock
    (Whoosh readers are not safe to share between threads); everything it reads is cached."""

    def __init__(self, searcher):
        reader = searcher.reader()
        self.searcher = searcher
        self.reader = reader
        self.size = reader.doc_count_all()
        self.live = np.zeros(self.size, bool)
        self.live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        self.facets = {spec.name: load_facet(reader, spec.field) for spec in FACETS}
        self.trees = {name: load_facet(reader, name) for name in TREE_FIELDS}
        self.accessions = [_decode(v) for v in reader.column_reader("accession", translate=False)]
        self.accession_rank = _rank(self.accessions)
        self.sorted_accessions = sorted(self.accessions)
        self.title_values = [_decode(v) for v in reader.column_reader("title_sort", translate=False)]
        self.title_rank = _rank(self.title_values)
        self.sorted_titles = sorted(self.title_values)
        dates = _column(reader, "release_date", self.size, np.uint64)
        self.has_date = dates != MISSING_U64
        self.release_date = np.where(self.has_date, dates, 0).astype(np.int64)
        self.file_count = _column(reader, "file_count", self.size, np.int64)
        self.total_size = _column(reader, "total_size_bytes", self.size, np.int64)
        self._postings: OrderedDict = OrderedDict()
        self._lengths: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.read_lock = threading.Lock()

    def postings(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Doc ids and term frequencies of ``text`` in ``fieldname`` (decoded once, cached)."""
        key = (fieldname, text)
        with self._lock:
            cached = self._postings.get(key)
            if cached is not None:
                self._postings.move_to_end(key)
                return cached
        with self.read_lock:
            result = self._read_postings(fieldname, text)
        with self._lock:
            self._postings[key] = result
            while len(self._postings) > POSTINGS_CACHE_SIZE:
                self._postings.popitem(last=False)
        return result

    def _read_postings(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        field_obj = self.reader.schema[fieldname]
        term = field_obj.to_bytes(text) if hasattr(field_obj, "to_bytes") else text.encode()
        if (fieldname, term) not in self.reader:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        matcher = self.reader.postings(fieldname, term)
        ids, weights = [], []
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            matcher.next()
        return np.asarray(ids, np.int32), np.asarray(weights, np.float32)

    def field_lengths(self, fieldname: str) -> np.ndarray:
        """Length in tokens of ``fieldname`` in every document (for BM25 length norms)."""
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            reader = self.reader
            with self.read_lock:
                lengths = np.fromiter((reader.doc_field_length(d, fieldname, 0) for d in range(self.size)), np.float32, self.size)
            self._lengths[fieldname] = lengths
        return lengths

    def average_length(self, fieldname: str) -> float:
        """Mean field length over live documents (at least 1)."""
        live = max(1, int(self.live.sum()))
        return max(1.0, self.reader.field_length(fieldname) / live)

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """Documents holding the term (from the cached postings)."""
        return len(self.postings(fieldname, text)[0])
