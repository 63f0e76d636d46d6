"""Sitemaps (sitemaps.org 0.9) of the portal's dataset pages: an index at /sitemap.xml and
chunks of at most 50,000 URLs at /sitemaps/<n>.xml, in accession order, each URL with the
time its record last changed in the store as ``lastmod``. Output is streamed.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape

from harvesters.store import RecordStore
from query.site import Site

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_URLS = 50_000
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def chunk_size(configured: int) -> int:
    """URLs per sitemap: the configured number, within the protocol's 1..50,000."""
    return max(1, min(MAX_URLS, configured))


def chunk_count(store: RecordStore, size: int) -> int:
    """How many sitemap chunks the live records fill (at least one)."""
    live = sum(store.count_by_source().values())
    return max(1, -(-live // size))


def sitemap_index(store: RecordStore, site: Site, size: int) -> Iterator[str]:
    """The sitemap index: one entry per chunk, ``lastmod`` the newest change in it."""
    yield HEAD + f'<sitemapindex xmlns="{NS}">\n'
    newest, count, chunk = "", 0, 1
    for _, _, changed in store.iter_live_stamps():
        newest = max(newest, changed or "")
        count += 1
        if count == size:
            yield _entry(site, chunk, newest)
            newest, count, chunk = "", 0, chunk + 1
    if count or chunk == 1:
        yield _entry(site, chunk, newest)
    yield "</sitemapindex>\n"


def _entry(site: Site, chunk: int, lastmod: str) -> str:
    stamp = f"<lastmod>{escape(lastmod)}</lastmod>" if lastmod else ""
    return f"<sitemap><loc>{escape(site.url(f'/sitemaps/{chunk}.xml'))}</loc>{stamp}</sitemap>\n"


def sitemap_chunk(store: RecordStore, site: Site, chunk: int, size: int) -> Iterator[str]:
    """The ``chunk``-th sitemap (1-based): dataset page URLs with their change times."""
    yield HEAD + f'<urlset xmlns="{NS}">\n'
    for accession, _, changed in store.iter_live_stamps(offset=(chunk - 1) * size, limit=size):
        stamp = f"<lastmod>{escape(changed)}</lastmod>" if changed else ""
        yield f"<url><loc>{escape(site.dataset_page(accession))}</loc>{stamp}</url>\n"
    yield "</urlset>\n"
