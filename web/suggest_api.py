"""GET /api/v1/suggest: completions for a search box as people type.

``q`` is the text typed so far (required, at most 200 characters), ``limit`` how many
suggestions to return (1..50, default 10). The response is the usual envelope; ``data``
is a list of ``{"text", "kind": "term"|"title"|"facet", "facet", "key", "count"}``
ranked best first (see :mod:`query.suggest`).
"""

from __future__ import annotations

from flask import Blueprint, request

from query.suggest import MAX_LIMIT, MAX_PREFIX_CHARS
from web.api import envelope, service
from web.errors import ApiError

suggest_api = Blueprint("suggest_api", __name__)
DEFAULT_LIMIT = 10
KNOWN_PARAMS = {"q", "limit"}


@suggest_api.get("/api/v1/suggest")
def suggest():
    """Ranked completions of ``q`` from titles, terms and facet values."""
    unknown = sorted(set(request.args) - KNOWN_PARAMS)
    if unknown:
        raise ApiError(400, "invalid_parameter", f"unknown parameter {unknown[0]!r} (expected q, limit)", unknown[0])
    prefix = request.args.get("q")
    if prefix is None or not prefix.strip():
        raise ApiError(400, "invalid_parameter", "q is required: the text typed so far", "q")
    if len(prefix) > MAX_PREFIX_CHARS:
        raise ApiError(400, "invalid_parameter", f"q is longer than {MAX_PREFIX_CHARS} characters", "q")
    limit = _limit()
    data = service().suggest(prefix, limit)
    return envelope(data, query=prefix, limit=limit, generation=service().generation().name)


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"expected a whole number, got {raw!r}", "limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ApiError(400, "invalid_parameter", f"must be between 1 and {MAX_LIMIT}, got {value}", "limit")
    return value
