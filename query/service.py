"""The search service: a SearchRequest in, a plain-dict result out. Flask-free; Whoosh
objects never leave this package.

It follows the live index generation: each call checks the generation pointer (one stat)
and reopens when a build swapped in a new generation or an update committed.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson
from whoosh import highlight, index as whoosh_index, sorting
from whoosh.query import And, Every, NullQuery, Query, Term

from harvesters.records import Record
from harvesters.store import RecordStore
from indexer.generations import Generation, NoIndexError, current, pointer_stamp
from indexer.schema import FACETS, FACETS_BY_NAME
from query.errors import QuerySyntaxError
from query import cursor, links
from query.facet_tree import build_tree
from query.filters import FacetResolver, build_filters
from harvesters.vocab.fbbi import fbbi
from query.params import ParamError, SearchRequest
from query.syntax import parse_query
from query.suggest import did_you_mean, suggestions
from query.compile import compile_query, make_wildcard_expander

MAX_BUCKETS = 200
SNIPPET_CHARS = 240


class NotFoundError(LookupError):
    """No live dataset with that accession."""


@dataclass
class _Live:
    generation: Generation
    index: object
    searcher: object
    resolver: FacetResolver
    stamp: tuple[str, float] | None


class SearchService:
    """Searches the live generation under ``index_dir``; reads full records from the store."""

    def __init__(self, index_dir: Path | str, store_path: Path | str):
        self.index_dir = Path(index_dir)
        self.store_path = Path(store_path)
        self._lock = threading.Lock()
        self._live: _Live | None = None
        self._local = threading.local()

    # -- lifecycle ---------------------------------------------------------------------

    def _current(self) -> _Live:
        stamp = pointer_stamp(self.index_dir)
        live = self._live
        if live is not None and live.stamp == stamp:
            return live
        with self._lock:
            if self._live is None or self._live.stamp != stamp:
                self._live = self._open(stamp)
            return self._live

    def _open(self, stamp) -> _Live:
        generation = current(self.index_dir)
        ix = whoosh_index.open_dir(generation.path)
        # The old searcher is left to the garbage collector: requests in flight may still use it.
        return _Live(generation, ix, ix.searcher(), FacetResolver(generation.labels()), stamp)

    def _store(self) -> RecordStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = RecordStore(self.store_path)
        return store

    def generation(self) -> Generation:
        """The live generation (NoIndexError if none)."""
        return self._current().generation

    # -- search ------------------------------------------------------------------------

    def search(self, req: SearchRequest) -> dict:
        """Run a search: hits of the requested page, exact total, multi-select facet counts."""
        live = self._current()
        if req.query_node is not None:
            node, warnings = req.query_node, []
        else:
            parsed = parse_query(req.query, strict=req.strict)
            node, warnings = parsed.node, list(parsed.warnings)
        user_query = compile_query(
            node,
            schema=live.index.schema,
            resolvers=live.resolver.resolvers(),
            facet_keys=live.resolver.facet_keys(),
            expand_wildcard=make_wildcard_expander(live.searcher.reader()),
            strict=req.strict,
            warnings=warnings,
        )
        filters = build_filters(req, live.resolver, warnings)
        facet_names = req.facets if req.facets is not None else [f.name for f in FACETS]
        page = self._page(live, user_query, filters, req, facet_names)
        return {
            "query": req.query,
            "totalHits": page["total"],
            "isTotalHitsExact": True,
            "page": req.page,
            "pageSize": req.page_size,
            "sortBy": page["sort_by"],
            "sortOrder": page["sort_order"],
            "hits": page["hits"],
            "next": page["next"],
            "facets": self._facets(live, user_query, filters, req, facet_names, page["groups"]),
            "didYouMean": did_you_mean(live.searcher, req.query, page["total"], resolver=live.resolver,
                                       filters=filters.values(), key=(str(self.index_dir), live.stamp)),
            "warnings": warnings,
            # The generation these hits and counts came from (a swap may follow at any moment).
            "generation": live.generation.name,
        }

    def suggest(self, prefix: str, limit: int) -> list[dict]:
        """Search-box completions of ``prefix`` (see :mod:`query.suggest`); the suggestion
        data is built once per live generation and cached."""
        live = self._current()
        return suggestions(live.searcher, live.resolver.labels, prefix, limit, key=(str(self.index_dir), live.stamp))

    def _page(self, live: _Live, user_query: Query, filters: dict[str, Query], req: SearchRequest, facet_names) -> dict:
        query = _and([user_query, *filters.values()])
        sort_by, sort_order, sortedby, reverse = _sorting(req, user_query)
        groupedby = {
            name: sorting.FieldFacet(FACETS_BY_NAME[name].field, allow_overlap=True, maptype=sorting.Count)
            for name in facet_names
            if name not in filters
        }
        start = (req.page - 1) * req.page_size
        after = cursor.decode(req, sort_by, sort_order) if req.cursor else None
        results = live.searcher.search(
            query, limit=None if after is not None else start + req.page_size, sortedby=sortedby, reverse=reverse,
            groupedby=groupedby or None, terms=True,
        )
        if after is not None:
            start = cursor.position_after(results.top_n, after)
        end = min(start + req.page_size, results.scored_length())
        hits = [self._hit(results[i], results, req.fields) for i in range(start, end)]
        more = end < len(results) and end > start
        next_cursor = cursor.encode(req, sort_by, sort_order, results.top_n[end - 1][0]) if more else None
        groups = {name: results.groups(name) for name in groupedby}
        return {"total": len(results), "hits": hits, "groups": groups, "sort_by": sort_by, "sort_order": sort_order, "next": next_cursor}

    def _hit(self, hit, results, fields: list[str] | None = None) -> dict:
        summary = orjson.loads(hit["summary"])
        results.formatter = highlight.HtmlFormatter(tagname="mark", classname="match", termclass="t")
        results.fragmenter = highlight.WholeFragmenter()
        title = hit.highlights("title") or html.escape(hit["title"])
        results.fragmenter = highlight.ContextFragmenter(maxchars=SNIPPET_CHARS, surround=60)
        snippet = hit.highlights("description", top=2) or _plain_snippet(hit.get("description", ""))
        score = hit.score[0] if isinstance(hit.score, tuple) else hit.score
        summary.update(title_html=title, snippet=snippet, score=round(-score, 4) if isinstance(score, float) else None)
        return {k: summary.get(k) for k in fields} if fields else summary

    def _facets(self, live: _Live, user_query: Query, filters: dict[str, Query], req: SearchRequest, names, groups) -> list[dict]:
        out = []
        for name in names:
            if name in filters:
                # Multi-select: a facet's counts ignore its own selection.
                others = [q for facet, q in filters.items() if facet != name]
                counts = self._count(live, _and([user_query, *others]), name)
            else:
                counts = groups.get(name, {})
            selected = req.filters[name].selected() if name in req.filters else []
            buckets = self._buckets(live, name, counts, selected)
            if name == "imaging_method" and req.facet_tree:
                others = [q for facet, q in filters.items() if facet != name]
                tree_counts = self._count(live, _and([user_query, *others]), name, field="f_imaging_method_tree")
                keys = {live.resolver.key(name, v) or v for v in selected}
                buckets["tree"] = build_tree({_text(k): c for k, c in tree_counts.items() if k}, keys, lambda k: live.resolver.label(name, k) if k in live.resolver.labels.get(name, {}) else (fbbi().label(k) or k))
            out.append(buckets)
        return out

    def _count(self, live: _Live, query: Query, name: str, field: str | None = None) -> dict:
        facet = sorting.FieldFacet(field or FACETS_BY_NAME[name].field, allow_overlap=True, maptype=sorting.Count)
        results = live.searcher.search(query, groupedby={name: facet}, limit=1)
        return results.groups(name)

    def _buckets(self, live: _Live, name: str, counts: dict, selected: list[str]) -> dict:
        spec = FACETS_BY_NAME[name]
        selected_keys = {live.resolver.key(name, value) or value for value in selected}
        # Whoosh groups documents without the field under None: not a value to offer.
        keys = {_text(k): c for k, c in counts.items() if k is not None and _text(k)}
        for key in selected_keys:
            keys.setdefault(key, 0)
        order = (lambda kv: kv[0]) if spec.sort == "key" else (lambda kv: (-kv[1], live.resolver.label(name, kv[0]).lower()))
        items = sorted(keys.items(), key=order, reverse=spec.sort == "key")[:MAX_BUCKETS]
        return {
            "name": name,
            "title": spec.title,
            "buckets": [
                {"key": k, "label": live.resolver.label(name, k), "count": c, "selected": k in selected_keys}
                for k, c in items
            ],
        }

    def facets(self) -> dict:
        """Counts of every facet value over the whole index."""
        live = self._current()
        groupedby = {
            spec.name: sorting.FieldFacet(spec.field, allow_overlap=True, maptype=sorting.Count) for spec in FACETS
        }
        results = live.searcher.search(Every(), groupedby=groupedby, limit=1)
        return {
            "totalDatasets": live.searcher.doc_count(),
            "facets": [self._buckets(live, spec.name, results.groups(spec.name), []) for spec in FACETS],
        }

    # -- records -----------------------------------------------------------------------

    def dataset(self, accession: str) -> Record:
        """The full normalised record; NotFoundError if unknown or deleted."""
        record = self._store().get(accession)
        if record is None:
            record = self._by_other_case(accession)
        if record is None:
            raise NotFoundError(accession)
        return record

    def _by_other_case(self, accession: str) -> Record | None:
        live = self._current()
        hit = live.searcher.document(accession=accession.upper()) or live.searcher.document(accession=accession.lower())
        return self._store().get(hit["accession"]) if hit else None

    def links(self, accession: str) -> dict:
        """Outbound links (resolved where we hold the target) and inbound links of a dataset."""
        record = self.dataset(accession)
        searcher = self._current().searcher
        return {"accession": record.accession, "outbound": links.outbound(searcher, record), "inbound": links.inbound(searcher, record)}

    def search_files(self, accession: str, args) -> dict:
        """File-level search inside one dataset (query/files.py): ``args`` maps URL parameter
        names to lists of values. NotFoundError if no live dataset has that accession,
        ParamError for a bad parameter."""
        from query.files import parse_file_params, search_files

        record = self.dataset(accession)
        return search_files(self._store(), record.accession, parse_file_params(args))

def _text(key) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)


def _and(queries: list[Query]) -> Query:
    queries = [q for q in queries if q is not None]
    if not queries:
        return Every()
    if any(q is NullQuery for q in queries):
        return NullQuery
    return queries[0] if len(queries) == 1 else And(queries)


def _sorting(req: SearchRequest, user_query: Query):
    is_match_all = isinstance(user_query, Every)
    sort_by = req.sort_by or ("release_date" if is_match_all else "relevance")
    default_order = "ascending" if sort_by in ("title", "accession") else "descending"
    sort_order = req.sort_order or default_order
    reverse = sort_order == "descending"
    if sort_by == "relevance":
        # Score first (ScoreFacet sorts best first), then accession: a stable total order.
        return sort_by, "descending", sorting.MultiFacet([sorting.ScoreFacet(), sorting.FieldFacet("accession")]), False
    field = {"release_date": "release_date", "title": "title_sort", "accession": "accession", "file_count": "file_count", "size": "total_size_bytes"}[sort_by]
    facet = sorting.MultiFacet([sorting.FieldFacet(field, reverse=reverse), sorting.FieldFacet("accession")])
    return sort_by, sort_order, facet, False


def _plain_snippet(text: str) -> str:
    text = " ".join((text or "").split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
    return html.escape(text)


__all__ = ["SearchService", "NotFoundError", "NoIndexError", "ParamError", "QuerySyntaxError"]
