"""The ``bioimage-search`` command line: harvest, index, export, search, serve.

Every command ends with a one-line summary on stderr; data (export, search --json) goes to
stdout.
"""

from __future__ import annotations

import logging
import sys
from time import monotonic

import click
import orjson

from bioimage_search.cli_dump import dump
from bioimage_search.config import ConfigError, Settings, load_settings
from bioimage_search.pipeline import JobBusyError, harvest_source
from bioimage_search.progress import progress
from bioimage_search.sources import FACTORIES
from harvesters.base import RunSummary
from harvesters.store import RecordStore, StoreError
from indexer.builder import BuildRejectedError, IndexBusyError, full_build, update
from indexer.generations import NoIndexError
from query.errors import QuerySyntaxError
from query.params import ParamError, parse_search_params
from query.service import SearchService


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file (default ./config.toml).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the store and index live (env BIOIMAGE_SEARCH_DATA_DIR).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, data_dir: str | None, verbose: bool) -> None:
    """Harvest, index and search microscopy dataset metadata."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        ctx.obj = load_settings(config_path, data_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _store(settings: Settings) -> RecordStore:
    try:
        return RecordStore(settings.store_path)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def harvest() -> None:
    """Pull dataset metadata from a source into the record store."""


def _harvest_source(settings: Settings, source: str, location: str | None, full: bool) -> RunSummary:
    # The pipeline holds the source's harvest lock and records a store failure as a failed run.
    with progress(f"harvest {source}") as tick:
        try:
            return harvest_source(settings, source, location, full=full, on_record=tick)
        except (StoreError, JobBusyError) as exc:
            raise click.ClickException(str(exc)) from exc


def _harvest_command(source: str) -> click.Command:
    @click.option("--from", "location", help="Mirror folder or API base URL (default from config).")
    @click.option("--full", is_flag=True, help="Re-read every record; records gone from the source are deleted.")
    @click.pass_obj
    def command(settings: Settings, location: str | None, full: bool) -> None:
        summary = _harvest_source(settings, source, location, full)
        click.echo(summary.line(), err=True)
        if summary.status == "failed":
            raise click.ClickException(f"harvest {source} failed: {summary.errors[0].message}")

    command.__doc__ = f"Harvest the {source} source into the record store."
    return click.command(source)(command)


for _source in FACTORIES:
    harvest.add_command(_harvest_command(_source))


@harvest.command("all")
@click.option("--full", is_flag=True, help="Re-read every record of every source.")
@click.pass_obj
def harvest_all(settings: Settings, full: bool) -> None:
    """Harvest every configured source, one after the other."""
    failed = []
    for source in FACTORIES:
        summary = _harvest_source(settings, source, None, full)
        click.echo(summary.line(), err=True)
        if summary.status == "failed":
            failed.append(source)
    if failed:
        raise click.ClickException(f"harvest failed for {', '.join(failed)}")


@main.command()
@click.option("--full", is_flag=True, help="Build a new generation from the whole store and swap it in.")
@click.pass_obj
def index(settings: Settings, full: bool) -> None:
    """Build or update the search index from the record store."""
    with _store(settings) as store, progress("index") as tick:
        try:
            if full:
                summary = full_build(store, settings.index_dir, keep=settings.index.keep_generations, segment_records=settings.index.segment_records, workers=settings.index.build_workers, min_fraction=settings.index.min_fraction, on_record=tick)
            else:
                summary = update(store, settings.index_dir, keep=settings.index.keep_generations)
        except (IndexBusyError, BuildRejectedError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(summary.line(), err=True)


@main.command()
@click.option("--source", type=click.Choice(["bia", "empiar", "idr", "jcb"]), help="Only this source.")
@click.pass_obj
def export(settings: Settings, source: str | None) -> None:
    """Write normalised records as JSON Lines on stdout."""
    started, count = monotonic(), 0
    out = sys.stdout.buffer
    with _store(settings) as store:
        for record in store.iter_records(source):
            out.write(record.to_json() + b"\n")
            count += 1
    out.flush()
    click.echo(f"export: {count} records in {monotonic() - started:.1f}s", err=True)


@main.command()
@click.argument("query", default="")
@click.option("--json", "as_json", is_flag=True, help="Print the full JSON result.")
@click.option("--page", default=1, show_default=True)
@click.option("--page-size", default=20, show_default=True)
@click.option("--facet", "facets", multiple=True, metavar="NAME=VALUE", help="Facet filter, repeatable.")
@click.pass_obj
def search(settings: Settings, query: str, as_json: bool, page: int, page_size: int, facets: tuple[str, ...]) -> None:
    """Search the index from the command line."""
    started = monotonic()
    args: dict[str, list[str]] = {"query": [query], "page": [str(page)], "pageSize": [str(page_size)]}
    for item in facets:
        name, _, value = item.partition("=")
        args.setdefault(f"facet.{name}", []).append(value)
    service = SearchService(settings.index_dir, settings.store_path)
    try:
        result = service.search(parse_search_params(args))
    except (QuerySyntaxError, ParamError, NoIndexError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for hit in result["hits"]:
            click.echo(f"{hit['accession']}\t{hit.get('release_date') or '-'}\t{hit['title']}")
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"search: {result['totalHits']} hits, showing {len(result['hits'])} in {monotonic() - started:.2f}s", err=True)


@main.command()
@click.option("--host", help="Address to listen on (default from config).")
@click.option("--port", type=int, help="Port (default from config; 0 picks a free one).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Web processes sharing the port.")
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True, help="Request threads per process.")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, workers: int, threads: int) -> None:
    """Serve the API and portal with waitress; also runs the scheduler when [scheduler]
    enabled and no other process holds <data_dir>/scheduler.lock."""
    from bioimage_search.serving import serve as run_server

    host = host or settings.server.host
    port = settings.server.port if port is None else port
    try:
        run_server(settings, host, port, workers=workers, threads=threads, echo=lambda line: click.echo(line, err=True))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("serve: stopped", err=True)


main.add_command(dump)


from bioimage_search.cli_ops import COMMANDS as _OPS_COMMANDS  # noqa: E402  schedule, status, rollback

for _command in _OPS_COMMANDS:
    main.add_command(_command)
