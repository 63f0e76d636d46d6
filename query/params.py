"""Search request parameters, parsed from a URL's query arguments in small steps.

The archive's URL grammar (BIA bia-search and BioStudies): ``query``; ``facet.<name>=v``
(repeatable) with ``.or`` (any of, the default), ``.eq`` (all of) and ``.not``;
numeric ``<field>.gt|gte|lt|lte=``; ``has.<x>=true|false``; ``sortBy``/``sortOrder``;
``page``/``pageSize`` with ``pagination.page``/``pagination.page_size`` as aliases.
Flask-free: arguments arrive as a mapping of name → list of values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from indexer.schema import FACETS_BY_NAME

SORT_FIELDS = ("relevance", "release_date", "title", "accession", "file_count", "size")
SORT_ALIASES = {"date": "release_date", "released": "release_date", "release": "release_date", "score": "relevance", "total_size_bytes": "size"}
NUMERIC_FIELDS = {"file_count": "file_count", "size": "total_size_bytes", "total_size_bytes": "total_size_bytes", "release_year": "release_year"}
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
HAS_FIELDS = ("doi", "publication", "organism", "imaging_method", "license", "files")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000
MAX_WINDOW = 10_000  # page-number paging reaches this many hits; deeper needs a cursor
KNOWN_PARAMS = {"query", "q", "page", "pageSize", "pagination.page", "pagination.page_size", "sortBy", "sortOrder", "facets", "mode", "cursor", "fields", "facetTree"}
HIT_FIELDS = (
    "accession", "source", "title", "title_html", "snippet", "release_date", "doi", "organisms", "imaging_methods",
    "study_type", "license", "authors", "author_count", "file_count", "total_size_bytes", "file_formats", "keywords", "score",
)
MAX_CURSOR_LENGTH = 1000


class ParamError(ValueError):
    """A request parameter that cannot be used: ``param`` names it, ``message`` says why."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass
class FacetFilter:
    """Selected values of one facet: ``any_of`` OR-ed, ``all_of`` AND-ed, ``none_of`` excluded."""

    any_of: list[str] = field(default_factory=list)
    all_of: list[str] = field(default_factory=list)
    none_of: list[str] = field(default_factory=list)

    def selected(self) -> list[str]:
        """Values shown as selected in facet buckets."""
        return self.any_of + self.all_of


@dataclass
class SearchRequest:
    """Everything a search needs, validated."""

    query: str = ""
    strict: bool = True
    filters: dict[str, FacetFilter] = field(default_factory=dict)
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)
    has: dict[str, bool] = field(default_factory=dict)
    sort_by: str | None = None
    sort_order: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    facets: list[str] | None = None
    query_node: object | None = None  # a parsed JSON query tree (POST); overrides ``query``
    cursor: str | None = None
    fields: list[str] | None = None
    facet_tree: bool = False  # also return the imaging-method facet as an FBbi tree


def parse_search_params(args: Mapping[str, Sequence[str]], *, strict: bool = True) -> SearchRequest:
    """Validate URL arguments into a SearchRequest; ParamError names the first bad one."""
    req = SearchRequest(strict=_mode(args, strict))
    req.query = _single(args, "query") or _single(args, "q") or ""
    req.page = _int_param(args, ("page", "pagination.page"), 1, 1, MAX_PAGE)
    req.page_size = _int_param(args, ("pageSize", "pagination.page_size"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if req.page * req.page_size > MAX_WINDOW:
        raise ParamError("page", f"page-number paging stops at hit {MAX_WINDOW}; follow the 'next' cursor to go deeper")
    req.sort_by, req.sort_order = _sort(args)
    req.facets = _facet_list(args)
    req.fields = _field_list(args)
    if _single(args, "facetTree") is not None:
        req.facet_tree = _bool("facetTree", list(args["facetTree"]))
    req.cursor = _single(args, "cursor") or None
    if req.cursor and len(req.cursor) > MAX_CURSOR_LENGTH:
        raise ParamError("cursor", "not a cursor this service issued")
    for name, values in args.items():
        _apply_param(req, name, [v for v in values if v is not None])
    return req


def _apply_param(req: SearchRequest, name: str, values: list[str]) -> None:
    if name in KNOWN_PARAMS:
        return
    head, _, rest = name.partition(".")
    if head == "facet" and rest:
        _facet_param(req, name, rest, values)
    elif head == "has" and rest:
        req.has[_has_field(name, rest)] = _bool(name, values)
    elif rest in NUMERIC_OPS:
        _range_param(req, name, head, rest, values)
    else:
        raise ParamError(name, "unknown parameter")


def _facet_param(req: SearchRequest, param: str, rest: str, values: list[str]) -> None:
    facet, _, mode = rest.partition(".")
    if facet not in FACETS_BY_NAME:
        raise ParamError(param, f"unknown facet {facet!r}; facets are {', '.join(FACETS_BY_NAME)}")
    mode = mode or "or"
    if mode not in ("or", "eq", "not"):
        raise ParamError(param, f"unknown facet mode {mode!r}; use .or, .eq or .not")
    # One value per parameter: a comma is not a separator (labels may hold commas).
    values = [v.strip() for v in values if v.strip()]
    if not values:
        raise ParamError(param, "needs a value")
    target = req.filters.setdefault(facet, FacetFilter())
    {"or": target.any_of, "eq": target.all_of, "not": target.none_of}[mode].extend(values)


def _range_param(req: SearchRequest, param: str, field_name: str, op: str, values: list[str]) -> None:
    if field_name not in NUMERIC_FIELDS:
        raise ParamError(param, f"unknown numeric field {field_name!r}; use {', '.join(NUMERIC_FIELDS)}")
    try:
        number = float(_last(param, values))
    except ValueError:
        raise ParamError(param, f"expected a number, got {values[-1]!r}") from None
    low, high = (1, 9999) if field_name == "release_year" else (0, 2**63 - 1)
    if not low <= number <= high:
        raise ParamError(param, f"must be between {low} and {high}, got {values[-1]!r}")
    req.ranges.setdefault(NUMERIC_FIELDS[field_name], {})[op] = number


def _has_field(param: str, name: str) -> str:
    if name not in HAS_FIELDS:
        raise ParamError(param, f"unknown has-filter {name!r}; use {', '.join(HAS_FIELDS)}")
    return name


def _bool(param: str, values: list[str]) -> bool:
    value = _last(param, values).lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ParamError(param, f"expected true or false, got {value!r}")


def _last(param: str, values: list[str]) -> str:
    if not values or not values[-1].strip():
        raise ParamError(param, "needs a value")
    return values[-1].strip()


def _single(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name)
    return values[-1] if values else None


def _mode(args: Mapping[str, Sequence[str]], default_strict: bool) -> bool:
    mode = _single(args, "mode")
    if mode is None:
        return default_strict
    if mode not in ("strict", "lenient"):
        raise ParamError("mode", f"expected strict or lenient, got {mode!r}")
    return mode == "strict"


def _int_param(args, names: tuple[str, ...], default: int, low: int, high: int) -> int:
    for name in names:
        raw = _single(args, name)
        if raw is None:
            continue
        try:
            value = int(raw.strip())
        except ValueError:
            raise ParamError(name, f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ParamError(name, f"must be between {low} and {high}, got {value}")
        return value
    return default


def _sort(args) -> tuple[str | None, str | None]:
    sort_by = _single(args, "sortBy")
    if sort_by is not None:
        sort_by = SORT_ALIASES.get(sort_by.strip(), sort_by.strip())
        if sort_by not in SORT_FIELDS:
            raise ParamError("sortBy", f"unknown sort field {sort_by!r}; use {', '.join(SORT_FIELDS)}")
    order = _single(args, "sortOrder")
    if order is not None:
        order = {"asc": "ascending", "desc": "descending"}.get(order.strip().lower(), order.strip().lower())
        if order not in ("ascending", "descending"):
            raise ParamError("sortOrder", f"expected ascending or descending, got {order!r}")
    return sort_by, order


def _facet_list(args) -> list[str] | None:
    raw = _single(args, "facets")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in FACETS_BY_NAME:
            raise ParamError("facets", f"unknown facet {name!r}; facets are {', '.join(FACETS_BY_NAME)}")
    return names


def _field_list(args) -> list[str] | None:
    raw = _single(args, "fields")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in HIT_FIELDS:
            raise ParamError("fields", f"unknown hit field {name!r}; fields are {', '.join(HIT_FIELDS)}")
    return names
