"""/sitemap.xml (a sitemap index) and its chunks /sitemaps/<n>.xml (see :mod:`query.sitemaps`)."""

from __future__ import annotations

from flask import Blueprint, Response, stream_with_context

from query import sitemaps as maps
from web.errors import ApiError
from web.partners import catalogue, settings, site

sitemaps = Blueprint("sitemaps", __name__)
XML = "application/xml; charset=utf-8"


def _size() -> int:
    return maps.chunk_size(settings().sitemaps.urls_per_sitemap)


@sitemaps.get("/sitemap.xml")
def sitemap_index():
    """The sitemap index listing every chunk."""
    body = maps.sitemap_index(catalogue().store(), site(), _size())
    return Response(stream_with_context(body), content_type=XML)


@sitemaps.get("/sitemaps/<int:chunk>.xml")
def sitemap_chunk(chunk: int):
    """One chunk of dataset page URLs; 404 past the last chunk."""
    store = catalogue().store()
    if not 1 <= chunk <= maps.chunk_count(store, _size()):
        raise ApiError(404, "not_found", f"there is no sitemap {chunk}")
    return Response(stream_with_context(maps.sitemap_chunk(store, site(), chunk, _size())), content_type=XML)
