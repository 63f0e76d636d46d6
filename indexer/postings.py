"""Whoosh postings read in bulk: whoosh3 keeps a posting list as blocks of 128 postings,
and reading a block's ids and weights whole is ~50x faster than stepping through a
matcher's ``id()``/``weight()``/``next()``. Used by the query path's arrays and by the
indexer's own counts."""

from __future__ import annotations

import numpy as np
from whoosh.matching.wrappers import FilterMatcher


def decode_postings(matcher) -> tuple[np.ndarray, np.ndarray]:
    """All (doc id, term frequency) pairs of a postings matcher, decoded a block at a time.

    whoosh3's leaf matcher keeps each block's ids and weights as sequences; reading them whole
    is ~50× faster than stepping through ``id()``/``weight()``/``next()``. Matchers of other
    shapes (another Whoosh version) take the public, slower path.
    """
    if isinstance(matcher, FilterMatcher):  # a segment with deletions: filter in bulk
        ids, weights = decode_postings(matcher.child)
        keep = np.isin(ids, np.fromiter(matcher._ids, np.int64, len(matcher._ids)), invert=matcher._exclude)
        return ids[keep], weights[keep] * np.float32(matcher.boost)
    if hasattr(matcher, "matchers") and hasattr(matcher, "offsets"):  # several segments
        parts = [decode_postings(m) for m in matcher.matchers]
        ids = [p[0] + offset for p, offset in zip(parts, matcher.offsets)]
        return concat(ids, np.int32), concat([p[1] for p in parts], np.float32)
    if all(hasattr(matcher, a) for a in ("_read_ids", "_read_weights", "_next_block", "_i")):
        return _decode_blocks(matcher)
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return np.asarray(ids, np.int32), np.asarray(weights, np.float32)


def _decode_blocks(matcher) -> tuple[np.ndarray, np.ndarray]:
    ids, weights = [], []
    while matcher.is_active():
        if matcher._ids is None:
            matcher._read_ids()
        if matcher._weights is None:
            matcher._read_weights()
        start = matcher._i
        ids.append(np.asarray(matcher._ids[start:], np.int32))
        weights.append(np.asarray(matcher._weights[start:], np.float32))
        matcher._next_block()
    return concat(ids, np.int32), concat(weights, np.float32)


def _unfiltered(matcher):
    """A segment's postings matcher without Whoosh's filter hiding its deleted documents."""
    return matcher.child if isinstance(matcher, FilterMatcher) and matcher._exclude else matcher


def segment_ids(matcher) -> np.ndarray:
    """A segment's postings doc ids, deleted documents included (the live mask drops them)."""
    return decode_postings(_unfiltered(matcher))[0].astype(np.int32, copy=False)


def decode_positions(matcher, wanted: np.ndarray, decode) -> tuple[np.ndarray, np.ndarray]:
    """(doc id, position) pairs of one segment's postings matcher for the documents in
    ``wanted`` (sorted doc ids, all holding the term and none deleted).

    Only blocks whose id range covers a wanted document are read, and only the wanted
    postings' values decoded (``decode`` turns a posting value into its positions)."""
    matcher = _unfiltered(matcher)  # it only hides deleted documents, and none is wanted
    out_docs: list[int] = []
    out_positions: list[int] = []
    if not all(hasattr(matcher, a) for a in ("_read_ids", "_read_values", "_next_block", "block_max_id")):
        want = set(wanted.tolist())
        while matcher.is_active():
            if matcher.id() in want:
                found = matcher.value_as("positions")
                out_docs += [matcher.id()] * len(found)
                out_positions += found
            matcher.next()
        return np.asarray(out_docs, np.int64), np.asarray(out_positions, np.int64)
    done = 0  # wanted[:done] are behind the current block
    while done < len(wanted) and matcher.is_active():
        upto = int(np.searchsorted(wanted, matcher.block_max_id(), side="right"))
        if upto > done:
            if matcher._ids is None:
                matcher._read_ids()
            ids = np.asarray(matcher._ids, np.int64)
            want = wanted[done:upto]
            at = np.minimum(np.searchsorted(ids, want), len(ids) - 1)
            hits = at[ids[at] == want]
            if len(hits):
                if matcher._values is None:
                    matcher._read_values()
                values = matcher._values
                for k in hits.tolist():
                    found = decode(values[k])
                    out_docs += [int(ids[k])] * len(found)
                    out_positions += found
            done = upto
        matcher._next_block()
    return np.asarray(out_docs, np.int64), np.asarray(out_positions, np.int64)


def concat(parts: list, dtype) -> np.ndarray:
    """The arrays of ``parts`` as one array of ``dtype`` (empty for no parts)."""
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
