"""Facet values and filters: case-insensitive resolution of what people type (a key, a
label, a common name, a synonym) to the canonical facet keys, and the Whoosh filter
queries of a request.
"""

from __future__ import annotations

import math
from datetime import MAXYEAR, MINYEAR, datetime

from whoosh.query import And, DateRange, Every, Not, NullQuery, NumericRange, Or, Query, Term

from harvesters.vocab.fbbi import fbbi
from harvesters.vocab.taxonomy import lookup_taxon
from indexer.documents import facet_key
from indexer.schema import FACETS_BY_NAME
from query.params import FacetFilter, SearchRequest

# Facets filtered through their ontology tree field: a broad term selects narrower ones.
TREE_FIELDS = {"imaging_method": "f_imaging_method_tree", "organism": "f_organism_tree"}
HAS_QUERIES = {
    "doi": lambda: Every("doi"),
    "publication": lambda: Every("publication"),
    "organism": lambda: Every("f_organism"),
    "imaging_method": lambda: Every("f_imaging_method"),
    "license": lambda: Every("f_license"),
    "files": lambda: NumericRange("file_count", 1, None),
}


class FacetResolver:
    """Maps typed facet values to keys and keys to labels, from a generation's label map."""

    def __init__(self, labels: dict[str, dict[str, str]]):
        self.labels = labels
        self._lookup: dict[str, dict[str, str]] = {}
        for facet, values in labels.items():
            table = self._lookup.setdefault(facet, {})
            for key, label in values.items():
                table.setdefault(label.lower(), key)
            for key in values:
                table[key.lower()] = key

    def label(self, facet: str, key: str) -> str:
        """The display label of a key (the key itself when unknown)."""
        return self.labels.get(facet, {}).get(key, key)

    def key(self, facet: str, value: str) -> str | None:
        """The canonical key for a typed value, or None if no dataset has it."""
        value = value.strip()
        table = self._lookup.get(facet, {})
        found = table.get(value.lower()) or table.get(facet_key(value))
        if found:
            return found
        curie = self._ontology_id(facet, value)
        return curie if curie and (curie.lower() in table or facet in TREE_FIELDS) else None

    def _ontology_id(self, facet: str, value: str) -> str | None:
        if facet == "organism":
            found = lookup_taxon(value)
            return found.taxon_id if found else None
        if facet == "imaging_method":
            term = fbbi().lookup(value)
            return term.id if term else None
        return None

    def resolvers(self) -> dict:
        """Value → CURIEs callables for the query compiler's vocabulary fields."""
        return {
            "organism": lambda text: [k for k in [self.key("organism", text)] if k],
            "imaging_method": lambda text: [k for k in [self.key("imaging_method", text)] if k],
        }

    def facet_keys(self) -> dict[str, dict[str, str]]:
        """Facet → {lower-cased key or label: key}, for fielded keyword queries."""
        return self._lookup


def build_filters(req: SearchRequest, resolver: FacetResolver, warnings: list[str]) -> dict[str, Query]:
    """One Whoosh filter query per filtered facet (plus ranges and has-filters)."""
    filters: dict[str, Query] = {}
    for facet, selection in req.filters.items():
        filters[facet] = _facet_query(facet, selection, resolver, warnings)
    for field, ops in req.ranges.items():
        filters[f"range:{field}"] = _range_query(field, ops)
    for name, wanted in req.has.items():
        query = HAS_QUERIES[name]()
        filters[f"has:{name}"] = query if wanted else Not(query)
    return filters


def _facet_query(facet: str, selection: FacetFilter, resolver: FacetResolver, warnings: list[str]) -> Query:
    field = TREE_FIELDS.get(facet, FACETS_BY_NAME[facet].field)

    def terms(values: list[str]) -> list[Query]:
        out = []
        for value in values:
            key = resolver.key(facet, value)
            if key is None:
                warnings.append(f"no dataset has {facet} {value!r}")
                continue
            out.append(Term(field, key))
        return out

    parts: list[Query] = []
    if selection.any_of:
        any_terms = terms(selection.any_of)
        parts.append(Or(any_terms) if any_terms else NullQuery)
    if selection.all_of:
        all_terms = terms(selection.all_of)
        parts.append(And(all_terms) if len(all_terms) == len(selection.all_of) else NullQuery)
    excluded = terms(selection.none_of)
    if excluded:
        parts.append(Not(Or(excluded)))
    if not parts:
        return Every()
    return parts[0] if len(parts) == 1 else And(parts)


def _range_query(field: str, ops: dict[str, float]) -> Query:
    if field == "release_year":
        return _year_range(ops)
    low = ops.get("gte", ops.get("gt"))
    high = ops.get("lte", ops.get("lt"))
    return NumericRange(
        field,
        int(low) if low is not None else None,
        int(high) if high is not None else None,
        startexcl="gt" in ops and "gte" not in ops,
        endexcl="lt" in ops and "lte" not in ops,
    )


def _year_range(ops: dict[str, float]) -> Query:
    low = math.ceil(ops["gte"]) if "gte" in ops else math.floor(ops["gt"]) + 1 if "gt" in ops else None
    high = math.floor(ops["lte"]) if "lte" in ops else math.ceil(ops["lt"]) - 1 if "lt" in ops else None
    if (low is not None and low > MAXYEAR) or (high is not None and high < MINYEAR):
        return NullQuery  # release_year.gt=9999 or .lt=1: no year a date can hold
    start = datetime(max(low, MINYEAR), 1, 1) if low is not None else None
    end = datetime(min(high, MAXYEAR), 12, 31, 23, 59, 59) if high is not None else None
    return DateRange("release_date", start, end)
