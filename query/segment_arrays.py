"""Per-segment arrays behind GenerationColumns, kept across reopens of a generation.

An incremental update adds a small segment and marks deletions in old ones; Whoosh never
changes a segment's postings or columns after writing it. So what the query path reads
from a segment (facet keys and postings, accessions, titles, numeric sort columns) is read
once per segment, without applying its deletions, and kept in a ``SegmentCache`` owned by
the search service: reopening a generation after an update reads only the new segment and
assembles the arrays; deletions are applied through the live-document mask, which every
count and match goes through.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from indexer.position_keys import PositionKeys


@dataclass
class SegmentArrays:
    """What the query path needs from one segment, in segment-local document numbers."""

    size: int
    facets: dict[str, tuple[list[str], list[np.ndarray]]]  # field -> (keys, postings per key)
    accessions: list[str]
    titles: list[str]
    numeric: dict[str, np.ndarray]  # raw column values
    position_keys: dict[str, PositionKeys] = field(default_factory=dict)  # fields that have them


class SegmentCache:
    """SegmentArrays by segment id, holding only the segments of the last opened reader."""

    def __init__(self) -> None:
        self._arrays: dict[str, SegmentArrays] = {}
        self._lock = threading.Lock()

    def arrays(self, leaves, read) -> list[SegmentArrays]:
        """The arrays of each leaf reader (``read(leaf)`` for segments not seen before)."""
        found = []
        for leaf in leaves:
            key = segment_key(leaf)
            with self._lock:
                cached = self._arrays.get(key)
            if cached is None or cached.size != leaf.doc_count_all():
                cached = read(leaf)
            found.append((key, cached))
        with self._lock:
            self._arrays = dict(found)
        return [arrays for _, arrays in found]


def segment_key(leaf) -> str:
    """A segment's identity: its index name and random id (new for every segment written)."""
    segment = getattr(leaf, "_segment", None)
    if segment is None or not hasattr(segment, "segid"):
        return f"reader-{id(leaf)}"  # not a plain segment reader: never reused
    return f"{segment.indexname}_{segment.segid}"


def assemble_facet(parts: list[tuple[list[str], list[np.ndarray]]], offsets: list[int]):
    """One facet over all segments: keys in index order, the (document, key) entries, and
    each key's postings in global document numbers."""
    keys = sorted({key for part_keys, _ in parts for key in part_keys}, key=lambda k: k.encode("utf-8"))
    ordinal = {key: i for i, key in enumerate(keys)}
    per_key: list[list[np.ndarray]] = [[] for _ in keys]
    for (part_keys, postings), offset in zip(parts, offsets):
        for key, ids in zip(part_keys, postings):
            per_key[ordinal[key]].append(ids + offset if offset else ids)
    postings = {key: (np.concatenate(lists).astype(np.int32, copy=False) if lists else np.zeros(0, np.int32))
                for key, lists in zip(keys, per_key)}
    docs = [postings[key] for key in keys]
    entry_doc = np.concatenate(docs) if docs else np.zeros(0, np.int32)
    entry_key = (np.repeat(np.arange(len(keys), dtype=np.int32), [len(d) for d in docs])
                 if docs else np.zeros(0, np.int32))
    return keys, entry_doc, entry_key, postings
