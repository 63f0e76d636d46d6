"""Bulk dumps for mirrors: gzip NDJSON of every record, gzip JSON-LD lines of the same
records, and ``manifest.json`` (counts per source, index generation, creation time, size and
SHA-256 of each file). Records stream from the store cursor to the compressors one at a
time; nothing holds the whole set. Files are written under temporary names and moved into
place, manifest last, so a reader never sees a half-written dump.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import Counter
from pathlib import Path

import orjson

from harvesters.records import utc_now
from harvesters.store import RecordStore
from query import jsonld
from query.site import Site

MANIFEST = "manifest.json"
FORMAT = "bioimage-search-dump/1"
FILES = {
    "records.ndjson.gz": ("records", "application/x-ndjson"),
    "records.jsonld.gz": ("schema.org JSON-LD, one Dataset per line", "application/ld+json"),
}
CHUNK = 1 << 20


def write_dump(store: RecordStore, out_dir: Path, site: Site, generation: str | None, source: str | None = None) -> dict:
    """Write a dump of the live records (of ``source``) into ``out_dir``; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    created = utc_now()
    tmp = {name: out_dir / f".{name}.tmp" for name in FILES}
    counts: Counter = Counter()
    with gzip.GzipFile(tmp["records.ndjson.gz"], "wb", mtime=0) as ndjson, gzip.GzipFile(tmp["records.jsonld.gz"], "wb", mtime=0) as ld:
        for record in store.iter_records(source):
            ndjson.write(record.to_json() + b"\n")
            ld.write(orjson.dumps(jsonld.dataset(record, site)) + b"\n")
            counts[record.source] += 1
    files = []
    for name, (content, media_type) in FILES.items():
        os.replace(tmp[name], out_dir / name)
        files.append({"name": name, "content": content, "media_type": media_type, "encoding": "gzip", "records": sum(counts.values()), **_digest(out_dir / name)})
    manifest = {
        "format": FORMAT,
        "created": created,
        "generation": generation,
        "store_seq": store.current_seq(),
        "source": source,
        "counts": dict(sorted(counts.items())),
        "total": sum(counts.values()),
        "files": files,
    }
    partial = out_dir / f".{MANIFEST}.tmp"
    partial.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(partial, out_dir / MANIFEST)
    return manifest


def _digest(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of the dump in ``out_dir``, or None if there is none (or it is unreadable)."""
    try:
        return orjson.loads((out_dir / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
