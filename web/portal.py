"""The portal: server-rendered pages for people over the same SearchService as the API.

``/`` and ``/search`` (one GET form, the whole state in the URL, one ``search`` call per
page view), ``/datasets/<accession>`` (every normalised field, cross-resource links,
downloads, a searchable file table, schema.org JSON-LD) and ``/status`` (harvest runs,
errors, the live generation). Pages work without JavaScript; ``static/portal.js`` adds
autocomplete and auto-submitting filters. Errors raised here render as HTML pages.
"""

from __future__ import annotations

import logging
import math
from urllib.parse import urlencode

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup

from harvesters.store import RecordStore
from indexer.generations import NoIndexError
from indexer.schema import FACETS
from query.errors import QuerySyntaxError
from query.params import DEFAULT_PAGE_SIZE, MAX_WINDOW, ParamError, parse_search_params
from query.service import NotFoundError, SearchService
from web import portal_dataset, portal_files

log = logging.getLogger(__name__)

portal = Blueprint(
    "portal", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)

SOURCES = {
    "bia": ("BIA", "BioImage Archive"),
    "empiar": ("EMPIAR", "Electron Microscopy Public Image Archive"),
    "idr": ("IDR", "Image Data Resource"),
    "jcb": ("JCB", "JCB DataViewer"),
}
SORT_FIELDS = [("", "Best match"), ("release_date", "Release date"), ("title", "Title"),
               ("accession", "Accession"), ("file_count", "Number of files"), ("size", "Total size")]
SORT_ORDERS = [("", "Default"), ("descending", "Descending"), ("ascending", "Ascending")]
PAGE_SIZES = (10, 20, 50, 100)
EXAMPLES = ["zebrafish", "light sheet", 'title:"cell cycle"', "organism:mouse AND confocal", "segmentation -synthetic"]
# Parameters the search form's own controls carry; everything else rides in hidden inputs.
FORM_PARAMS = {"query", "q", "sortBy", "sortOrder", "pageSize", "page", "cursor", "pagination.page", "pagination.page_size"}
API_ONLY = {"fields", "facets", "facetTree"}
FACET_TITLES = {spec.name: spec.title for spec in FACETS}
TOP_BUCKETS = 8


def service() -> SearchService:
    """The app's search service."""
    return current_app.extensions["search_service"]


# -- URL state -------------------------------------------------------------------------


class UrlState:
    """The request's query arguments, and links to the same search with changes.

    Every link drops ``page`` and ``cursor`` unless it sets them: changing a filter or the
    sort starts again at the first page.
    """

    def __init__(self, pairs, endpoint: str = "portal.search", **values):
        self.pairs = [(k, v.strip() if k != "query" else v) for k, v in pairs if v.strip()]
        self.endpoint, self.values = endpoint, values

    def get(self, name: str, default: str = "") -> str:
        found = [v for k, v in self.pairs if k == name]
        return found[-1] if found else default

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def args(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.pairs:
            out.setdefault(k, []).append(v)
        return out

    def url(self, changes: dict | None = None, remove=(), drop=(), keep_page: bool = False) -> str:
        """This state with the names in ``changes`` set to new values, and the ``remove``
        (name, value) pairs and the ``drop`` names gone."""
        changes = changes or {}
        skip = changes.keys() | set(drop) | (set() if keep_page else {"page", "cursor", "pagination.page"})
        pairs = [(k, v) for k, v in self.pairs if k not in skip and (k, v) not in remove]
        for name, value in changes.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if item not in (None, ""):
                    pairs.append((name, str(item)))
        base = url_for(self.endpoint, **self.values)
        return f"{base}?{urlencode(pairs)}" if pairs else base

    def hidden(self, handled) -> list[tuple[str, str]]:
        """Arguments no visible control of the form carries (kept as hidden inputs)."""
        return [(k, v) for k, v in self.pairs if k not in FORM_PARAMS and not handled(k)]


def _is_facet_or(name: str) -> bool:
    head, _, rest = name.partition(".")
    facet, _, mode = rest.partition(".")
    return head == "facet" and facet in FACET_TITLES and mode in ("", "or")


# -- search ----------------------------------------------------------------------------


@portal.get("/")
@portal.get("/search")
def search():
    """The search page: one GET form, results, facets, histogram, paging."""
    # The page shows whole hits and every facet: the API's projections do not apply.
    state = UrlState((k, v) for k, v in request.args.items(multi=True) if k not in API_ONLY)
    if _has_empty_args():
        return redirect(state.url(keep_page=True))
    context = {"state": state, "query": state.get("query") or state.get("q"), "hidden": state.hidden(_is_facet_or)}
    try:
        req = parse_search_params(state.args(), strict=False)
        req.facet_tree = True
        result = service().search(req)
    except (ParamError, QuerySyntaxError) as exc:
        context["error"] = _error_info(exc, context["query"])
        return render_template("search.html", **context), 400
    context.update(result=result, req=req, **_result_view(state, req, result))
    return render_template("search.html", **context)


def _has_empty_args() -> bool:
    """A form sent without JavaScript carries its empty fields (``sortBy=``): the page
    redirects to the same state without them, an address the API also accepts."""
    return any(not value.strip() for _, value in request.args.items(multi=True))


def _error_info(exc, query: str) -> dict:
    info = {"message": exc.message, "param": getattr(exc, "param", None), "position": getattr(exc, "position", None)}
    if info["position"] is not None and query and info["param"] in (None, "query"):
        pos = min(info["position"], len(query))
        info["before"], info["after"] = query[:pos], query[pos:]
    return info


def _result_view(state: UrlState, req, result: dict) -> dict:
    facets = {f["name"]: f for f in result["facets"]}
    for facet in facets.values():
        _mark_checked(state, facet)
    total = result["totalHits"]
    return {
        "facets": facets,
        "histogram": _histogram(state, facets.get("release_year")),
        "chips": _chips(state, facets),
        "clear_filters": state.url(drop=[k for k, _ in state.pairs if _is_filter(k)]),
        "paging": _paging(state, req, result),
        "first": (req.page - 1) * req.page_size + 1 if not req.cursor else None,
        "browsing": not (state.get("query") or state.get("q")) and not _has_filters(state),
        "did_you_mean": _did_you_mean(state, result.get("didYouMean")),
        "sort_fields": SORT_FIELDS, "sort_orders": SORT_ORDERS,
        "page_sizes": sorted(set(PAGE_SIZES) | {req.page_size}),
        "examples": [(text, url_for("portal.search", query=text)) for text in EXAMPLES],
        "total": total,
    }


def _mark_checked(state: UrlState, facet: dict) -> None:
    """A bucket's checkbox is ticked when it is selected by ``facet.<name>`` (not ``.eq``)."""
    eq = {v.lower() for v in state.getlist(f"facet.{facet['name']}.eq")}
    for bucket in facet["buckets"]:
        bucket["checked"] = bucket["selected"] and not ({bucket["key"].lower(), bucket["label"].lower()} & eq)
    if facet.get("tree"):
        facet["tree"] = _compress(facet["tree"])
    keys = set()
    _walk_tree(facet.get("tree") or [], keys)
    facet["orphans"] = [b for b in facet["buckets"] if b["checked"] and b["key"] not in keys] if facet.get("tree") else []
    facet["visible"] = [b for i, b in enumerate(facet["buckets"]) if i < TOP_BUCKETS or b["checked"]]
    facet["more"] = [b for i, b in enumerate(facet["buckets"]) if i >= TOP_BUCKETS and not b["checked"]]


def _compress(nodes: list[dict]) -> list[dict]:
    """Skip broad terms that only lead to one narrower term counting the same datasets
    (``imaging method › recorded image › microscopy`` shows as ``microscopy``)."""
    out = []
    for node in nodes:
        while len(node["children"]) == 1 and node["children"][0]["count"] == node["count"] and not node["selected"]:
            node = node["children"][0]
        out.append(dict(node, children=_compress(node["children"])))
    return out


def _walk_tree(nodes: list[dict], keys: set) -> bool:
    """Collect the tree's keys; mark nodes with a selected descendant ``open``."""
    any_selected = False
    for node in nodes:
        keys.add(node["key"])
        below = _walk_tree(node["children"], keys)
        node["open"] = below
        any_selected |= below or node["selected"]
    return any_selected


def _is_filter(name: str) -> bool:
    return name.startswith(("facet.", "has.")) or name.rsplit(".", 1)[-1] in ("gt", "gte", "lt", "lte")


def _has_filters(state: UrlState) -> bool:
    return any(_is_filter(k) for k, _ in state.pairs)


def _chips(state: UrlState, facets: dict) -> list[dict]:
    """Active filters, each with a link removing it."""
    chips = []
    for name, value in state.pairs:
        head, _, rest = name.partition(".")
        if head == "facet":
            facet, _, mode = rest.partition(".")
            label = _bucket_label(facets.get(facet), value)
            title = FACET_TITLES.get(facet, facet)
            text = f"{title}: {'not ' if mode == 'not' else ''}{label}"
        elif head == "has":
            text = f"has {rest}: {value}"
        elif rest in ("gt", "gte", "lt", "lte"):
            text = f"{head} {dict(gt='>', gte='≥', lt='<', lte='≤')[rest]} {value}"
        else:
            continue
        chips.append({"text": text, "url": state.url(remove=[(name, value)])})
    return chips


def _bucket_label(facet: dict | None, value: str) -> str:
    for bucket in (facet or {}).get("buckets", []):
        if value.lower() in (bucket["key"].lower(), bucket["label"].lower()):
            return bucket["label"]
    return value


def _paging(state: UrlState, req, result: dict) -> dict:
    total, size = result["totalHits"], req.page_size
    last = max(1, math.ceil(min(total, MAX_WINDOW) / size))
    paging = {"current": None if req.cursor else req.page, "last": last, "pages": [], "prev": None, "next": None, "first": None}
    if req.cursor:
        paging["first"] = state.url()
    else:
        window = sorted({1, last, *range(max(1, req.page - 2), min(last, req.page + 2) + 1)})
        paging["pages"] = [(n, state.url(changes={"page": n} if n > 1 else {})) for n in window]
        if req.page > 1:
            paging["prev"] = state.url(changes={"page": req.page - 1} if req.page > 2 else {})
    if result.get("next"):
        if not req.cursor and (req.page + 1) * size <= MAX_WINDOW:
            paging["next"] = state.url(changes={"page": req.page + 1})
        else:
            paging["next"] = state.url(changes={"cursor": result["next"]})
    paging["past_end"] = not result["hits"] and total > 0
    return paging


def _did_you_mean(state: UrlState, suggestion: dict | None) -> dict | None:
    if not suggestion or not suggestion.get("query"):
        return None
    return {"query": suggestion["query"], "total": suggestion.get("totalHits"),
            "url": state.url(changes={"query": suggestion["query"]}, drop=("q",))}


def _histogram(state: UrlState, facet: dict | None) -> dict | None:
    """Bars of the release-year facet, oldest first, gaps filled; each bar a link."""
    if not facet:
        return None
    counts = {int(b["key"]): b for b in facet["buckets"] if b["key"].isdigit()}
    if not counts:
        return None
    first, last = min(counts), max(counts)
    if last - first > 40:
        first = last - 40
    years = list(range(first, last + 1))
    peak = max(b["count"] for b in counts.values()) or 1
    width, height, gap = 300, 80, 2
    bar = (width - gap * (len(years) - 1)) / len(years)
    selected = state.getlist("facet.release_year")
    bars = []
    for i, year in enumerate(years):
        bucket = counts.get(year, {"key": str(year), "count": 0, "selected": False})
        h = 0 if not bucket["count"] else max(3, round(height * bucket["count"] / peak, 1))
        only_this = selected == [str(year)]
        url = state.url(drop=("facet.release_year",)) if only_this else state.url(changes={"facet.release_year": year})
        bars.append({"year": year, "count": bucket["count"], "selected": bucket["selected"], "url": url,
                     "x": round(i * (bar + gap), 2), "y": round(height - h, 1), "w": round(bar, 2), "h": h})
    return {"bars": bars, "width": width, "height": height, "first": years[0], "last": years[-1],
            "selected": [b for b in facet["buckets"] if b.get("checked")]}


# -- dataset ---------------------------------------------------------------------------


@portal.get("/datasets/<accession>")
def dataset(accession: str):
    """Everything we know about one dataset, its links, downloads and files."""
    record = service().dataset(accession)
    state = UrlState(request.args.items(multi=True), "portal.dataset", accession=record.accession)
    if _has_empty_args() or record.accession != accession:
        return redirect(state.url(keep_page=True))
    context = portal_dataset.view(service(), record)
    try:
        files = portal_files.search(service(), record, state.args())
    except ParamError as exc:
        files = portal_files.empty(record)
        context["file_error"] = exc.message
    context.update(files=portal_files.view(files, state), state=state)
    return render_template("dataset.html", **context)


# -- status ----------------------------------------------------------------------------


@portal.get("/status")
def status():
    """The operator view: the live generation, counts, the last runs and their errors, builds
    and the schedule (the report of /api/v1/status when the app has its operations side)."""
    ops = current_app.extensions.get("ops")
    report = ops.status() if ops is not None else _status_from_store(service())
    runs = sorted((dict(run, resource=source["record_source"]) for source in report["sources"] for run in source["runs"]),
                  key=lambda run: run["id"], reverse=True)
    return render_template("status.html", report=report, runs=runs)


def _status_from_store(svc: SearchService) -> dict:
    """The same report's shape from the record store and the live generation alone."""
    with RecordStore(svc.store_path) as store:
        live = store.count_by_source()
        names = list(dict.fromkeys([*SOURCES, *live, *(run["source"] for run in store.runs(limit=200))]))
        sources = []
        for name in names:
            runs = store.runs(name, limit=5)
            for run in runs:
                run["errors"] = store.errors(run["id"], limit=10)
            sources.append({"name": name, "record_source": name, "runs": runs, "schedule": None})
        seq = store.current_seq()
    try:
        generation = svc.generation()
        meta = generation.meta
        current = {"name": generation.name, "created": meta.get("created"), "updated": meta.get("updated"),
                   "documents": meta.get("doc_count"), "per_source": meta.get("per_source", {}),
                   "last_seq": meta.get("last_seq"), "changes_not_indexed": max(0, seq - int(meta.get("last_seq", 0)))}
    except NoIndexError:
        current = None
    return {"generation": current, "store": {"live_records": live, "seq": seq}, "sources": sources, "builds": [], "scheduler": None}


# -- errors and template helpers ---------------------------------------------------------


@portal.errorhandler(NotFoundError)
def not_found(exc):
    return render_template("not_found.html", accession=exc.args[0] if exc.args else ""), 404


@portal.errorhandler(NoIndexError)
def no_index(exc):
    return render_template("error.html", status=503, title="The search index is being built",
                           message="No index has been built yet. Try again in a few minutes."), 503


@portal.errorhandler(Exception)
def unexpected(exc):
    code = getattr(exc, "code", None)
    if isinstance(code, int) and 400 <= code < 500:
        return render_template("error.html", status=code, title=getattr(exc, "name", "Error"),
                               message=getattr(exc, "description", "")), code
    log.exception("portal error")
    return render_template("error.html", status=500, title="Something went wrong",
                           message="The problem has been logged. Please try again."), 500


@portal.app_template_filter("filesize")
def filesize(num) -> str:
    """Bytes as a human-readable size (decimal units, as archives show them)."""
    if num is None:
        return "–"
    num = float(num)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(num) < 1000 or unit == "PB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1000
    return f"{num:.1f} PB"


@portal.app_template_filter("nicedate")
def nicedate(value: str | None) -> str:
    """``2024-11-26`` as ``26 Nov 2024``."""
    if not value or len(value) < 10:
        return value or ""
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    year, month, day = value[:10].split("-")
    return f"{int(day)} {months[int(month) - 1]} {year}"


@portal.app_context_processor
def portal_globals() -> dict:
    return {"SOURCES": SOURCES, "FACET_TITLES": FACET_TITLES, "DEFAULT_PAGE_SIZE": DEFAULT_PAGE_SIZE,
            "jsonld_script": lambda data: Markup(portal_dataset.jsonld_script(data))}
