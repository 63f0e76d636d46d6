"""``bioimage-search dump``: bulk dumps (gzip NDJSON + gzip JSON-LD lines + manifest.json)
of the record store for mirrors; /dumps/ serves the configured dump folder."""

from __future__ import annotations

from pathlib import Path
from time import monotonic

import click

from bioimage_search.config import Settings
from harvesters.records import SOURCES
from harvesters.store import RecordStore, StoreError
from indexer.generations import NoIndexError, current
from query.dumps import write_dump
from query.site import Site


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder to write (default: [dumps] dump_dir, which /dumps/ serves).")
@click.option("--source", type=click.Choice(SOURCES), help="Only this source's records.")
@click.pass_obj
def dump(settings: Settings, out_dir: str | None, source: str | None) -> None:
    """Write every live record as gzip NDJSON and JSON-LD lines, with a manifest."""
    started = monotonic()
    target = Path(out_dir).resolve() if out_dir else settings.dump_dir
    try:
        generation = current(settings.index_dir).name
    except NoIndexError:
        generation = None
    try:
        with RecordStore(settings.store_path) as store:
            manifest = write_dump(store, target, Site(settings.site.base_url), generation, source)
    except (StoreError, OSError) as exc:
        raise click.ClickException(f"dump failed: {exc}") from exc
    counts = ", ".join(f"{n} {s}" for s, n in manifest["counts"].items()) or "no records"
    click.echo(f"dump: {manifest['total']} records ({counts}) to {target} in {monotonic() - started:.1f}s", err=True)
