"""The Whoosh schema, derived from the Record model, and the facet declarations.

Every searchable or filterable field is declared here once. Analyzers are explicit (the
Whoosh forks differ in their default tokenizer). Facet fields hold canonical keys
(CURIEs where an ontology exists); their human labels live in the generation's label map.
"""

from __future__ import annotations

from dataclasses import dataclass

from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemmingAnalyzer
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

TOKEN_PATTERN = r"\w+(?:[.'’]\w+)*"
RANGE_SHIFT_STEP = 16


def text_analyzer():
    """Stemmed English analyzer for prose (titles, descriptions)."""
    return StemmingAnalyzer(expression=TOKEN_PATTERN, minsize=1, stoplist=None)


def name_analyzer():
    """Unstemmed lower-cased tokens, for person names and identifiers."""
    return RegexTokenizer(expression=TOKEN_PATTERN) | LowercaseFilter()


@dataclass(frozen=True)
class FacetSpec:
    """A facet: its public name, the index field holding its keys, its display title."""

    name: str
    field: str
    title: str
    sort: str = "count"  # "count" (most first) or "key" (years, newest first)


FACETS: tuple[FacetSpec, ...] = (
    FacetSpec("source", "f_source", "Resource"),
    FacetSpec("organism", "f_organism", "Organism"),
    FacetSpec("imaging_method", "f_imaging_method", "Imaging method"),
    FacetSpec("study_type", "f_study_type", "Study type"),
    FacetSpec("license", "f_license", "Licence"),
    FacetSpec("release_year", "f_release_year", "Release year", sort="key"),
    FacetSpec("file_format", "f_file_format", "File format"),
)
FACETS_BY_NAME = {spec.name: spec for spec in FACETS}

# Free-text fields searched when a query term names no field, with their boosts.
DEFAULT_FIELDS: dict[str, float] = {
    "title": 4.0,
    "keywords": 2.0,
    "description": 1.0,
    "organism": 1.5,
    "imaging_method": 1.5,
    "author": 1.0,
    "identifiers": 3.0,
    "content": 0.5,
}


def build_schema() -> Schema:
    """The index schema: full-text fields, facet keyword fields, sortable columns."""
    text = text_analyzer()
    names = name_analyzer()
    facets = {spec.field: KEYWORD(commas=True, lowercase=False, scorable=False) for spec in FACETS}
    # Imaging method facet keys plus all their FBbi ancestors: selecting a broad method
    # matches its narrower ones.
    facets["f_imaging_method_tree"] = KEYWORD(commas=True, lowercase=False)
    facets["f_organism_tree"] = KEYWORD(commas=True, lowercase=False)
    return Schema(
        accession=ID(stored=True, unique=True, sortable=True),
        identifiers=KEYWORD(lowercase=True, commas=True, scorable=True),
        title=TEXT(analyzer=text, stored=True, phrase=True),
        description=TEXT(analyzer=text, stored=True, phrase=True),
        keywords=TEXT(analyzer=text, phrase=True),
        author=TEXT(analyzer=names, phrase=True),
        organism=TEXT(analyzer=text, phrase=True),
        imaging_method=TEXT(analyzer=text, phrase=True),
        publication=TEXT(analyzer=text, phrase=True),
        content=TEXT(analyzer=text, phrase=True),
        doi=KEYWORD(lowercase=True, commas=True),
        dataset_doi=ID(stored=True),
        title_sort=ID(sortable=True),
        # Ranges over these are answered from their columns (query/evaluate.py); the coarse
        # trie (4 terms per number instead of Whoosh's 16) is only for Whoosh's own range
        # queries, and writes a quarter of the terms.
        release_date=DATETIME(sortable=True),
        file_count=NUMERIC(numtype=int, bits=64, sortable=True, signed=False, shift_step=RANGE_SHIFT_STEP),
        total_size_bytes=NUMERIC(numtype=int, bits=64, sortable=True, signed=False, shift_step=RANGE_SHIFT_STEP),
        summary=STORED(),
        **facets,
    )
