"""The search itself over a generation's arrays: match, count facets (multi-select), sort,
cut the page, and continue from cursors. Only the hits of the returned page touch Whoosh's
stored fields.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from query.columns import GenerationColumns
from query.evaluate import Evaluator
from query.params import ParamError

SORT_COLUMNS = ("release_date", "title", "accession", "file_count", "size")


@dataclass
class Matched:
    """The documents a search matches: a mask and, for relevance, their scores."""

    mask: np.ndarray
    scores: np.ndarray | None


def match(evaluator: Evaluator, user_query, filters: dict) -> tuple[Matched, dict[str, np.ndarray]]:
    """The user query's matches with every filter applied, and each filter's own mask."""
    mask, scores = evaluator.evaluate(user_query, scored=True)
    filter_masks = {name: evaluator.mask(q) for name, q in filters.items()}
    combined = mask.copy()
    for fmask in filter_masks.values():
        combined &= fmask
    return Matched(combined, scores), filter_masks | {"__user__": mask}


def facet_counts(columns: GenerationColumns, masks: dict[str, np.ndarray], name: str, tree: bool = False) -> dict[str, int]:
    """Counts of a facet's keys over the matches, ignoring the facet's own filter (multi-select)."""
    mask = masks["__user__"].copy()
    for filter_name, fmask in masks.items():
        if filter_name not in ("__user__", name):
            mask &= fmask
    ordinals = columns.trees["f_imaging_method_tree"] if tree else columns.facets[name]
    return ordinals.count(mask)


# -- ordering ---------------------------------------------------------------------------------


class Order:
    """A total order over documents: a primary key (with missing values last) then accession."""

    def __init__(self, columns: GenerationColumns, sort_by: str, descending: bool, scores: np.ndarray | None):
        self.columns, self.sort_by, self.descending = columns, sort_by, descending
        if sort_by == "relevance":
            self.primary = -(scores if scores is not None else np.zeros(columns.size, np.float32)).astype(np.float64)
            self.present = np.ones(columns.size, bool)
        else:
            self.primary, self.present = self._column(sort_by)
            if descending:
                self.primary = -self.primary

    def _column(self, sort_by: str) -> tuple[np.ndarray, np.ndarray]:
        c = self.columns
        if sort_by == "release_date":
            return c.release_date.astype(np.float64), c.has_date
        attribute = {"title": "title_rank", "accession": "accession_rank", "file_count": "file_count", "size": "total_size"}[sort_by]
        return getattr(c, attribute).astype(np.float64), np.ones(c.size, bool)

    def top(self, docs: np.ndarray, k: int) -> np.ndarray:
        """The first ``k`` of ``docs`` in order, sorting only what can be among them."""
        if len(docs) > 2 * k + 64:
            # Missing values sort last: give them +inf, keep the k smallest primaries and all
            # their ties, and sort only those.
            primary = np.where(self.present[docs], self.primary[docs], np.inf)
            threshold = np.partition(primary, k - 1)[k - 1] if k > 0 else -np.inf
            docs = docs[primary <= threshold]
        keys = (self.columns.accession_rank[docs], self.primary[docs], ~self.present[docs])
        return docs[np.lexsort(keys)][:k]

    def key_of(self, doc: int) -> list:
        """A cursor key that means the same thing in any later generation."""
        c = self.columns
        accession = c.accessions[doc]
        if not self.present[doc]:
            return ["missing", accession]
        if self.sort_by == "title":
            return ["v", c.title_values[doc], accession]
        if self.sort_by == "accession":
            return ["v", accession, accession]
        return ["v", float(self.primary[doc]), accession]

    def after(self, docs: np.ndarray, key: list) -> np.ndarray:
        """The documents of ``docs`` (in order) that come after the cursor ``key``."""
        try:
            kind, *rest = key
            accession = rest[-1]
            rank_after = _rank_after(self.columns.sorted_accessions, accession)
            acc = self.columns.accession_rank[docs]
            missing = ~self.present[docs]
            if kind == "missing":
                return docs[missing & (acc >= rank_after)]
            value = self._primary_of(rest[0])
        except (TypeError, ValueError, IndexError):
            raise ParamError("cursor", "not a cursor this service issued") from None
        primary = self.primary[docs]
        later = missing | (primary > value) | ((primary == value) & (acc >= rank_after))
        return docs[later]

    def _primary_of(self, value) -> float:
        columns = self.columns
        if self.sort_by == "title":
            return self._string_primary(columns.sorted_titles, str(value))
        if self.sort_by == "accession":
            return self._string_primary(columns.sorted_accessions, str(value))
        return float(value)

    def _string_primary(self, sorted_values: list[str], value: str) -> float:
        """The primary key of a string no longer in the index: between its neighbours' ranks."""
        position = bisect.bisect_left(sorted_values, value)
        exact = position < len(sorted_values) and sorted_values[position] == value
        rank = float(position) if exact else position - 0.5
        return -rank if self.descending else rank


def _rank_after(sorted_values: list[str], value: str) -> int:
    """Accession rank threshold: documents with rank >= this sort after ``value``."""
    return bisect.bisect_right(sorted_values, value)
