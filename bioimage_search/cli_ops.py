"""Operator commands: ``schedule`` (the dedicated scheduler process), ``status`` and
``rollback``. Registered on the main group at the end of :mod:`bioimage_search.cli`.

The scheduler and the status report are imported when a command runs, so that they cost
nothing to the start-up of every other command."""

from __future__ import annotations

import signal
import sys

import click
import orjson

from bioimage_search.config import ConfigError, Settings
from harvesters.base import OUTCOMES
from harvesters.store import StoreError
from indexer.builder import IndexBusyError, writer_lock
from indexer.generations import NoIndexError, NoRollbackError, current, rollback as rollback_generation


@click.command()
@click.pass_obj
def schedule(settings: Settings) -> None:
    """Run the scheduler in the foreground: each source's harvest (then an index update) and
    the full rebuild on their crons. Only one scheduler runs per data directory."""
    from bioimage_search.scheduler import Scheduler, lock_holder, next_runs

    try:
        scheduler = Scheduler(settings, blocking=True)
        for row in next_runs(settings):
            click.echo(f"schedule: {row['id']}: cron {row['cron']!r}, next {row['next_run']}", err=True)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        if not scheduler.start():  # blocks until stopped
            raise click.ClickException(
                f"another process (pid {lock_holder(settings.data_dir)}) runs the scheduler of {settings.data_dir}"
            )
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        scheduler.shutdown()
    click.echo("schedule: stopped", err=True)


def _exit(signum, frame) -> None:
    raise SystemExit(0)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.pass_obj
def status(settings: Settings, as_json: bool) -> None:
    """Live generation, documents per source, last harvest runs and their errors, recent
    builds, next scheduled runs."""
    from bioimage_search.ops import status_report

    try:
        report = status_report(settings)
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        return
    for line in _describe(report):
        click.echo(line)


def _describe(report: dict):
    gen = report["generation"]
    if gen:
        per_source = ", ".join(f"{s} {n}" for s, n in sorted(gen["per_source"].items())) or "none"
        yield (f"live generation: {gen['name']} (created {gen['created']}, updated {gen['updated']}), "
               f"{gen['documents']} documents ({per_source}), {gen['size_bytes'] / 1e6:.1f} MB, "
               f"{gen['changes_not_indexed']} store changes not indexed yet")
    else:
        yield "live generation: none (run 'bioimage-search index')"
    live = report["store"]["live_records"]
    yield f"record store: {sum(live.values())} live records ({', '.join(f'{s} {n}' for s, n in sorted(live.items())) or 'none'})"
    for source in report["sources"]:
        plan = source["schedule"]
        when = f"cron {plan['cron']!r}, next {plan['next_run']}" if plan else "not scheduled"
        yield f"source {source['name']} (records: {source['record_source']}; {when})"
        for run in source["runs"]:
            counts = ", ".join(f"{run['counts'].get(k, 0)} {k}" for k in OUTCOMES if run["counts"].get(k))
            yield f"  run {run['id']}: {run['status']} {run['started_at']} .. {run['ended_at'] or '-'}{' full' if run['full'] else ''}: {counts or 'no records'}"
            for error in run["errors"]:
                yield f"    error [{error['stage']}] {error['accession'] or '-'} {error['source_url'] or ''}: {error['message']}"
    for build in report["builds"]:
        yield (f"build {build['kind']} {build.get('generation')}: {build['outcome']}"
               f"{' (' + build['reason'] + ')' if build.get('reason') else ''} at {build.get('started')}, "
               f"{build.get('documents', '-')} documents")
    sched = report["scheduler"]
    yield f"scheduler: {'running in pid ' + str(sched['pid']) if sched['pid'] else 'not running'}{'' if sched['enabled'] else ' (disabled in serve)'}"
    if sched.get("error"):
        yield f"  configuration error: {sched['error']}"
    for job in sched["jobs"]:
        yield f"  next {job['id']}: {job['next_run']} (cron {job['cron']!r})"


@click.command()
@click.pass_obj
def rollback(settings: Settings) -> None:
    """Point the live index back at the previous finished generation."""
    try:
        with writer_lock(settings.index_dir):
            was, now = rollback_generation(settings.index_dir)
            behind = current(settings.index_dir).meta.get("last_seq", 0)
    except (IndexBusyError, NoIndexError, NoRollbackError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"rollback: live generation is now {now} (was {was}); it holds store changes up to "
               f"sequence {behind}, the next 'bioimage-search index' applies later ones", err=True)


COMMANDS = (schedule, status, rollback)
