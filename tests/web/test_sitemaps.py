"""/sitemap.xml and /sitemaps/<n>.xml: chunks of at most N URLs (10 here), true lastmod."""

from __future__ import annotations

import pytest
from lxml import etree

from harvesters.store import RecordStore
from query.sitemaps import MAX_URLS, chunk_size
from tests.web.live import sample_settings_in, set_changed_at

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
BASE = "https://search.example.org/bis"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = sample_settings_in(tmp_path_factory.mktemp("sitemaps"))
    with RecordStore(settings.store_path) as store:
        accessions = sorted(r.accession for r in store.iter_records())
        store.mark_deleted(["S-BIAD954"])
    times = {acc: f"2023-{i % 12 + 1:02d}-{i % 27 + 1:02d}T08:30:{i:02d}Z" for i, acc in enumerate(accessions)}
    set_changed_at(settings, times)
    settings.sitemaps.urls_per_sitemap = 10
    settings.site.base_url = BASE
    from web import create_app

    live = [a for a in accessions if a != "S-BIAD954"]
    return {"client": create_app(settings).test_client(), "times": times, "live": live}


def xml(client, url):
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return etree.fromstring(response.get_data())


def test_index_lists_chunks_with_their_newest_change(env):
    index = xml(env["client"], "/sitemap.xml")
    assert index.tag == f"{SM}sitemapindex"
    entries = [(s.findtext(f"{SM}loc"), s.findtext(f"{SM}lastmod")) for s in index.iter(f"{SM}sitemap")]
    assert [loc for loc, _ in entries] == [f"{BASE}/sitemaps/{n}.xml" for n in (1, 2, 3)]
    chunks = [env["live"][i : i + 10] for i in range(0, len(env["live"]), 10)]
    assert [lastmod for _, lastmod in entries] == [max(env["times"][a] for a in chunk) for chunk in chunks]


def test_chunks_hold_every_live_dataset_once_with_its_change_time(env):
    seen = []
    for n in (1, 2, 3):
        urlset = xml(env["client"], f"/sitemaps/{n}.xml")
        urls = [(u.findtext(f"{SM}loc"), u.findtext(f"{SM}lastmod")) for u in urlset.iter(f"{SM}url")]
        assert 0 < len(urls) <= 10
        for loc, lastmod in urls:
            accession = loc.removeprefix(f"{BASE}/datasets/")
            assert lastmod == env["times"][accession]
            seen.append(accession)
    assert seen == env["live"]  # accession order, deleted records left out


@pytest.mark.parametrize("url", ["/sitemaps/4.xml", "/sitemaps/0.xml"])
def test_no_such_chunk_is_a_404(env, url):
    response = env["client"].get(url)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_chunk_size_stays_within_the_protocol():
    assert chunk_size(10**6) == MAX_URLS == 50_000
    assert chunk_size(0) == 1 and chunk_size(10) == 10
