"""The search service: a SearchRequest in, a plain-dict result out. Flask-free; Whoosh
objects never leave this package.

It follows the live index generation: each call checks the generation pointer (one stat)
and reopens when a build swapped in a new generation or an update committed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh.query import And, Every, NullQuery, Query

from harvesters.records import Record
from harvesters.store import RecordStore
from indexer.generations import Generation, NoIndexError, current, pointer_stamp
from indexer.schema import DEFAULT_FIELDS, FACETS, FACETS_BY_NAME
from indexer.storage import open_for_search
from query.errors import QuerySyntaxError
from query import cursor, fastsearch, links
from query.columns import GenerationColumns
from query.evaluate import Evaluator
from query.hits import query_terms, render_hit
from query.result_cache import ResultCache, request_key
from query.searchers import SearcherPool
from query.segment_arrays import SegmentCache
from query.facet_tree import build_tree
from query.filters import FacetResolver, build_filters
from harvesters.vocab.fbbi import fbbi
from query.params import ParamError, SearchRequest
from query.syntax import parse_query
from query import suggest as suggest_data
from query.suggest import did_you_mean, suggest_index, suggestions
from query.suggest_words import STORE_DIR as SUGGEST_STORE_DIR
from query.compile import compile_query, make_wildcard_expander

MAX_BUCKETS = 200
log = logging.getLogger(__name__)


class NotFoundError(LookupError):
    """No live dataset with that accession."""


@dataclass
class _Live:
    generation: Generation
    index: object
    resolver: FacetResolver
    stamp: tuple[str, float] | None
    columns: GenerationColumns
    evaluator: Evaluator
    # Borrow a searcher only around Whoosh reads, and never while holding another (see
    # query.searchers): two nested borrows could wait on each other.
    pool: SearcherPool
    suggest_place: dict  # the suggestion data's cache key and counts directory (SearchService._suggest_place)


class SearchService:
    """Searches the live generation under ``index_dir``; reads full records from the store."""

    def __init__(self, index_dir: Path | str, store_path: Path | str):
        self.index_dir = Path(index_dir)
        self.store_path = Path(store_path)
        self._lock = threading.Lock()
        self._live: _Live | None = None
        self._local = threading.local()
        self._results = ResultCache()
        self._warming: threading.Event | None = None
        self._warmed = threading.Event()
        self._segments = SegmentCache()  # per-segment arrays, reused when a generation reopens

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
        ix = open_for_search(generation.path)
        pool = SearcherPool(ix)
        columns = GenerationColumns(pool, self._segments)
        resolver = FacetResolver(generation.labels())
        self._results.clear()
        suggest_place = self._suggest_place(generation, stamp)
        self._warm(columns, ix, resolver.labels, suggest_place)
        # The old pool is left to the garbage collector: requests in flight may still use it.
        return _Live(generation, ix, resolver, stamp, columns, Evaluator(columns), pool, suggest_place)

    def _warm(self, columns: GenerationColumns, ix, labels, suggest_args: dict) -> None:
        """In the background, decode the new generation's most frequent postings and build its
        suggestion data (so no search waits for them); stop warming the old generation."""
        if self._warming is not None:
            self._warming.set()
        stop = self._warming = threading.Event()
        done = self._warmed = threading.Event()
        fields = [f for f in DEFAULT_FIELDS if f in columns.schema]
        threading.Thread(target=_warm_quietly, args=(columns, fields, ix, labels, suggest_args, stop, done),
                         daemon=True, name="warm-generation").start()

    def _store(self) -> RecordStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = RecordStore(self.store_path)
        return store

    def generation(self) -> Generation:
        """The live generation (NoIndexError if none)."""
        return self._current().generation

    def open_in_background(self) -> None:
        """Open the live generation (and so start its warm-up) now, in a thread, instead of
        at the first request; a server process calls this when it starts."""

        def open_quietly() -> None:
            try:
                self._current()
            except NoIndexError:
                pass  # nothing to serve yet: the first request after a build opens it
            except Exception:
                log.exception("opening the index ahead of the first request failed")

        threading.Thread(target=open_quietly, daemon=True, name="open-generation").start()

    def is_warm(self) -> bool:
        """Whether the live generation's background warm-up (postings of the most frequent
        terms of every searched field, the suggestion data) has finished; searches are
        slower until it has."""
        return self._warmed.is_set()

    # -- search ------------------------------------------------------------------------

    def search(self, req: SearchRequest) -> dict:
        """Run a search: hits of the requested page, exact total, multi-select facet counts.
        Results are cached per generation: a repeated question costs a dictionary lookup."""
        live = self._current()
        key = (live.stamp, request_key(req))
        cached = self._results.get(key)
        if cached is not None:
            return cached
        result, complete = self._search(live, req)
        if complete:
            self._results.put(key, result)
        return result

    def _search(self, live: _Live, req: SearchRequest) -> tuple[dict, bool]:
        """The result, and whether it is complete (a spelling suggestion it could have had
        was left out because the generation's first suggestion data was not ready)."""
        if req.query_node is not None:
            node, warnings = req.query_node, []
        else:
            parsed = parse_query(req.query, strict=req.strict)
            node, warnings = parsed.node, list(parsed.warnings)
        with live.pool.use() as searcher:
            user_query = compile_query(
                node,
                schema=live.columns.schema,
                resolvers=live.resolver.resolvers(),
                facet_keys=live.resolver.facet_keys(),
                expand_wildcard=make_wildcard_expander(searcher.reader()),
                strict=req.strict,
                warnings=warnings,
            )
        filters = build_filters(req, live.resolver, warnings)
        facet_names = req.facets if req.facets is not None else [f.name for f in FACETS]
        page = self._page(live, user_query, filters, req, facet_names)
        with live.pool.use() as searcher:
            correction = did_you_mean(searcher, req.query, page["total"], resolver=live.resolver,
                                      filters=filters.values(), **self._suggest_args(live))
        complete = correction is not suggest_data.PENDING
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
            "didYouMean": correction if complete else None,
            "warnings": warnings,
            # The generation these hits and counts came from (a swap may follow at any moment).
            "generation": live.generation.name,
        }, complete

    def suggest(self, prefix: str, limit: int) -> list[dict]:
        """Search-box completions of ``prefix`` (see :mod:`query.suggest`); the suggestion
        data is built once per live generation and cached."""
        live = self._current()
        with live.pool.use() as searcher:
            return suggestions(searcher, live.resolver.labels, prefix, limit, **self._suggest_args(live))

    def _suggest_args(self, live: _Live) -> dict:
        """How a request reads the suggestion data of ``live``: where it is cached (see
        :meth:`_suggest_place`), and how long it may wait for the generation's first one."""
        return {**live.suggest_place, "wait": suggest_data.FIRST_BUILD_WAIT_S}

    def _suggest_place(self, generation: Generation, stamp) -> dict:
        """The suggestion data's cache key (this index directory and the pointer stamp) and the
        directory the generation's per-segment word counts are kept in."""
        return {"key": (str(self.index_dir), stamp), "store_dir": generation.path / SUGGEST_STORE_DIR}

    def _page(self, live: _Live, user_query: Query, filters: dict[str, Query], req: SearchRequest, facet_names) -> dict:
        matched, masks = fastsearch.match(live.evaluator, user_query, filters)
        sort_by, sort_order = _sort_choice(req, user_query)
        order = fastsearch.Order(live.columns, sort_by, sort_order == "descending", matched.scores)
        docs = np.flatnonzero(matched.mask)
        total = len(docs)
        if req.cursor:
            docs, start = order.after(docs, cursor.decode(req, sort_by, sort_order)), 0
        else:
            start = (req.page - 1) * req.page_size
        window = order.top(docs, start + req.page_size)[start:]
        scores = matched.scores
        with live.pool.use() as searcher:
            terms = query_terms(user_query, searcher.reader())
            stored = [searcher.stored_fields(int(doc)) for doc in window]
        hits = [
            render_hit(fields, terms, live.columns.schema,
                       float(scores[doc]) if scores is not None and sort_by == "relevance" else None, req.fields)
            for doc, fields in zip(window, stored)
        ]
        more = len(window) > 0 and start + len(window) < len(docs)
        next_cursor = cursor.encode(req, sort_by, sort_order, order.key_of(int(window[-1]))) if more else None
        groups = {name: fastsearch.facet_counts(live.columns, masks, name) for name in facet_names}
        if req.facet_tree and "imaging_method" in facet_names:
            groups["__tree__"] = fastsearch.facet_counts(live.columns, masks, "imaging_method", tree=True)
        return {"total": total, "hits": hits, "groups": groups, "sort_by": sort_by, "sort_order": sort_order, "next": next_cursor}

    def _facets(self, live: _Live, user_query: Query, filters: dict[str, Query], req: SearchRequest, names, groups) -> list[dict]:
        out = []
        for name in names:
            selected = req.filters[name].selected() if name in req.filters else []
            buckets = self._buckets(live, name, groups.get(name, {}), selected)
            if name == "imaging_method" and req.facet_tree:
                keys = {live.resolver.key(name, v) or v for v in selected}
                buckets["tree"] = build_tree(groups.get("__tree__", {}), keys, lambda k: _method_label(live, k))
            out.append(buckets)
        return out

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
        counts = {spec.name: live.columns.facets[spec.name].count(live.columns.live) for spec in FACETS}
        return {
            "totalDatasets": live.columns.live_count,
            "facets": [self._buckets(live, spec.name, counts[spec.name], []) for spec in FACETS],
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
        with live.pool.use() as searcher:
            hit = searcher.document(accession=accession.upper()) or searcher.document(accession=accession.lower())
        return self._store().get(hit["accession"]) if hit else None

    def links(self, accession: str) -> dict:
        """Outbound links (resolved where we hold the target) and inbound links of a dataset."""
        record = self.dataset(accession)
        with self._current().pool.use() as searcher:
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


def _warm_quietly(columns: GenerationColumns, fields: list[str], ix, labels, suggest_args: dict,
                  stop: threading.Event, done: threading.Event) -> None:
    try:
        with ix.searcher() as searcher:  # its own: held for the whole build
            suggest_index(searcher, labels, **suggest_args)  # first: completions wait for it
        if not stop.is_set():
            columns.warm(fields, stop=stop)
    except Exception:  # warming is an optimisation: a failure must never reach a request
        log.exception("warming the generation failed")
    finally:
        done.set()


def _sort_choice(req: SearchRequest, user_query: Query) -> tuple[str, str]:
    """The sort field and order: newest first without a query, best match with one."""
    sort_by = req.sort_by or ("release_date" if isinstance(user_query, Every) else "relevance")
    if sort_by == "relevance":
        return sort_by, "descending"
    default_order = "ascending" if sort_by in ("title", "accession") else "descending"
    return sort_by, req.sort_order or default_order


def _method_label(live: _Live, key: str) -> str:
    if key in live.resolver.labels.get("imaging_method", {}):
        return live.resolver.label("imaging_method", key)
    return fbbi().label(key) or key


__all__ = ["SearchService", "NotFoundError", "NoIndexError", "ParamError", "QuerySyntaxError"]
