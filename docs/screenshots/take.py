"""Regenerate the portal screenshots in this folder.

Harvests every bundled sample source into a temporary data folder, builds the index,
serves the app (as ``bioimage-search serve`` builds it) on loopback and photographs the main pages with Debian's Chromium through
Playwright (no browser download)::

    .venv/bin/python docs/screenshots/take.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = [
    # (file, path, viewport width, viewport height, full page)
    ("search.png", "/search?query=cell&facet.organism=NCBITaxon:9606&facet.organism=NCBITaxon:10090&pageSize=5", 1280, 900, True),
    ("dataset.png", "/datasets/S-BIAD1492?attr.SNR=high", 1280, 900, True),
    ("status.png", "/status", 1280, 900, True),
    ("search-phone.png", "/search?query=zebrafish", 360, 780, False),
]


def build(data: Path) -> None:
    cli = [str(Path(sys.executable).with_name("bioimage-search")), "--data-dir", str(data)]
    subprocess.run([*cli, "harvest", "all"], check=False, cwd=ROOT, capture_output=True)
    subprocess.run([*cli, "index", "--full"], check=True, cwd=ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bioimage_search.config import load_settings
    from bioimage_search.ops import make_app

    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        app = make_app(load_settings(ROOT / "config.toml", data_dir=tmp, environ={}))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=options.chromium, args=CHROMIUM_ARGS)
                for name, path, width, height, full in SHOTS:
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(base + path)
                    page.screenshot(path=str(OUT / name), full_page=full)
                    page.close()
                    print(f"wrote {OUT / name}")
                browser.close()
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
