"""Production serving with waitress (pure Python, threaded).

``bioimage-search serve --workers N --threads T``:

- ``N = 1``: this process serves with T threads and, if ``[scheduler] enabled``, runs the
  scheduler too when it gets ``<data_dir>/scheduler.lock``.
- ``N > 1``: this process becomes a supervisor: it binds the port, starts N worker
  processes (``spawn``) that all accept on that one listening socket with waitress, restarts
  a worker that dies, and holds the scheduler itself. Workers export metrics through
  ``PROMETHEUS_MULTIPROC_DIR`` so /metrics adds up every worker.

``waitress-serve --call bioimage_search.serving:create_app_from_env`` serves the app alone
(configuration from ``BIOIMAGE_SEARCH_CONFIG`` and ``BIOIMAGE_SEARCH_DATA_DIR``); run
``bioimage-search schedule`` beside it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from bioimage_search.config import Settings, load_settings
from bioimage_search.ops import make_app
from bioimage_search.scheduler import Scheduler, start_embedded

log = logging.getLogger(__name__)
CONFIG_ENV = "BIOIMAGE_SEARCH_CONFIG"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def create_app_from_env():
    """The app for ``waitress-serve --call``: settings from ``BIOIMAGE_SEARCH_CONFIG`` (a
    config file; default ./config.toml) and ``BIOIMAGE_SEARCH_DATA_DIR``. No scheduler."""
    return make_app(load_settings(os.environ.get(CONFIG_ENV) or None))


def serve(settings: Settings, host: str, port: int, *, workers: int = 1, threads: int = 8,
          echo: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or Ctrl-C; see the module docstring."""
    scheduler = start_embedded(settings)
    where = "scheduler: here" if scheduler else "scheduler: not in this process"
    try:
        if workers <= 1:
            _serve_here(settings, host, port, threads, scheduler, lambda url: echo(f"serving on {url} (1 process x {threads} threads; {where})"))
        else:
            _supervise(settings, host, port, workers, threads, lambda url: echo(f"serving on {url} ({workers} processes x {threads} threads; {where})"))
    finally:
        if scheduler:
            scheduler.shutdown()


def _serve_here(settings: Settings, host: str, port: int, threads: int, scheduler: Scheduler | None, announce) -> None:
    from waitress import create_server

    server = create_server(_opened(make_app(settings, scheduler)), host=host, port=port, threads=threads)
    announce(f"http://{host}:{server.effective_port}/")
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()


def _opened(app):
    """``app`` with its index being opened and warmed already (every worker process would
    otherwise open it at the first request it happens to get)."""
    app.extensions["search_service"].open_in_background()
    return app


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(0)


def _supervise(settings: Settings, host: str, port: int, workers: int, threads: int, announce) -> None:
    sock = socket.create_server((host, port), backlog=1024)
    metrics_dir = tempfile.mkdtemp(prefix="bioimage-search-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # before the workers import prometheus_client
    context = multiprocessing.get_context("spawn")
    loads = context.Array("i", workers, lock=False)  # open connections per worker slot
    beats = context.Array("d", workers, lock=False)  # when each slot last reported (monotonic)

    def start(slot: int) -> multiprocessing.Process:
        balance = AcceptBalance(loads, beats, slot)
        proc = context.Process(target=_worker, args=(settings, sock, threads, os.getpid(), balance), daemon=False)
        proc.start()
        return proc

    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = [start(slot) for slot in range(workers)]
    announce(f"http://{host}:{sock.getsockname()[1]}/")
    try:
        while not stop.wait(0.5):
            for i, proc in enumerate(procs):
                if not proc.is_alive():
                    log.warning("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
                    _mark_dead(proc.pid)
                    procs[i] = start(i)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        _stop_all(procs)
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop(MULTIPROC_ENV, None)


def _stop_all(procs: list) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in procs:
        proc.join(max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()


def _mark_dead(pid: int | None) -> None:
    from prometheus_client import multiprocess

    if pid is not None and os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


class AcceptBalance:
    """Spreads connections evenly over the workers sharing one listening socket.

    Clients keep their connections open (keep-alive), so a connection stays with the worker
    that accepted it. Left alone, whichever worker polls the socket first takes the next
    connection: 8 connections opened one after another went 8:0, 7:1 or 6:2 to 2 workers
    in trials, and the busy worker's queue set the latency while the other idled. With this, a worker
    accepts only while it holds no more open connections than the least busy worker that
    has reported in the last ``STALE_S`` seconds (a hung or dead worker stops counting).
    """

    STALE_S = 5.0

    def __init__(self, loads, beats, slot: int):
        self.loads, self.beats, self.slot = loads, beats, slot

    def allows(self, open_now: int) -> bool:
        """Report ``open_now`` connections for this worker; whether it may accept another."""
        now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the machine
        self.loads[self.slot] = open_now
        self.beats[self.slot] = now
        live = [load for load, beat in zip(self.loads, self.beats) if now - beat < self.STALE_S]
        return open_now <= min(live)

    def install(self, server) -> None:
        """Make waitress's ``server`` take part: its listening socket is polled for new
        connections only while :meth:`allows` says so (waitress asks every loop turn,
        at least once a second)."""
        readable = server.readable

        def balanced_readable() -> bool:
            return readable() and self.allows(len(server.active_channels))

        server.readable = balanced_readable


def _worker(settings: Settings, sock: socket.socket, threads: int, parent: int,
            balance: AcceptBalance | None = None) -> None:
    """One web worker: waitress on the supervisor's listening socket; exits with its parent."""
    from waitress import create_server

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s[%(process)d]: %(message)s", stream=sys.stderr)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    server = create_server(_opened(make_app(settings)), sockets=[sock], threads=threads)
    if balance is not None:
        balance.install(server)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
