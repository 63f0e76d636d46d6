"""The dataset page's file table over ``SearchService.search_files`` (query/files.py), in
the URL grammar of ``/api/v1/datasets/<acc>/files``: ``query``, ``format``, ``component``,
``attr.<name>`` (repeatable), ``sortBy``, ``sortOrder``, ``page``, ``pageSize``."""

from __future__ import annotations

import math

FILE_SORTS = (("path", "Path"), ("size", "Size"), ("format", "Format"))
FILE_PAGE_SIZES = (25, 50, 100)
DEFAULT_FILE_PAGE = 25
TOP_BUCKETS = 8
ID_LIKE_SHARE = 0.5  # an attribute with more values than this share of the files names files


def search(svc, record, args: dict[str, list[str]]) -> dict:
    """A page of the dataset's files matching ``args``, with the filters worth showing."""
    args = dict(args)
    if "pageSize" not in args and "limit" not in args:
        args["pageSize"] = [str(DEFAULT_FILE_PAGE)]
    result = svc.search_files(record.accession, args)
    files = max(record.file_count, result["totalHits"])
    facets = []
    for facet in result["facets"]:
        selected = any(b["selected"] for b in facet["buckets"])
        id_like = facet.get("valueCount", 0) > 1 and facet.get("valueCount", 0) > ID_LIKE_SHARE * files
        if facet["buckets"] and (selected or not id_like):
            facets.append(_facet(facet))
    return {"total": result["totalHits"], "rows": result["files"], "facets": facets, "page": result["page"],
            "pageSize": result["pageSize"], "sortBy": result["sortBy"], "sortOrder": result["sortOrder"],
            "query": result["query"], "dataset_files": record.file_count}


def _facet(facet: dict) -> dict:
    buckets = facet["buckets"]
    return {"param": facet["name"], "title": facet["title"],
            "visible": [b for i, b in enumerate(buckets) if i < TOP_BUCKETS or b["selected"]],
            "more": [b for i, b in enumerate(buckets) if i >= TOP_BUCKETS and not b["selected"]],
            "others": facet.get("otherCount", 0)}


def empty(record) -> dict:
    """No rows (the arguments were unusable)."""
    return {"total": 0, "rows": [], "facets": [], "page": 1, "pageSize": DEFAULT_FILE_PAGE, "sortBy": "path",
            "sortOrder": "ascending", "query": "", "dataset_files": record.file_count}


def view(files: dict, state) -> dict:
    """Add the table's links (column sorting, paging) and the filter summary."""
    last = max(1, math.ceil(files["total"] / files["pageSize"]))
    page = files["page"]
    window = sorted({1, last, *range(max(1, page - 2), min(last, page + 2) + 1)})
    files["pages"] = [(n, state.url(changes={"page": n} if n > 1 else {}) + "#files") for n in window]
    files["current"], files["last"] = page, last
    files["prev"] = state.url(changes={"page": page - 1} if page > 2 else {}) + "#files" if page > 1 else None
    files["next"] = state.url(changes={"page": page + 1}) + "#files" if page < last else None
    files["sorts"] = FILE_SORTS
    files["sort_links"] = {}
    for column, _ in FILE_SORTS:
        order = "descending" if files["sortBy"] == column and files["sortOrder"] == "ascending" else "ascending"
        files["sort_links"][column] = state.url(changes={"sortBy": column, "sortOrder": order}) + "#files"
    files["first"] = (page - 1) * files["pageSize"] + 1
    files["page_sizes"] = sorted(set(FILE_PAGE_SIZES) | {files["pageSize"]})
    files["filtered"] = bool(files["query"] or any(b["selected"] for f in files["facets"] for b in f["visible"]))
    files["clear"] = state.url(drop=[k for k, _ in state.pairs]) + "#files"
    return files
