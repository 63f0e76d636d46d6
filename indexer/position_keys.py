"""Position keys: a segment's term positions as numpy-ready arrays, next to Whoosh's postings.

Whoosh keeps a posting's positions inside pickled blocks of 128 postings, and reading them
back costs about 2 µs per posting: a phrase of two common words touched tens of thousands
of postings and took a quarter of a second at 100k datasets. ``BulkSegmentWriter`` (full
builds and updates) therefore also writes, per segment and positional field, one file
``<segment>.<field>.pos`` holding every occurrence of every term as a 64-bit key
``doc << 32 | position`` (segment-local document numbers), sorted by term and then by key.
Reading a term's keys is a slice of a memory map.

Layout (little-endian)::

    magic "BIAPOSK1" | n_terms, blob_len, n_keys (uint64)
    term_starts uint64[n_terms + 1]  byte offsets of each term in the blob
    key_starts  uint64[n_terms + 1]  index of each term's first key
    blob        the terms' UTF-8 bytes, in sorted order; zero padding to 8 bytes
    keys        int64[n_keys]

The files belong to their segment (Whoosh deletes them with it). Segments written by
Whoosh's own writer (merges of the small segments updates leave) have none; readers fall
back to Whoosh's postings for those.
"""

from __future__ import annotations

import mmap
import struct
from bisect import bisect_left
from typing import Iterable

import numpy as np

MAGIC = b"BIAPOSK1"
_HEADER = struct.Struct("<8sQQQ")
CHUNK_KEYS = 1 << 20  # keys computed and written at a time (bounds the writer's memory)


def file_name(segment, fieldname: str) -> str:
    """The position-keys file of ``fieldname`` in ``segment``."""
    return segment.make_filename(f".{fieldname}.pos")


def write_position_keys(out, terms: Iterable[tuple[bytes, np.ndarray, np.ndarray, np.ndarray]]) -> int:
    """Write one field's position keys to the binary file object ``out``.

    ``terms`` yields, in sorted term order, ``(term, docs, counts, positions)``: the
    documents holding the term (ascending), how many positions each has, and all those
    positions (per document ascending, concatenated). Returns the number of keys written.
    """
    terms = list(terms)
    blob = b"".join(t for t, _, _, _ in terms)
    term_starts = np.zeros(len(terms) + 1, np.uint64)
    term_starts[1:] = np.cumsum([len(t) for t, _, _, _ in terms], dtype=np.uint64)
    key_starts = np.zeros(len(terms) + 1, np.uint64)
    key_starts[1:] = np.cumsum([len(p) for _, _, _, p in terms], dtype=np.uint64)
    n_keys = int(key_starts[-1])
    out.write(_HEADER.pack(MAGIC, len(terms), len(blob), n_keys))
    out.write(term_starts.tobytes())
    out.write(key_starts.tobytes())
    out.write(blob + b"\0" * (-len(blob) % 8))
    chunk: list = []
    pending = 0
    for _, docs, counts, positions in terms:
        chunk.append((docs, counts, positions))
        pending += len(positions)
        if pending >= CHUNK_KEYS:
            out.write(_keys(chunk).tobytes())
            chunk, pending = [], 0
    if chunk:
        out.write(_keys(chunk).tobytes())
    return n_keys


def _keys(chunk: list) -> np.ndarray:
    docs = np.concatenate([np.asarray(d, np.int64) for d, _, _ in chunk])
    counts = np.concatenate([np.asarray(c, np.int64) for _, c, _ in chunk])
    positions = np.concatenate([np.asarray(p, np.int64) for _, _, p in chunk])
    return (np.repeat(docs, counts) << 32) | positions


class PositionKeys:
    """One field's position keys in one segment, read from a buffer (usually a memory map)."""

    def __init__(self, buffer):
        magic, n_terms, blob_len, n_keys = _HEADER.unpack_from(buffer, 0)
        if magic != MAGIC:
            raise ValueError("not a position-keys file")
        at = _HEADER.size
        self._term_starts = np.frombuffer(buffer, np.uint64, n_terms + 1, at).tolist()
        at += 8 * (n_terms + 1)
        self._key_starts = np.frombuffer(buffer, np.uint64, n_terms + 1, at)
        at += 8 * (n_terms + 1)
        self._blob = bytes(buffer[at:at + blob_len])
        at += blob_len + (-blob_len % 8)
        self._keys = np.frombuffer(buffer, np.int64, n_keys, at)
        self._buffer = buffer  # keeps the map open as long as the arrays over it live
        self.size = n_terms

    def _term(self, i: int) -> bytes:
        starts = self._term_starts
        return self._blob[starts[i]:starts[i + 1]]

    def postings(self, term: bytes) -> tuple[np.ndarray, np.ndarray]:
        """The documents holding ``term`` (ascending) and its number of positions in each."""
        return postings_of_keys(self.keys(term))

    def keys(self, term: bytes) -> np.ndarray:
        """The sorted ``doc << 32 | position`` keys of ``term`` (empty if absent)."""
        i = bisect_left(range(self.size), term, key=self._term)
        if i == self.size or self._term(i) != term:
            return np.zeros(0, np.int64)
        return self._keys[int(self._key_starts[i]):int(self._key_starts[i + 1])]


def postings_of_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(documents, positions per document) of a term's sorted keys."""
    docs = keys >> 32
    if not len(docs):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], docs[1:] != docs[:-1])))
    return docs[starts], np.diff(np.append(starts, len(docs)))


def open_position_keys(storage, segment, fieldname: str) -> PositionKeys | None:
    """The position keys of ``fieldname`` in ``segment`` under ``storage``, or None when the
    segment has none (written by Whoosh's writer) or the file is not one of ours."""
    name = file_name(segment, fieldname)
    if segment.is_compound():
        storage = segment.open_compound_file(storage)
    if not storage.file_exists(name):
        return None
    handle = storage.open_file(name)
    if isinstance(handle.file, mmap.mmap):  # indexer.storage's mapped files: keep the map
        buffer = handle.file
    else:
        buffer = handle.read()
        handle.close()
    try:
        return PositionKeys(buffer)
    except (ValueError, struct.error):
        return None
