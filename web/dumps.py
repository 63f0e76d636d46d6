"""/dumps/: the latest bulk dump in the configured dump folder (written by
``bioimage-search dump``): a JSON listing with the manifest, and the files themselves."""

from __future__ import annotations

from flask import Blueprint, send_from_directory

from query.dumps import MANIFEST, read_manifest
from web.api import envelope
from web.errors import ApiError
from web.partners import settings, site

dumps = Blueprint("dumps", __name__)


def _manifest() -> dict:
    manifest = read_manifest(settings().dump_dir)
    if manifest is None:
        raise ApiError(404, "not_found", "no dump has been written yet (run `bioimage-search dump`)")
    return manifest


@dumps.get("/dumps/")
def listing():
    """The manifest, and a download URL per file."""
    manifest = _manifest()
    files = [{**f, "url": site().url(f"/dumps/{f['name']}")} for f in manifest["files"]]
    files.append({"name": MANIFEST, "url": site().url(f"/dumps/{MANIFEST}"), "media_type": "application/json"})
    return envelope({"manifest": manifest, "files": files})


@dumps.get("/dumps/<name>")
def download(name: str):
    """One file of the dump (only the files its manifest names, and the manifest)."""
    manifest = _manifest()
    if name != MANIFEST and name not in {f["name"] for f in manifest["files"]}:
        raise ApiError(404, "not_found", f"the dump has no file {name!r}")
    mimetype = "application/json" if name == MANIFEST else "application/gzip"
    return send_from_directory(settings().dump_dir, name, mimetype=mimetype, max_age=0)
