"""Paging through a BioStudies collection search (``/api/v1/{collection}/search``), the
listing both the archive harvester and the EMPIAR harvester (``BioImages-EMPIAR``) use."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from harvesters.base import HarvestError
from harvesters.http import FetchError, HttpClient


def collection_accessions(client: HttpClient, base: str, collection: str, page_size: int) -> Iterator[str]:
    """Every hit's accession, in release order, page by page; HarvestError("gather") when
    the listing fails or is not a BioStudies search response."""
    url = f"{base.rstrip('/')}/api/v1/{quote(collection)}/search"
    params = {"pageSize": page_size, "sortBy": "release_date", "sortOrder": "ascending"}
    page, seen = 1, 0
    while True:
        try:
            body = client.get_json(url, params={**params, "page": page})
        except FetchError as exc:
            raise HarvestError("gather", exc.message, exc.url) from exc
        hits = body.get("hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise HarvestError("gather", "collection search response has no hits list", url)
        for hit in hits:
            accession = hit.get("accession") if isinstance(hit, dict) else None
            if isinstance(accession, str) and accession.strip():
                yield accession.strip()
        seen += len(hits)
        total = body.get("totalHits")
        if not hits or not isinstance(total, int) or seen >= total:
            return
        page += 1
