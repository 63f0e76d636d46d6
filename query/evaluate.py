"""Evaluate a compiled Whoosh query over a generation's arrays: a boolean mask of matching
documents and BM25F scores, with numpy instead of Whoosh's per-document matcher loops.

Terms, boolean combinations, numeric and date ranges, facet-key ranges and phrases (slop
1) are evaluated here from cached postings, positions and columns; anything else (phrases
with a slop, wildcards, fuzzy terms) is delegated to Whoosh once per generation and cached
as a mask. Whoosh's own scorer is
BM25F with B=0.75, K1=1.2; the same formula is used here so rankings agree.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import numpy as np
from whoosh import query as wq

from query.columns import GenerationColumns

B, K1 = 0.75, 1.2
FACET_PREFIX = "f_"
MASK_CACHE_SIZE = 1024


class Evaluator:
    """Evaluates queries against one GenerationColumns; leaf masks are cached."""

    def __init__(self, columns: GenerationColumns):
        self.columns = columns
        self.size = columns.size
        self.schema = columns.schema
        self._masks: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def mask(self, query) -> np.ndarray:
        """Matching live documents (no scores)."""
        return self.evaluate(query, scored=False)[0]

    def evaluate(self, query, scored: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(mask over live documents, scores or None)."""
        mask, scores = self._node(query, scored)
        return mask & self.columns.live, scores

    # -- nodes ---------------------------------------------------------------------------

    def _node(self, query, scored: bool):
        if query is wq.NullQuery or isinstance(query, type(wq.NullQuery)):
            return np.zeros(self.size, bool), None
        if isinstance(query, wq.Every) and not query.fieldname:
            return np.ones(self.size, bool), None
        if isinstance(query, wq.And):
            return self._and(query, scored)
        if isinstance(query, wq.Or):
            return self._or(query, scored)
        if isinstance(query, wq.Not):
            child, _ = self._node(query.query, False)
            return ~child, None
        if isinstance(query, wq.Term):
            return self._term(query, scored)
        if isinstance(query, (wq.NumericRange, wq.DateRange)) and query.fieldname in self._numeric_columns():
            return self._cached(query, self._numeric_range), None
        if isinstance(query, wq.TermRange) and query.fieldname.startswith(FACET_PREFIX):
            return self._cached(query, self._facet_range), None
        if isinstance(query, wq.Phrase) and query.slop == 1 and self._has_positions(query.fieldname):
            mask = self._cached(query, self._phrase)
            return mask, mask.astype(np.float32) * float(query.boost)  # scored as Whoosh's fallback is
        return self._fallback(query)

    def _and(self, query, scored: bool):
        mask, total = np.ones(self.size, bool), None
        for child in query.subqueries:
            child_mask, child_scores = self._node(child, scored)
            mask &= child_mask
            total = _add(total, child_scores)
        return mask, _boost(total, query.boost)

    def _or(self, query, scored: bool):
        mask, total = np.zeros(self.size, bool), None
        for child in query.subqueries:
            child_mask, child_scores = self._node(child, scored)
            mask |= child_mask
            total = _add(total, child_scores)
        return mask, _boost(total, query.boost)

    def _term(self, query: wq.Term, scored: bool):
        field, text = query.fieldname, query.text
        if field.startswith(FACET_PREFIX):
            return self._facet_term(field, text), None
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        ids, freqs = self.columns.postings(field, text)
        mask = np.zeros(self.size, bool)
        mask[ids] = True
        if not scored or not self.schema[field].scorable or not len(ids):
            return mask, None
        return mask, self._bm25(field, ids, freqs, query.boost)

    def _facet_term(self, field: str, key) -> np.ndarray:
        key = key.decode("utf-8") if isinstance(key, bytes) else key
        ordinals = self._ordinals(field)
        mask = np.zeros(self.size, bool)
        ids = ordinals.postings.get(key) if ordinals else None
        if ids is not None:
            mask[ids] = True
        return mask

    def _ordinals(self, field: str):
        columns = self.columns
        for spec_name, facet in columns.facets.items():
            if f"f_{spec_name}" == field:
                return facet
        return columns.trees.get(field)

    def _bm25(self, field: str, ids: np.ndarray, freqs: np.ndarray, boost: float) -> np.ndarray:
        columns = self.columns
        live = max(1, columns.live_count)
        df = len(ids)
        idf = math.log(1 + (live - df + 0.5) / (df + 0.5))
        lengths = columns.field_lengths(field)[ids]
        norm = (1 - B) + B * lengths / columns.average_length(field)
        field_boost = getattr(self.schema[field], "field_boost", 1.0)
        scores = np.zeros(self.size, np.float32)
        scores[ids] = boost * field_boost * idf * (freqs * (K1 + 1)) / (freqs + K1 * norm)
        return scores

    # -- ranges ----------------------------------------------------------------------------

    def _numeric_columns(self) -> dict:
        columns = self.columns
        return {
            "release_date": (columns.release_date, columns.has_date),
            "file_count": (columns.file_count, None),
            "total_size_bytes": (columns.total_size, None),
        }

    def _numeric_range(self, query) -> np.ndarray:
        values, present = self._numeric_columns()[query.fieldname]
        start, end = query.start, query.end  # DateRange keeps them as Whoosh's longs already
        mask = np.ones(self.size, bool) if present is None else present.copy()
        if start is not None:
            mask &= values > start if query.startexcl else values >= start
        if end is not None:
            mask &= values < end if query.endexcl else values <= end
        return mask

    def _facet_range(self, query: wq.TermRange) -> np.ndarray:
        ordinals = self._ordinals(query.fieldname)
        mask = np.zeros(self.size, bool)
        if ordinals is None:
            return mask
        for key, ids in ordinals.postings.items():
            if _in_range(key, query):
                mask[ids] = True
        return mask

    # -- phrases ---------------------------------------------------------------------------

    def _has_positions(self, fieldname: str) -> bool:
        field = self.schema[fieldname] if fieldname in self.schema else None
        return bool(field is not None and field.format and field.format.supports("positions"))

    def _phrase(self, query: wq.Phrase) -> np.ndarray:
        """Documents where the phrase's words stand at consecutive positions (Whoosh's
        ``Phrase`` with slop 1: ``SpanNear2(ordered=True, mindist=1, slop=1)``).

        Candidates are the documents holding every word (from the cached postings); only
        their positions are read. A chain is followed as one sorted array of
        ``doc << 32 | pos`` keys per word: the keys of word i+1 one position after a chain
        end of word i."""
        field = query.fieldname
        words = [w.decode("utf-8") if isinstance(w, bytes) else w for w in query.words]
        candidates = np.ones(self.size, bool)
        for word in words:
            ids, _ = self.columns.postings(field, word)
            present = np.zeros(self.size, bool)
            present[ids] = True
            candidates &= present
        mask = np.zeros(self.size, bool)
        if not candidates.any():
            return mask
        chain = None
        for word in words:
            keys = self.columns.position_keys(field, word, candidates)
            chain = keys if chain is None else _following(chain, keys)
            if not len(chain):
                return mask
        mask[np.unique(chain >> 32)] = True
        return mask

    # -- everything else -------------------------------------------------------------------

    def _fallback(self, query):
        mask = self._cached(query, self._whoosh_mask)
        scores = mask.astype(np.float32) * float(getattr(query, "boost", 1.0))
        return mask, scores

    def _whoosh_mask(self, query) -> np.ndarray:
        mask = np.zeros(self.size, bool)
        with self.columns.pool.use() as searcher:
            ids = np.fromiter(searcher.docs_for_query(query), dtype=np.int64)
        mask[ids] = True
        return mask

    def _cached(self, query, compute) -> np.ndarray:
        key = repr(query)
        with self._lock:
            hit = self._masks.get(key)
            if hit is not None:
                self._masks.move_to_end(key)
                return hit
        mask = compute(query)
        mask.setflags(write=False)
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > MASK_CACHE_SIZE:
                self._masks.popitem(last=False)
        return mask


def _add(total, scores):
    if scores is None:
        return total
    return scores.copy() if total is None else total + scores


def _boost(scores, boost: float):
    return scores * boost if scores is not None and boost != 1.0 else scores


def _following(chain: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The ``keys`` one position after a key of ``chain`` (both sorted)."""
    if not len(chain) or not len(keys):
        return keys[:0]
    before = keys - 1
    at = np.minimum(np.searchsorted(chain, before), len(chain) - 1)
    return keys[chain[at] == before]


def _in_range(key: str, query: wq.TermRange) -> bool:
    start, end = query.start, query.end
    if start is not None and (key < start or (query.startexcl and key == start)):
        return False
    if end is not None and (key > end or (query.endexcl and key == end)):
        return False
    return True
