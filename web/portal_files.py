"""The dataset page's file table: text search, attribute filters with counts, sorting and
paging, in the URL grammar of ``/api/v1/datasets/<acc>/files`` (``query``,
``attr.<name>``, ``format``, ``sortBy``, ``sortOrder``, ``page``, ``pageSize``).

``SearchService.search_files`` answers when the service has it; otherwise the rows are
scanned here (at most SCAN_LIMIT of them) so the table works either way.
"""

from __future__ import annotations

import math
from collections import Counter

from query.params import ParamError

SCAN_LIMIT = 100_000
FILE_SORTS = ("path", "size", "format", "component")
FILE_PAGE_SIZES = (25, 50, 100)
DEFAULT_FILE_PAGE = 25
MAX_FACET_VALUES = 30


def search(svc, record, args: dict[str, list[str]]) -> dict:
    """A page of the dataset's files matching ``args``, with facet counts (see module doc)."""
    if getattr(svc, "search_files", None) is not None:
        return _adapt(svc.search_files(record.accession, args), args)
    return _scan(svc, record, _parse(args))


def empty(record) -> dict:
    """No rows (the arguments were unusable)."""
    return {"total": 0, "rows": [], "facets": [], "page": 1, "pageSize": DEFAULT_FILE_PAGE, "sortBy": "path",
            "sortOrder": "ascending", "query": "", "complete": True, "dataset_files": record.file_count}


# -- the scan ----------------------------------------------------------------------------


def _parse(args: dict[str, list[str]]) -> dict:
    def one(name, default=""):
        values = [v for v in args.get(name, []) if v.strip()]
        return values[-1].strip() if values else default

    req = {"query": one("query"), "attrs": {}, "format": set(args.get("format", [])),
           "component": set(args.get("component", [])), "sortBy": one("sortBy", "path"),
           "sortOrder": one("sortOrder", "ascending")}
    for name, values in args.items():
        if name.startswith("attr.") and len(name) > 5:
            req["attrs"][name[5:]] = {v for v in values if v.strip()}
    if req["sortBy"] not in FILE_SORTS:
        raise ParamError("sortBy", f"files sort by {', '.join(FILE_SORTS)}, not {req['sortBy']!r}")
    if req["sortOrder"] not in ("ascending", "descending"):
        raise ParamError("sortOrder", f"expected ascending or descending, got {req['sortOrder']!r}")
    req["page"] = _int(one("page", "1"), "page", 1, 10**6)
    req["pageSize"] = _int(one("pageSize", str(DEFAULT_FILE_PAGE)), "pageSize", 1, 1000)
    return req


def _int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ParamError(name, f"must be between {low} and {high}, got {value}")
    return value


def _scan(svc, record, req: dict) -> dict:
    rows = svc.files(record.accession, limit=SCAN_LIMIT)
    tokens = req["query"].lower().split()
    rows = [r for r in rows if all(t in _haystack(r) for t in tokens)] if tokens else rows
    matched = [r for r in rows if _passes(r, req)]
    key = {"path": lambda r: r["path"].lower(), "size": lambda r: r["size"] or 0,
           "format": lambda r: (r["format"] or "").lower(), "component": lambda r: (r["component"] or "").lower()}
    matched.sort(key=key[req["sortBy"]], reverse=req["sortOrder"] == "descending")
    start = (req["page"] - 1) * req["pageSize"]
    return {"total": len(matched), "rows": matched[start:start + req["pageSize"]], "facets": _facets(rows, req),
            "page": req["page"], "pageSize": req["pageSize"], "sortBy": req["sortBy"], "sortOrder": req["sortOrder"],
            "query": req["query"], "complete": record.file_count <= SCAN_LIMIT, "dataset_files": record.file_count}


def _haystack(row: dict) -> str:
    return " ".join([row["path"], row["component"] or "", row["format"] or "", *row["attributes"].values()]).lower()


def _passes(row: dict, req: dict, skip: str | None = None) -> bool:
    if req["format"] and skip != "format" and (row["format"] or "") not in req["format"]:
        return False
    if req["component"] and skip != "component" and (row["component"] or "") not in req["component"]:
        return False
    for name, wanted in req["attrs"].items():
        if wanted and skip != f"attr.{name}" and row["attributes"].get(name) not in wanted:
            return False
    return True


def _facets(rows: list[dict], req: dict) -> list[dict]:
    """Counts per value; each facet's counts ignore its own selection (multi-select)."""
    out = []
    specs = [("component", "Study component", lambda r: r["component"]), ("format", "File format", lambda r: r["format"])]
    names = sorted({name for r in rows for name in r["attributes"]} | set(req["attrs"]), key=str.lower)
    specs += [(f"attr.{n}", n, (lambda n: lambda r: r["attributes"].get(n))(n)) for n in names]
    for param, title, get in specs:
        selected = req["format"] if param == "format" else req["component"] if param == "component" else req["attrs"].get(param[5:], set())
        counts = Counter(get(r) for r in rows if _passes(r, req, skip=param) and get(r))
        having = sum(counts.values())
        # A filter needs values that repeat (not one per file, like names or checksums)
        # and that tell files apart (not one value every file has).
        useful = len(counts) <= MAX_FACET_VALUES and len(counts) < having and not (len(counts) == 1 and having == len(rows))
        if not selected and not useful:
            continue
        for value in selected:
            counts.setdefault(value, 0)
        buckets = [{"key": k, "label": k, "count": c, "selected": k in selected}
                   for k, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))]
        out.append({"param": param, "title": title, "buckets": buckets})
    return out


# -- the service's answer ------------------------------------------------------------------


def _adapt(result: dict, args: dict[str, list[str]]) -> dict:
    """SearchService.search_files's result in the shape the template reads."""
    rows = result.get("files") or result.get("rows") or result.get("hits") or []
    facets = []
    for facet in result.get("facets", []):
        name = facet.get("param") or facet.get("name", "")
        param = name if name in ("format", "component") or name.startswith("attr.") else f"attr.{name}"
        facets.append({"param": param, "title": facet.get("title") or name.removeprefix("attr."),
                       "buckets": [dict(b, label=b.get("label", b["key"])) for b in facet.get("buckets", [])]})
    one = lambda name, default: (args.get(name) or [default])[-1] or default  # noqa: E731
    return {"total": result.get("totalHits", result.get("total", len(rows))), "rows": rows, "facets": facets,
            "page": result.get("page", int(one("page", "1"))), "pageSize": result.get("pageSize", int(one("pageSize", str(DEFAULT_FILE_PAGE)))),
            "sortBy": result.get("sortBy", one("sortBy", "path")), "sortOrder": result.get("sortOrder", one("sortOrder", "ascending")),
            "query": result.get("query", one("query", "")), "complete": True, "dataset_files": result.get("datasetFiles")}


# -- links -------------------------------------------------------------------------------------


def view(files: dict, state) -> dict:
    """Add the page's links: column sorting, paging."""
    last = max(1, math.ceil(files["total"] / files["pageSize"]))
    page = files["page"]
    window = sorted({1, last, *range(max(1, page - 2), min(last, page + 2) + 1)})
    files["pages"] = [(n, state.url(set={"page": n} if n > 1 else {}) + "#files") for n in window]
    files["current"], files["last"] = page, last
    files["prev"] = state.url(set={"page": page - 1} if page > 2 else {}) + "#files" if page > 1 else None
    files["next"] = state.url(set={"page": page + 1}) + "#files" if page < last else None
    files["sort_links"] = {}
    for column in FILE_SORTS:
        active = files["sortBy"] == column
        order = "descending" if active and files["sortOrder"] == "ascending" else "ascending"
        files["sort_links"][column] = state.url(set={"sortBy": column, "sortOrder": order}) + "#files"
    files["first"] = (page - 1) * files["pageSize"] + 1
    files["page_sizes"] = sorted(set(FILE_PAGE_SIZES) | {files["pageSize"]})
    files["filtered"] = bool(files["query"] or any(b["selected"] for f in files["facets"] for b in f["buckets"]))
    files["clear"] = state.url(drop=[k for k, _ in state.pairs]) + "#files"
    return files
