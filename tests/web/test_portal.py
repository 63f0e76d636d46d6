"""The portal's server-rendered pages, through the Flask test client (no JavaScript)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from harvesters.records import Author, Link, Record
from harvesters.store import RecordStore
from indexer.builder import full_build
from query.service import SearchService
from web import create_app


class Page(HTMLParser):
    """A tiny DOM summary: elements by tag with their attributes and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, list[str]]] = []
        self._open: list[tuple[str, dict, list[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = (tag, dict(attrs), [])
        self.elements.append(element)
        if tag not in ("input", "meta", "link", "br", "img", "rect", "hr"):
            self._open.append(element)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for element in self._open:
            element[2].append(data)

    def find(self, tag: str, **attrs) -> list[tuple[dict, str]]:
        out = []
        for name, a, text in self.elements:
            if name == tag and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items()):
                out.append((a, " ".join("".join(text).split())))
        return out


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def api(client, url):
    return client.get(url).get_json()["data"]


def qs(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# -- the search page --------------------------------------------------------------------


def test_home_lists_everything_with_a_plain_get_form(client):
    html = get(client, "/")
    page = Page(html)
    forms = page.find("form", id="search-form")
    assert forms and forms[0][0]["method"] == "get" and forms[0][0]["action"] == "/search"
    assert page.find("input", name="query", id="q")
    assert page.find("label", for_="q")
    total = api(client, "/api/v1/search")["totalHits"]
    assert f"{total} datasets" in html
    assert len(page.find("li", class_="hit")) == 20
    assert "Showing every dataset, newest first" in html
    assert get(client, "/search") == html


def test_results_show_highlights_badges_and_facts(client):
    html = get(client, "/search?query=zebrafish")
    assert '<mark class="match' in html
    page = Page(html)
    assert page.find("span", class_="source source-bia")
    assert "Released <time datetime=" in html
    assert "Danio rerio" in html
    hits = page.find("li", class_="hit")
    assert hits and all("Files" in text for _, text in hits)


def test_counts_on_the_page_match_the_api(client):
    url = "query=cell&facet.organism=NCBITaxon:9606&facet.organism=NCBITaxon:10090"
    data = api(client, f"/api/v1/search?{url}")
    html = get(client, f"/search?{url}")
    page = Page(html)
    heading = page.find("h2", id="results-heading")[0][1]
    assert heading.startswith(f"{data['totalHits']} datasets")
    for facet in data["facets"]:
        if facet["name"] in ("imaging_method", "release_year"):
            continue
        for bucket in facet["buckets"][:5]:
            boxes = [a for a, _ in page.find("input", name=f"facet.{facet['name']}", value=bucket["key"])]
            assert boxes, (facet["name"], bucket["key"])
            assert ("checked" in boxes[0]) == bucket["selected"]
            label = [t for a, t in page.find("label") if bucket["label"] in t and t.endswith(f"{bucket['count']} datasets")]
            assert label, (facet["name"], bucket)


def test_one_search_call_per_page_view(sample_settings):
    calls = []

    class Counting(SearchService):
        def search(self, req):
            calls.append(req)
            return super().search(req)

    app = create_app(sample_settings, Counting(sample_settings.index_dir, sample_settings.store_path))
    client = app.test_client()
    for url in ("/", "/search?query=cell&facet.organism=NCBITaxon:9606&sortBy=title&page=1&pageSize=5", "/search?query=zebrafsh"):
        calls.clear()
        get(client, url)
        assert len(calls) == 1, url


def test_facets_are_checkboxes_in_the_form_and_imaging_method_is_a_tree(client):
    html = get(client, "/search?query=cell&facet.organism=NCBITaxon:9606")
    page = Page(html)
    boxes = page.find("input", type="checkbox", name="facet.organism")
    assert boxes and all(a["form"] == "search-form" for a, _ in boxes)
    checked = [a["value"] for a, _ in boxes if "checked" in a]
    assert checked == ["NCBITaxon:9606"]
    tree = re.search(r'<fieldset class="facet" id="facet-imaging_method">(.*?)</fieldset>', html, re.S).group(1)
    assert '<ul class="tree">' in tree and "<details" in tree and "narrower" in tree
    assert 'name="facet.imaging_method"' in tree
    # Without JavaScript an Apply button submits the ticks.
    assert page.find("button", form="search-form")


def test_release_year_histogram_bars_are_links_filtering_by_year(client):
    page = Page(get(client, "/search?query=cell"))
    bars = page.find("a", class_="bar")
    assert bars
    years = {b["data-year"]: b for b, _ in bars}
    year, bar = next(iter(years.items()))
    assert qs(bar["href"])["facet.release_year"] == [year]
    assert qs(bar["href"])["query"] == ["cell"]
    assert re.match(r"\d{4}: \d+ datasets?", bar["aria-label"])
    filtered = get(client, bar["href"])
    data = api(client, f"/api/v1/search?query=cell&facet.release_year={year}")
    assert f"{data['totalHits']} dataset" in filtered
    # The selected bar toggles the filter off again.
    selected = [b for b, _ in Page(filtered).find("a") if b.get("data-year") == year][0]
    assert "selected" in selected["class"] and "facet.release_year" not in qs(selected["href"])


def test_paging_keeps_the_state_and_offers_next(client):
    base = "/search?query=cell&facet.license=CC%20BY%204.0&sortBy=release_date&pageSize=5"
    page = Page(get(client, base))
    pager = page.find("a", rel="next")
    assert pager
    args = qs(pager[0][0]["href"])
    assert args["page"] == ["2"] and args["query"] == ["cell"] and args["facet.license"] == ["CC BY 4.0"]
    assert args["sortBy"] == ["release_date"] and args["pageSize"] == ["5"]
    second = Page(get(client, pager[0][0]["href"]))
    assert second.find("a", aria_current="page", class_="current")[0][1] == "Page 2"
    first_hits = [t for _, t in page.find("h3", class_="hit-title")]
    second_hits = [t for _, t in second.find("h3", class_="hit-title")]
    assert first_hits and second_hits and not set(first_hits) & set(second_hits)
    # Controls reflect the URL: the sort select and the page size.
    assert 'value="release_date" selected' in get(client, base)


def test_next_cursor_link_works(client):
    data = api(client, "/api/v1/search?query=cell&pageSize=3")
    html = get(client, f"/search?query=cell&pageSize=3&cursor={data['next']}")
    assert "First page" in html
    expected = api(client, f"/api/v1/search?query=cell&pageSize=3&cursor={data['next']}")
    for hit in expected["hits"]:
        assert f'/datasets/{hit["accession"]}"' in html


def test_active_filters_can_be_removed_one_by_one(client):
    html = get(client, "/search?query=cell&facet.organism=NCBITaxon:9606&facet.license.not=CC0%201.0&has.doi=true")
    chips = Page(html).find("a", class_="chip")
    texts = [t for _, t in chips]
    assert any(t.startswith("Organism: Homo sapiens") for t in texts)
    assert any(t.startswith("Licence: not CC0 1.0") for t in texts)
    organism = [a["href"] for a, t in chips if t.startswith("Organism")][0]
    assert "facet.organism" not in qs(organism) and qs(organism)["facet.license.not"] == ["CC0 1.0"]
    # Parameters without a visible control survive a new submission as hidden inputs.
    hidden = Page(html).find("input", type="hidden")
    assert {(a["name"], a["value"]) for a, _ in hidden} >= {("facet.license.not", "CC0 1.0"), ("has.doi", "true")}


def test_empty_form_fields_redirect_to_a_clean_address(client):
    response = client.get("/search?query=cell&sortBy=&sortOrder=&pageSize=&facet.organism=NCBITaxon:9606")
    assert response.status_code == 302
    assert response.headers["Location"] == "/search?query=cell&facet.organism=NCBITaxon%3A9606"
    assert client.get("/search?query=").headers["Location"] == "/search"
    response = client.get("/datasets/s-biad1492?query=")
    assert response.status_code == 302 and response.headers["Location"] == "/datasets/S-BIAD1492"


def test_api_projections_are_ignored_by_the_page(client):
    html = get(client, "/search?query=cell&fields=accession&facets=source&facetTree=false")
    page = Page(html)
    assert page.find("h3", class_="hit-title") and '<mark class="match' in html
    assert page.find("fieldset", id="facet-organism")
    assert not page.find("input", name="fields")


def test_lenient_by_default_with_warnings_shown_gently(client):
    html = get(client, '/search?query=%22cell%20cycle')
    assert "We read your search a little loosely" in html
    assert 'role="status"' in html


def test_malformed_query_in_strict_mode_is_a_400_page_with_help(client):
    html = get(client, "/search?query=title:(unclosed&mode=strict", status=400)
    page = Page(html)
    assert page.find("section", role="alert")
    assert "We could not run that search" in html
    assert '<mark class="error-at">' in html
    assert "Search leniently" in html
    assert page.find("input", id="q", value="title:(unclosed")


@pytest.mark.parametrize("url", ["/search?page=abc", "/search?facet.colour=red", "/search?sortBy=colour", "/search?pageSize=100000"])
def test_bad_parameters_are_explained_inline(client, url):
    html = get(client, url, status=400)
    param = url.split("?")[1].split("=")[0]
    assert f"<code>{param}</code>" in html
    assert "Search again without" in html


def test_no_results_suggest_how_to_broaden(client):
    html = get(client, "/search?query=cell&facet.organism=NCBITaxon:7955&facet.license=CC%20BY-NC-ND%204.0")
    assert "Nothing matched" in html
    assert "Remove a filter" in html
    assert "search all datasets for" in html
    assert "Try an example" in html


def test_did_you_mean_when_the_service_offers_it(client):
    data = api(client, "/api/v1/search?query=zebrafsh")
    html = get(client, "/search?query=zebrafsh")
    if not data.get("didYouMean"):
        pytest.skip("the service gives no did-you-mean")
    assert "did you mean" in html.lower() and "/search?query=zebrafish" in html


def test_user_text_is_escaped(client):
    html = get(client, "/search?query=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


# -- the dataset page ---------------------------------------------------------------------


def test_dataset_page_shows_every_section(client):
    html = get(client, "/datasets/S-BIAD1492")
    page = Page(html)
    assert page.find("h1")[0][1].startswith("Synthetic images and segmentation masks")
    headings = [t for _, t in page.find("h2")]
    for heading in ("Study", "Authors", "Publications", "Biosamples", "Specimens", "Image acquisition",
                    "Study components", "Linked datasets and references", "Download", "Files", "Provenance"):
        assert heading in headings, heading
    assert 'href="https://orcid.org/0000-0002-0456-6912"' in html
    assert 'href="https://doi.org/10.1002/cyto.a.20714"' in html
    assert 'href="https://creativecommons.org/licenses/by/3.0/"' in html
    assert "https://ftp.ebi.ac.uk/biostudies/fire/S-BIAD/492/S-BIAD1492/Files/" in html
    assert "https://www.ebi.ac.uk/biostudies/bioimages/studies/S-BIAD1492" in html
    assert "https://www.ebi.ac.uk/empiar/EMPIAR-11380/" in html


def test_dataset_page_headings_are_in_order(client):
    for url in ("/datasets/S-BIAD1492", "/search?query=cell", "/status", "/datasets/NOPE"):
        page = Page(client.get(url).get_data(as_text=True))
        levels = [int(tag[1]) for tag, _, _ in page.elements if re.fullmatch(r"h[1-6]", tag)]
        assert levels[0] == 1, url
        for before, after in zip(levels, levels[1:]):
            assert after <= before + 1, (url, levels)


def test_dataset_page_embeds_schema_org_jsonld(client):
    html = get(client, "/datasets/S-BIAD1492")
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(block)
    assert data["@context"] in ("https://schema.org", "https://schema.org/", "http://schema.org") or "schema.org" in str(data["@context"])
    assert data["@type"] == "Dataset"
    assert data["name"].startswith("Synthetic images")


def test_file_table_filters_by_attribute_and_text(client):
    html = get(client, "/datasets/S-BIAD1492")
    page = Page(html)
    snr = page.find("input", name="attr.SNR")
    assert {a["value"] for a, _ in snr} == {"high", "low"}
    rows = page.find("td", class_="path")
    assert len(rows) == 13
    high = Page(get(client, "/datasets/S-BIAD1492?attr.SNR=high"))
    paths = [t for _, t in high.find("td", class_="path")]
    assert len(paths) == 4 and all("highSNR" in p for p in paths)
    assert [a for a, _ in high.find("input", name="attr.SNR", value="high") if "checked" in a]
    both = Page(get(client, "/datasets/S-BIAD1492?attr.SNR=high&attr.clustering%20probability=75%25"))
    assert [t for _, t in both.find("td", class_="path")] == ["BBBC024/BBBC024_v1_c75_highSNR_images_TIFF/image-final_0012.tif"]
    text = Page(get(client, "/datasets/S-BIAD1492?query=labels%20c50"))
    assert len(text.find("td", class_="path")) == 2


def test_file_table_sorts_and_pages(client):
    page = Page(get(client, "/datasets/S-BIAD1492?sortBy=size&sortOrder=descending&pageSize=5"))
    sizes = [t for _, t in page.find("td", class_="num")]
    assert len(sizes) == 5 and sizes[0] == "61.8 MB"
    assert page.find("th", aria_sort="descending")
    nxt = page.find("a", rel="next")[0][0]["href"]
    assert qs(nxt)["page"] == ["2"] and qs(nxt)["sortBy"] == ["size"] and nxt.endswith("#files")
    last = Page(get(client, "/datasets/S-BIAD1492?sortBy=size&sortOrder=descending&pageSize=5&page=3"))
    assert len(last.find("td", class_="path")) == 3


def test_file_table_bad_parameter_is_explained(client):
    html = get(client, "/datasets/S-BIAD1492?pageSize=lots")
    assert "expected a whole number" in html


def test_dataset_without_files_says_so(client):
    html = get(client, "/datasets/S-BIAD1043")
    assert "published no file list" in html


def test_unknown_dataset_is_a_friendly_404_page(client):
    html = get(client, "/datasets/S-NOPE999", status=404)
    assert "We have no dataset S-NOPE999" in html
    assert "/search?query=xref:S-NOPE999" in html
    # The JSON API keeps its JSON errors.
    assert client.get("/api/v1/datasets/S-NOPE999").get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/no-such-endpoint").mimetype == "application/json"


@pytest.fixture(scope="module")
def linked_client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("linked")
    with RecordStore(tmp / "store.sqlite3") as store:
        with store.transaction() as db:
            store.save_record(db, Record(accession="S-BIAD900", source="bia", title="Correlative light and EM of cells",
                                         authors=[Author(name="Ada Lovelace", orcid="0000-0002-1825-0097")],
                                         links=[Link(type="empiar", value="EMPIAR-10442")]), b"{}", "h1")
            store.save_record(db, Record(accession="EMPIAR-10442", source="empiar", title="Tomograms of the same cells",
                                         links=[Link(type="biostudies", value="S-BIAD900")]), b"{}", "h2")
        full_build(store, tmp / "index")
    return create_app(None, SearchService(tmp / "index", tmp / "store.sqlite3")).test_client()


def test_linked_datasets_in_other_resources_are_links(linked_client):
    html = get(linked_client, "/datasets/S-BIAD900")
    assert '<a href="/datasets/EMPIAR-10442">EMPIAR-10442: Tomograms of the same cells</a>' in html
    assert "source-empiar" in html
    back = get(linked_client, "/datasets/EMPIAR-10442")
    assert '<a href="/datasets/S-BIAD900">' in back
    assert "https://ftp.ebi.ac.uk/empiar/world_availability/10442/" in back


# -- the status page ----------------------------------------------------------------------


def test_status_page_shows_generation_runs_and_errors(client):
    html = get(client, "/status")
    generation = client.get("/healthz").get_json()["data"]["generation"]
    assert generation in html
    assert "Recent harvest runs" in html and "BioImage Archive (BIA)" in html
    page = Page(html)
    assert page.find("span", class_="status-partial")  # the sample's missing file lists
    errors = [t for _, t in page.find("summary") if "error" in t]
    assert errors and "/datasets/S-BIAD978" in html


def test_status_page_uses_the_operations_report_when_present(sample_settings):
    from bioimage_search.ops import make_app

    client = make_app(sample_settings).test_client()
    report = client.get("/api/v1/status").get_json()["data"]
    html = get(client, "/status")
    assert report["generation"]["name"] in html
    assert "Scheduler" in html and "Recent index builds" in html or not report["builds"]
    for source in report["sources"]:
        if source["schedule"]:
            assert source["schedule"]["next_run"] in html


def test_before_the_first_build_pages_say_so(tmp_path):
    client = create_app(None, SearchService(tmp_path / "index", tmp_path / "store.sqlite3")).test_client()
    html = get(client, "/search?query=cell", status=503)
    assert "The search index is being built" in html
    assert "No index has been built yet" in get(client, "/status")


# -- assets and markup --------------------------------------------------------------------


def test_assets_are_served_locally_and_pages_fetch_nothing_else(client):
    for url in ("/", "/datasets/S-BIAD1492", "/status"):
        html = get(client, url)
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            if ref.startswith(("/assets/", "/search", "/datasets/", "/status", "/api/", "#", "/")):
                continue
            # Outbound links to other resources are fine; nothing is loaded from them.
            assert not re.search(rf'<(?:script|link|img)[^>]+(?:src|href)="{re.escape(ref)}"', html), ref
    for asset in ("/assets/portal.css", "/assets/portal.js"):
        assert client.get(asset).status_code == 200


def test_every_control_has_a_label(client):
    for url in ("/search?query=cell", "/datasets/S-BIAD1492"):
        page = Page(get(client, url))
        labelled = {a["for"] for a, _ in page.find("label") if "for" in a}
        for tag in ("input", "select"):
            for attrs, _ in page.find(tag):
                if attrs.get("type") in ("hidden",) or attrs.get("type") == "checkbox":
                    continue  # checkboxes are wrapped in their label
                assert attrs.get("id") in labelled or attrs.get("aria-label"), (url, attrs)
        assert page.find("main") and page.find("header") and page.find("nav") and page.find("footer")
