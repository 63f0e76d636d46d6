"""The portal in a real browser: Playwright driving Debian's headless Chromium against the
app served on loopback. CI installs Chromium in .ci/run; elsewhere these tests skip when
it is missing (and fail under CI=true, so a missing browser never passes silently)."""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from harvesters.records import Link, Record
from harvesters.store import RecordStore
from indexer.builder import full_build
from query.service import SearchService
from web import create_app

playwright_api = pytest.importorskip("playwright.sync_api")
from werkzeug.serving import make_server  # noqa: E402

CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: .ci/run installs it with apt-get")
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


class Server:
    """A WSGI app on 127.0.0.1 and a free port, served from a thread."""

    def __init__(self, app):
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.thread.join(5)


@pytest.fixture(scope="module")
def server(sample_settings):
    running = Server(create_app(sample_settings))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def linked_server(tmp_path_factory):
    """Two datasets in different resources that link to each other."""
    tmp = tmp_path_factory.mktemp("linked-browser")
    with RecordStore(tmp / "store.sqlite3") as store:
        with store.transaction() as db:
            store.save_record(db, Record(accession="S-BIAD900", source="bia", title="Correlative light and EM of cells",
                                         links=[Link(type="empiar", value="EMPIAR-10442")]), b"{}", "h1")
            store.save_record(db, Record(accession="EMPIAR-10442", source="empiar", title="Tomograms of the same cells",
                                         links=[Link(type="biostudies", value="S-BIAD900")]), b"{}", "h2")
        full_build(store, tmp / "index")
    running = Server(create_app(None, SearchService(tmp / "index", tmp / "store.sqlite3")))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, errors


def args_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def api_search(page, server, url: str) -> dict:
    response = page.request.get(f"{server.url}/api/v1/search?{urlsplit(url).query}")
    assert response.ok
    return response.json()["data"]


def heading_total(page) -> int:
    text = page.locator("#results-heading").inner_text()
    return int(re.match(r"([\d,]+) datasets?", text).group(1).replace(",", ""))


def test_search_journey(page, server):
    """Type, pick a suggestion, tick two facet values, page forward, open a dataset;
    the URL round-trips the state and the counts match the API."""
    page.goto(server.url + "/")
    box = page.get_by_role("combobox", name="Search datasets")
    box.press_sequentially("cel", delay=30)
    listbox = page.get_by_role("listbox")
    listbox.wait_for()
    option = page.get_by_role("option", name=re.compile(r"^cell, Search term, \d+ datasets$"))
    with page.expect_navigation():
        option.click()
    assert args_of(page.url)["query"] == ["cell"]
    assert box.input_value() == "cell"

    for label in ("Homo sapiens", "Mus musculus"):
        checkbox = page.locator("#facet-organism").get_by_role("checkbox", name=re.compile(f"^{label} "))
        with page.expect_navigation():
            checkbox.check()
    args = args_of(page.url)
    assert args["facet.organism"] == ["NCBITaxon:9606", "NCBITaxon:10090"]
    assert page.locator("#facet-organism input:checked").count() == 2

    with page.expect_navigation():
        page.get_by_label("Per page").select_option("10")
    total = heading_total(page)
    data = api_search(page, server, page.url)
    assert total == data["totalHits"] > 10
    shown = {b["key"]: b["count"] for f in data["facets"] if f["name"] == "license" for b in f["buckets"]}
    for key, count in shown.items():
        label = page.locator(f'#facet-license input[value="{key}"]').locator("xpath=..").inner_text()
        assert label.split()[-2] == str(count)

    first_page = page.locator(".hit-title").all_inner_texts()
    with page.expect_navigation():
        page.get_by_role("link", name="Next page").click()
    args = args_of(page.url)
    assert args["page"] == ["2"] and args["pageSize"] == ["10"] and args["query"] == ["cell"]
    second_page = page.locator(".hit-title").all_inner_texts()
    assert second_page and not set(first_page) & set(second_page)
    assert [h["title"] for h in api_search(page, server, page.url)["hits"]] == [t.strip() for t in second_page]

    page.reload()
    assert page.locator(".hit-title").all_inner_texts() == second_page
    assert page.locator("#facet-organism input:checked").count() == 2
    page.go_back()
    assert "page" not in args_of(page.url)
    assert page.locator(".hit-title").all_inner_texts() == first_page
    assert page.get_by_label("Per page").input_value() == "10"

    title = page.locator(".hit-title a").first
    name = title.inner_text()
    with page.expect_navigation():
        title.click()
    assert page.url.startswith(server.url + "/datasets/")
    assert page.get_by_role("heading", level=1).inner_text() == name


def test_autocomplete_by_keyboard_only(page, server):
    page.goto(server.url + "/")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    box = page.locator("#q")
    page.keyboard.type("hum", delay=40)
    page.get_by_role("listbox").wait_for()
    assert box.get_attribute("aria-expanded") == "true"
    options = page.get_by_role("listbox").get_by_role("option")
    texts = options.all_inner_texts()
    assert any("Organism" in t for t in texts), texts

    page.keyboard.press("ArrowDown")
    first = options.nth(0)
    assert box.get_attribute("aria-activedescendant") == first.get_attribute("id")
    assert first.get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowUp")  # wraps to the last option
    assert options.nth(options.count() - 1).get_attribute("aria-selected") == "true"

    page.keyboard.press("Escape")
    assert box.get_attribute("aria-expanded") == "false"
    assert not page.get_by_role("listbox").is_visible()
    assert box.input_value() == "hum"

    page.keyboard.press("ArrowDown")  # reopens
    page.get_by_role("listbox").wait_for()
    facet_index = next(i for i, t in enumerate(options.all_inner_texts()) if "Organism" in t)
    for _ in range(facet_index + 1):
        page.keyboard.press("ArrowDown")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    args = args_of(page.url)
    assert args["facet.organism"] == ["NCBITaxon:9606"]
    assert "query" not in args
    assert page.locator('#facet-organism input[value="NCBITaxon:9606"]').is_checked()
    assert heading_total(page) == api_search(page, server, page.url)["totalHits"]


def test_histogram_bar_filters_by_year(page, server):
    page.goto(server.url + "/search?query=cell")
    bar = page.locator(".histogram a.bar").first
    year = bar.get_attribute("data-year")
    count = int(bar.get_attribute("data-count"))
    with page.expect_navigation():
        bar.click()
    assert args_of(page.url)["facet.release_year"] == [year]
    assert heading_total(page) == count
    dates = page.locator(".hit-meta time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))")
    assert dates and all(d.startswith(year) for d in dates)


def test_dataset_file_table_filters(page, server):
    page.goto(server.url + "/datasets/S-BIAD1492")
    assert page.locator(".files-table tbody tr").count() == 13
    with page.expect_navigation():
        page.locator("#files").get_by_role("checkbox", name=re.compile(r"^high ")).check()
    rows = page.locator(".files-table tbody tr")
    assert rows.count() == 4
    assert all(re.search(r"SNR\s*:?\s*high", t) for t in rows.all_inner_texts())
    assert args_of(page.url)["attr.SNR"] == ["high"]
    page.get_by_label("Search file names and attributes").fill("c75")
    with page.expect_navigation():
        page.get_by_label("Search file names and attributes").press("Enter")
    assert page.locator(".files-table .path").all_inner_texts() == ["BBBC024/BBBC024_v1_c75_highSNR_images_TIFF/image-final_0012.tif"]
    page.go_back()
    assert page.locator(".files-table tbody tr").count() == 4
    jsonld = page.evaluate("JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)")
    assert jsonld["@type"] == "Dataset"


def test_follow_a_cross_resource_link(page, linked_server):
    page.goto(linked_server.url + "/datasets/S-BIAD900")
    with page.expect_navigation():
        page.get_by_role("link", name="EMPIAR-10442: Tomograms of the same cells").click()
    assert page.url == linked_server.url + "/datasets/EMPIAR-10442"
    assert page.locator(".dataset-header .source").inner_text() == "EMPIAR"
    assert page.get_by_role("link", name="S-BIAD900: Correlative light and EM of cells").is_visible()


@pytest.mark.parametrize("path", ["/search?query=cell", "/datasets/S-BIAD1492", "/status", "/search?query=title:(x&mode=strict", "/datasets/S-NOPE1"])
def test_phone_width_has_no_horizontal_scroll(browser, server, path):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto(server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
        assert page.locator(".filters-panel").count() == 0 or not page.locator(".filters-panel").evaluate("el => el.open")
    finally:
        context.close()


CONTRAST_JS = """() => {
  const lum = (c) => {
    const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === "hidden" || style.display === "none" || el.closest(".visually-hidden, [hidden], svg")) continue;
    if (!el.getClientRects().length) continue;
    const fg = rgba(style.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) failures.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return failures;
}"""


@pytest.mark.parametrize("path", ["/search?query=cell&facet.organism=NCBITaxon:9606", "/datasets/S-BIAD1492?attr.SNR=high", "/status",
                                  "/search?query=title:(x&mode=strict", "/search?query=zebrafsh"])
def test_text_contrast_is_at_least_4_5(page, server, path):
    page.goto(server.url + path)
    for details in page.locator("details").all():
        details.evaluate("el => el.open = true")
    assert page.evaluate(CONTRAST_JS) == []


def test_focus_is_visible(page, server):
    page.goto(server.url + "/search?query=cell")
    for _ in range(6):
        page.keyboard.press("Tab")
        outline = page.evaluate("(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()")
        assert outline[0] != "none" and outline[1] != "0px", page.evaluate("document.activeElement.outerHTML.slice(0, 80)")


def test_works_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        page.get_by_label("Search datasets").fill("cell")
        with page.expect_navigation():
            page.get_by_role("button", name="Search", exact=True).click()
        page.locator("#facet-organism").get_by_role("checkbox", name=re.compile("^Homo sapiens ")).check()
        with page.expect_navigation():
            page.get_by_role("button", name="Apply filters").click()
        args = args_of(page.url)
        assert args["query"] == ["cell"] and args["facet.organism"] == ["NCBITaxon:9606"]
        assert heading_total(page) == api_search(page, server, page.url)["totalHits"]
    finally:
        context.close()
