"""Run the benchmark: one command, one subprocess per corpus size.

    python -m benchmarks.run --sizes 10000,100000 --out benchmarks/results

For each size a fresh Python process generates the corpus (deterministic by seed), fills
a RecordStore with it, and runs the same 204-query mix through:

1. ``ours``      our SearchService in-process, over production ``full_build`` of the store;
2. ``ours_http`` the Flask app (waitress, else werkzeug threaded) served as ``serve --workers``
                 does (``--server-workers`` processes of ``--server-threads`` threads) on 127.0.0.1, with N concurrent
                 keep-alive clients sharing the mix;
3. ``whoosh``    plain Whoosh (straightforward schema, MultifieldParser, groupedby facets);
4. ``fts5``      SQLite FTS5 with facet counts by GROUP BY;
5. ``tantivy``   PyPI tantivy (the reference for what the hardware allows).

It measures build rate, index size, p50/p95/p99 latency per query kind, a cached repeat
(the same query again straight after), throughput under concurrency, peak RSS, and ratios
of ours against each reference, and writes ``results-<size>.json`` plus a combined
``README.md`` in ``--out``. Each build and each query phase has a time budget; an engine
past its build budget is skipped with a note, a query phase past its budget stops early
and says how many queries it ran (the mix is interleaved by kind, so a prefix is balanced).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import io
import json
import math
import os
import platform
import pstats
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import orjson

ENGINES = ("ours", "ours_http", "whoosh", "fts5", "tantivy")
REFERENCES = ("whoosh", "fts5", "tantivy")
KINDS = ("term", "and", "phrase", "fielded", "faceted", "sorted")
ONE_MILLION = 1_000_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- measuring


def _rss_bytes(pid: int) -> int | None:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return None
    except Exception:  # the process ended
        return None


def _tree_memory(pid: int, pss: bool) -> int | None:
    """RSS (or, with ``pss``, proportional set size: shared pages divided among the processes
    mapping them) summed over a process and its descendants."""
    try:
        import psutil

        root = psutil.Process(pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss if pss else proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total
    except ImportError:
        return None if pss else _rss_bytes(pid)
    except Exception:  # the process ended
        return None


class RssSampler(threading.Thread):
    """Samples the RSS of watched processes every ``interval`` s; keeps the peak per phase.
    A process watched with ``tree=True`` counts with its descendants, and also gets a
    ``<label>_pss`` peak (sampled every second: reading it is slower)."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval = interval
        self.pids: dict[str, int] = {"runner": os.getpid()}
        self.trees: set[str] = set()
        self.phase_name = "start"
        self.peaks: dict[str, dict[str, int]] = {}
        self.starts: dict[str, dict[str, int]] = {}
        self.load: dict[str, dict] = {}  # phase -> wall, cpu of this process, load average
        self._load_samples: list[float] = []
        self._phase_t = (time.perf_counter(), _cpu_seconds())
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _close_phase(self) -> None:
        wall = time.perf_counter() - self._phase_t[0]
        cpu = _cpu_seconds() - self._phase_t[1]
        samples = self._load_samples or [os.getloadavg()[0]]
        self.load[self.phase_name] = {
            "wall_s": round(wall, 2), "runner_cpu_s": round(cpu, 2),
            "runner_cpu_share": round(cpu / wall, 2) if wall > 0 else None,
            "loadavg_1m_mean": round(sum(samples) / len(samples), 2), "loadavg_1m_max": round(max(samples), 2),
        }
        self._load_samples = []
        self._phase_t = (time.perf_counter(), _cpu_seconds())

    def phase(self, name: str) -> None:
        with self._lock:
            self._close_phase()
            self.phase_name = name
            self.starts[name] = {k: v for k, v in ((k, _rss_bytes(p)) for k, p in self.pids.items()) if v}
            self.peaks.setdefault(name, dict(self.starts[name]))

    def watch(self, label: str, pid: int | None, tree: bool = False) -> None:
        with self._lock:
            if pid is None:
                self.pids.pop(label, None)
                self.trees.discard(label)
            else:
                self.pids[label] = pid
                if tree:
                    self.trees.add(label)

    def run(self) -> None:
        tick = 0
        while not self._stop.wait(self.interval):
            tick += 1
            with self._lock:
                if tick % 20 == 0:
                    self._load_samples.append(os.getloadavg()[0])
                peaks = self.peaks.setdefault(self.phase_name, {})
                for label, pid in list(self.pids.items()):
                    if label in self.trees:
                        rss = _tree_memory(pid, pss=False)
                        if tick % 20 == 0:
                            pss = _tree_memory(pid, pss=True)
                            if pss and pss > peaks.get(f"{label}_pss", 0):
                                peaks[f"{label}_pss"] = pss
                    else:
                        rss = _rss_bytes(pid)
                    if rss and rss > peaks.get(label, 0):
                        peaks[label] = rss

    def stop(self) -> None:
        with self._lock:
            self._close_phase()
        self._stop.set()

    def load_of(self, phases: list[str]) -> dict:
        return {p: self.load[p] for p in phases if p in self.load}

    def mb(self, phases: list[str], label: str = "runner") -> dict:
        peak = max((self.peaks.get(p, {}).get(label, 0) for p in phases), default=0)
        start = self.starts.get(phases[0], {}).get(label, 0) if phases else 0
        return {"peak_mb": round(peak / 2**20, 1), "at_start_mb": round(start / 2**20, 1)}


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarise(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50": round(pct(ms, 50), 3), "p95": round(pct(ms, 95), 3), "p99": round(pct(ms, 99), 3),
            "mean": round(sum(ms) / len(ms), 3), "max": round(max(ms), 3)}


def latency_tables(per_query: list[dict]) -> dict:
    ok = [r for r in per_query if "ms" in r]
    out = {"overall": summarise([r["ms"] for r in ok]),
           "by_kind": {k: summarise([r["ms"] for r in ok if r["kind"] == k]) for k in KINDS},
           "repeat": summarise([r["repeat_ms"] for r in ok if "repeat_ms" in r]),
           "repeat_first_run": summarise([r["ms"] for r in ok if "repeat_ms" in r]),
           "zero_hits": sum(1 for r in ok if r.get("total") == 0),
           "errors": sum(1 for r in per_query if "error" in r)}
    return out


def run_mix(engine, mix, facets_all: bool, budget: float, repeat_every: int) -> dict:
    per_query: list[dict] = []
    started = time.perf_counter()
    partial = False
    for q in mix:
        if time.perf_counter() - started > budget:
            partial = True
            break
        want = True if facets_all else q.facets
        rec: dict = {"id": q.id, "kind": q.kind}
        try:
            t = time.perf_counter()
            rec["total"] = engine.search(q, want)
            rec["ms"] = (time.perf_counter() - t) * 1e3
            if repeat_every and (q.id // len(KINDS)) % repeat_every == 0:  # whole rounds: every kind
                t = time.perf_counter()
                engine.search(q, want)
                rec["repeat_ms"] = (time.perf_counter() - t) * 1e3
        except Exception as exc:  # noqa: BLE001 - a failing query is reported, not fatal
            rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
        per_query.append(rec)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "ran": len(per_query), "of": len(mix), "partial": partial,
            "budget_s": budget, **latency_tables(per_query), "per_query": per_query}


# ----------------------------------------------------------------------------- HTTP


CODE_DIR: Path | None = None


def _child_env() -> dict:
    env = dict(os.environ)
    if CODE_DIR:
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([str(CODE_DIR), root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_warm(port: int, deadline: float, workers: int = 1) -> None:
    """Wait until /healthz says the generation's background warm-up is done in every one of
    the ``workers`` server processes (servers without the flag count as warm). A new
    connection may reach any process, so this polls until each has answered warm (by the
    pid it reports) and the last answers were all warm."""
    warm: set = set()
    in_a_row = 0
    while time.time() < deadline and (len(warm) < workers or in_a_row < 2 * workers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz")
        data = json.loads(conn.getresponse().read()).get("data", {})
        conn.close()
        if data.get("warm", True):
            warm.add(data.get("process", len(warm)))
            in_a_row += 1
        else:
            in_a_row = 0
            time.sleep(0.2)


def _drive(port: int, queries: list[tuple[dict, str]], clients: int, budget: float) -> tuple[list[dict], float, bool]:
    """Send ``(record, url)`` requests from ``clients`` keep-alive connections sharing the
    list in order; fill each record with ``ms`` and ``total`` (or ``error``). Returns the
    records answered, the wall time, and whether ``budget`` seconds stopped it early."""
    lock = threading.Lock()
    position = [0]
    done: list[dict] = []
    started = time.perf_counter()
    stopped = [False]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        while True:
            with lock:
                if position[0] >= len(queries) or time.perf_counter() - started > budget:
                    stopped[0] = stopped[0] or position[0] < len(queries)
                    break
                template, url = queries[position[0]]
                position[0] += 1
            rec = dict(template)
            try:
                t = time.perf_counter()
                conn.request("GET", url)
                resp = conn.getresponse()
                body = resp.read()
                rec["ms"] = (time.perf_counter() - t) * 1e3
                if resp.status == 200:
                    rec["total"] = orjson.loads(body)["data"]["totalHits"]
                else:
                    rec.pop("ms")
                    rec["error"] = f"HTTP {resp.status}: {body[:200]!r}"
            except Exception as exc:  # noqa: BLE001
                rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
            with lock:
                done.append(rec)
        conn.close()

    client_threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in client_threads:
        t.start()
    for t in client_threads:
        t.join()
    return done, time.perf_counter() - started, stopped[0]


def _requests(mix, facets_all: bool, round_no: int | None = None) -> list[tuple[dict, str]]:
    out = []
    for q in mix:
        want = True if facets_all else q.facets
        rec = {"id": q.id, "kind": q.kind} | ({"round": round_no} if round_no else {})
        out.append((rec, "/api/v1/search?" + urllib.parse.urlencode(q.params(want), doseq=True)))
    return out


def http_mixes(seed: int, model, per_kind: int, rounds: int, warmup: int) -> tuple[list, list]:
    """The warm-up queries and the extra measured rounds of the HTTP phase: the first
    ``warmup`` queries of the mix of seed ``seed + 1``, and the mixes of seeds ``seed + 2``
    onwards (``rounds - 1`` of them); the first measured round is the shared mix itself."""
    from benchmarks.queries import build_mix

    warm = build_mix(seed + 1, model, per_kind=per_kind)[:warmup] if warmup else []
    extra = [build_mix(seed + 1 + r, model, per_kind=per_kind) for r in range(1, rounds)]
    return warm, extra


def run_http(data_dir: Path, mix, facets_all: bool, clients: int, budget: float, sampler: RssSampler, log_path: Path,
             keep_log: Path | None = None, workers: int = 1, threads: int = 2, *, warmup_mix=(),
             extra_rounds=()) -> dict:
    """Serve ``data_dir`` and send it the mix from ``clients`` concurrent clients.

    After the server is warm, ``warmup_mix`` is sent the same way and left out of the
    statistics (a server process's first requests touch postings and build per-process
    tables no later request pays for again); then the measured requests: ``mix`` (round 1,
    whose ``per_query`` ids match the in-process phase) followed by ``extra_rounds``
    (other mixes, so no measured request repeats an earlier one and hits the result cache).
    """
    port = free_port()
    with log_path.open("wb") as server_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.serve", "--data-dir", str(data_dir), "--port", str(port),
             "--threads", str(threads), "--workers", str(workers)] + (["--code-dir", str(CODE_DIR)] if CODE_DIR else []),
            stdout=server_log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
            env=_child_env(),
        )
    try:
        sampler.watch("server", proc.pid, tree=True)
        deadline = time.time() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start (see {log_path})")
            time.sleep(0.2)
        started_open = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("GET", "/api/v1/search?query=warmup&facets=")
        conn.getresponse().read()
        conn.close()
        _wait_warm(port, time.time() + 600, workers)
        open_s = time.perf_counter() - started_open

        warm_done, warm_wall, _ = _drive(port, _requests(warmup_mix, facets_all), clients, budget)
        measured = _requests(mix, facets_all)
        for round_no, extra in enumerate(extra_rounds, start=2):
            measured += _requests(extra, facets_all, round_no)
        per_query, wall, stopped = _drive(port, measured, clients, budget)
        done = sum(1 for r in per_query if "ms" in r)
        per_query.sort(key=lambda r: (r.get("round", 1), r["id"]))
        server_errors: list[str] = []
        if any("error" in r for r in per_query + warm_done) and keep_log:
            shutil.copyfile(log_path, keep_log)
            text = log_path.read_text(errors="replace")
            server_errors = [f"server log kept as {keep_log.name}"] + [
                "Traceback" + block[:3000] for block in text.split("Traceback")[1:3]]
        warm_ms = [r["ms"] for r in warm_done if "ms" in r]
        return {"server_errors": server_errors, "clients": clients, "workers": workers, "threads": threads,
                "seconds": round(wall, 2), "ran": len(per_query), "of": len(measured), "rounds": 1 + len(extra_rounds),
                "partial": stopped, "budget_s": budget, "open_s": round(open_s, 3),
                "warmup": {"requests": len(warm_done), "seconds": round(warm_wall, 2),
                           "errors": sum(1 for r in warm_done if "error" in r), **summarise(warm_ms)},
                "throughput_qps": round(done / wall, 2) if wall else None,
                **latency_tables(per_query), "per_query": per_query}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sampler.watch("server", None)


# ----------------------------------------------------------------------------- one size


def profile_query(engine, q, out_path: Path, repeats: int = 3) -> dict:
    def clear_cache() -> bool:
        cache = getattr(getattr(engine, "service", None), "_results", None)
        if cache is not None and hasattr(cache, "clear"):
            cache.clear()  # profile the search, not a result-cache hit
            return True
        return False

    prof = cProfile.Profile()
    ms = 0.0
    cleared = False
    for _ in range(repeats):
        cleared = clear_cache() or cleared
        t = time.perf_counter()
        prof.enable()
        engine.search(q, True)
        prof.disable()
        ms += (time.perf_counter() - t) * 1e3 / repeats
    buf = io.StringIO()
    buf.write(f"cProfile of our service, query {q.id} ({q.kind}): {q.text!r} filters={dict(q.filters)} "
              f"with counts of every facet, run {repeats}x" + (", result cache cleared before each run" if cleared else "")
              + f", {ms:.1f} ms per run under the profiler\n\n")
    stats = pstats.Stats(prof, stream=buf)
    buf.write("== by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(45)
    buf.write("\n== by own time ==\n")
    stats.sort_stats("tottime").print_stats(30)
    text = buf.getvalue().replace(str(Path(__file__).resolve().parent.parent) + "/", "")
    text = text.replace(sys.prefix + "/", "<venv>/")
    out_path.write_text(text)
    top = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]:
        top.append({"function": f"{Path(filename).name}:{line}({func})", "own_ms": round(tt * 1e3 / repeats, 2),
                    "cumulative_ms": round(ct * 1e3 / repeats, 2), "calls": nc // repeats})
    return {"query_id": q.id, "ms_per_run": round(ms, 2), "file": out_path.name, "top_own_time": top}


PRODUCTION = ("harvesters", "indexer", "query", "web", "bioimage_search")


def code_version(code_dir: Path) -> dict:
    """The commit of the production code measured, and its uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=code_dir, capture_output=True, text=True, timeout=30).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return ""

    marker = code_dir / "BENCH_COMMIT"
    if marker.is_file():  # an exported tree (git archive): the commit is written beside it
        return {"dir": str(code_dir), "commit": marker.read_text().strip(), "dirty": []}
    dirty = [line[3:] for line in git("status", "--porcelain", "--", *PRODUCTION).splitlines()]
    return {"dir": str(code_dir), "commit": git("rev-parse", "--short", "HEAD"),
            "commit_subject": git("log", "-1", "--format=%s")[:120], "dirty": dirty}


def versions() -> dict:
    import sqlite3

    out = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
           "cpus": os.cpu_count()}
    try:
        from importlib.metadata import version

        for dist in ("whoosh3", "Whoosh", "tantivy", "waitress", "flask", "psutil"):
            try:
                out[dist] = version(dist)
            except Exception:  # noqa: BLE001
                pass
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as handle:
            out["mem_total_gb"] = round(int(handle.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return out


def worker(args) -> None:
    if args.code_dir:
        sys.path.insert(0, str(args.code_dir))
    from benchmarks.corpus import CorpusModel, fill_store
    from benchmarks.engines import OurService, PlainWhoosh, SqliteFts5, Tantivy, BudgetExceeded, flat_document, iter_jsonl
    from benchmarks.queries import build_mix
    from harvesters.store import RecordStore

    size = args.size
    work = args.work / str(size)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("-portal" if args.portal else "") + (f"-{args.label}" if args.label else "")
    engines = [e for e in args.engines.split(",") if e]
    sampler = RssSampler()
    sampler.start()
    result: dict = {
        "size": size, "seed": args.seed, "portal_mode": args.portal, "label": args.label,
        "code": code_version(args.code_dir or Path(__file__).resolve().parent.parent),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": versions(),
        "settings": {"build_budget_s": args.build_budget, "query_budget_s": args.query_budget, "clients": args.clients,
                     "repeat_every": args.repeat_every, "engines": engines},
        "engines": {},
    }

    # -- corpus -------------------------------------------------------------------
    sampler.phase("corpus")
    log(f"[{size}] generating corpus")
    model = CorpusModel()
    ours_dir = work / "ours"
    docs_path = work / "docs.jsonl"
    counts = {"sources": {}, "title_words": 0, "description_words": 0}
    started = time.perf_counter()
    with docs_path.open("wb") as handle, RecordStore(ours_dir / "store.sqlite3") as store:
        def records():
            for record in model.records(size, args.seed):
                handle.write(orjson.dumps(flat_document(record)) + b"\n")
                counts["sources"][record.source] = counts["sources"].get(record.source, 0) + 1
                counts["title_words"] += len(record.title.split())
                counts["description_words"] += len((record.description or "").split())
                yield record
        fill_store(store, records())
    corpus_s = time.perf_counter() - started
    result["corpus"] = {
        "records": size, "seconds": round(corpus_s, 1), "sources": counts["sources"],
        "mean_title_words": round(counts["title_words"] / size, 1),
        "mean_description_words": round(counts["description_words"] / size, 1),
        "store_bytes": (ours_dir / "store.sqlite3").stat().st_size,
    }
    log(f"[{size}] corpus: {size} records in {corpus_s:.0f} s")
    mix = build_mix(args.seed, model, per_kind=args.per_kind)
    result["queries"] = {"count": len(mix), "per_kind": args.per_kind, "mix": [q.to_json() for q in mix]}
    gc.collect()

    def save() -> None:
        path = out / f"results-{size}{suffix}.json"
        path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))

    def phase_engine(name: str, engine, build) -> None:
        entry: dict = {"notes": []}
        result["engines"][name] = entry
        try:
            sampler.phase(f"{name}_build")
            log(f"[{size}] {name}: building")
            entry["build"] = build()
            b = entry["build"]
            b["docs_per_s"] = round(b["documents"] / b["seconds"], 1)
            b["index_mb"] = round(b["index_bytes"] / 2**20, 1)
            log(f"[{size}] {name}: built {b['documents']} in {b['seconds']:.1f} s ({b['docs_per_s']}/s), {b['index_mb']} MB")
            gc.collect()
            sampler.phase(f"{name}_query")
            entry["open_s"] = round(engine.open(), 3)  # ours: first search + background warm-up
            if getattr(engine, "first_search_s", None) is not None:
                entry["first_search_s"] = round(engine.first_search_s, 3)
            if name == "ours":
                result["code_at_query_time"] = code_version(args.code_dir or Path(__file__).resolve().parent.parent)
            entry["queries"] = run_mix(engine, mix, args.portal, args.query_budget, args.repeat_every)
            qs = entry["queries"]
            log(f"[{size}] {name}: {qs['ran']}/{qs['of']} queries in {qs['seconds']} s, "
                f"p50 {qs['overall'].get('p50')} ms, p95 {qs['overall'].get('p95')} ms"
                + (" (PARTIAL: query budget)" if qs["partial"] else ""))
            if qs["partial"]:
                entry["notes"].append(f"query budget {args.query_budget:.0f} s reached after {qs['ran']} of {qs['of']} queries")
            if name == "ours" and args.profile:
                faceted = next(q for q in mix if q.kind == "faceted")
                entry["profile"] = profile_query(engine, faceted, out / f"profile-{size}{suffix}.txt")
                log(f"[{size}] ours: profiled query {faceted.id}: {entry['profile']['ms_per_run']} ms")
        except BudgetExceeded as exc:
            entry["skipped"] = str(exc)
            entry["notes"].append(f"skipped: {exc}")
            log(f"[{size}] {name}: SKIPPED: {exc}")
        except Exception as exc:  # noqa: BLE001 - one engine failing must not lose the others
            entry["error"] = f"{type(exc).__name__}: {exc}"[:500]
            log(f"[{size}] {name}: ERROR: {entry['error']}")
        finally:
            entry["rss"] = sampler.mb([f"{name}_build", f"{name}_query"])
            entry["rss_by_phase"] = {p: sampler.mb([p]) for p in (f"{name}_build", f"{name}_query")}
            sampler.phase(f"{name}_done")
            entry["load"] = sampler.load_of([f"{name}_build", f"{name}_query"])
            save()

    ours = OurService(ours_dir)
    if "ours" in engines or "ours_http" in engines:
        phase_engine("ours", ours, lambda: ours.build(args.build_budget))
    if "ours_http" in engines and "build" in result["engines"].get("ours", {}):
        ours.close()
        gc.collect()
        entry: dict = {"notes": []}
        result["engines"]["ours_http"] = entry
        sampler.phase("ours_http")
        log(f"[{size}] ours_http: {args.clients} clients")
        try:
            warm, extra = http_mixes(args.seed, model, args.per_kind, args.http_rounds, args.http_warmup)
            entry["queries"] = run_http(ours_dir, mix, args.portal, args.clients, args.query_budget, sampler,
                                        work / "server.log", out / f"server-{size}{suffix}.log", args.server_workers,
                                        args.server_threads, warmup_mix=warm, extra_rounds=extra)
            q = entry["queries"]
            log(f"[{size}] ours_http: {q['ran']}/{q['of']} in {q['seconds']} s, {q['throughput_qps']} q/s, "
                f"p50 {q['overall'].get('p50')} ms, p95 {q['overall'].get('p95')} ms")
            if q["partial"]:
                entry["notes"].append(f"query budget {args.query_budget:.0f} s reached after {q['ran']} of {q['of']} requests")
            if q["errors"]:
                failed = [f"{r['id']} ({r['kind']})" for r in q["per_query"] if "error" in r]
                entry["notes"].append(f"server errors on queries {', '.join(failed)}; see server-{size}{suffix}.log")
        except Exception as exc:  # noqa: BLE001
            entry["error"] = f"{type(exc).__name__}: {exc}"[:500]
            log(f"[{size}] ours_http: ERROR: {entry['error']}")
        entry["rss"] = sampler.mb(["ours_http"], "server")
        entry["pss"] = sampler.mb(["ours_http"], "server_pss")
        entry["client_rss"] = sampler.mb(["ours_http"], "runner")
        sampler.phase("ours_http_done")
        entry["load"] = sampler.load_of(["ours_http"])
        save()
    ours.close()
    if "ours" not in engines:
        result["engines"].pop("ours", None)
    gc.collect()

    refs = {
        "whoosh": lambda: PlainWhoosh(work / "whoosh"),
        "fts5": lambda: SqliteFts5(work / "fts5.sqlite3"),
        "tantivy": lambda: Tantivy(work / "tantivy", threads=os.cpu_count() or 2),
    }
    for name in REFERENCES:
        if name not in engines:
            continue
        engine = refs[name]()
        phase_engine(name, engine, lambda engine=engine: engine.build(iter_jsonl(docs_path), args.build_budget))
        engine.close()
        del engine
        gc.collect()

    sampler.phase("end")
    result["load_by_phase"] = sampler.load
    result["ratios"] = ratios(result)
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["runner_max_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    sampler.stop()
    save()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    log(f"[{size}] done")


def http_only(args) -> None:
    """Re-run the HTTP phase of one size over a kept data dir; replace it in the results file."""
    from benchmarks.corpus import CorpusModel
    from benchmarks.queries import build_mix

    if args.code_dir:
        sys.path.insert(0, str(args.code_dir))
    suffix = ("-portal" if args.portal else "") + (f"-{args.label}" if args.label else "")
    path = args.out / f"results-{args.size}{suffix}.json"
    result = json.loads(path.read_text())
    model = CorpusModel()  # one for every mix below
    mix = build_mix(args.seed, model, per_kind=args.per_kind)
    sampler = RssSampler()
    sampler.start()
    sampler.phase("ours_http")
    entry: dict = {"notes": [f"HTTP phase re-run on {datetime.now(timezone.utc).isoformat(timespec='seconds')} over the "
                             f"kept index of this run (code {code_version(args.code_dir or Path(__file__).resolve().parent.parent).get('commit')})"]}
    log(f"[{args.size}] ours_http only: {args.clients} clients over {args.http_only}")
    try:
        warm, extra = http_mixes(args.seed, model, args.per_kind, args.http_rounds, args.http_warmup)
        entry["queries"] = run_http(args.http_only.resolve(), mix, args.portal, args.clients, args.query_budget, sampler,
                                    args.work / f"server-{args.size}.log", args.out / f"server-{args.size}{suffix}.log",
                                    args.server_workers, args.server_threads, warmup_mix=warm, extra_rounds=extra)
        q = entry["queries"]
        log(f"[{args.size}] ours_http: {q['ran']}/{q['of']} in {q['seconds']} s, {q['throughput_qps']} q/s, "
            f"p50 {q['overall'].get('p50')} ms, p95 {q['overall'].get('p95')} ms")
        if q["errors"]:
            failed = [f"{r['id']} ({r['kind']})" for r in q["per_query"] if "error" in r]
            entry["notes"].append(f"server errors on queries {', '.join(failed)}; see server-{args.size}{suffix}.log")
    except Exception as exc:  # noqa: BLE001
        entry["error"] = f"{type(exc).__name__}: {exc}"[:500]
    entry["rss"] = sampler.mb(["ours_http"], "server")
    entry["pss"] = sampler.mb(["ours_http"], "server_pss")
    entry["client_rss"] = sampler.mb(["ours_http"], "runner")
    sampler.phase("end")
    entry["load"] = sampler.load_of(["ours_http"])
    sampler.stop()
    result["engines"]["ours_http"] = entry
    result["ratios"] = ratios(result)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


def _get(d: dict, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b not in (None, 0) else None


def ratios(result: dict) -> dict:
    """Ours ÷ reference: latency and build time (>1: ours slower), index size (>1: ours bigger)."""
    ours = result["engines"].get("ours", {})
    http = result["engines"].get("ours_http", {})
    out = {}
    for ref in REFERENCES:
        other = result["engines"].get(ref)
        if not other or "queries" not in other or "queries" not in ours:
            continue
        row = {}
        for stat in ("p50", "p95", "p99"):
            row[stat] = _ratio(_get(ours, "queries", "overall", stat), _get(other, "queries", "overall", stat))
        for stat in ("p50", "p95"):
            row[f"faceted_{stat}"] = _ratio(_get(ours, "queries", "by_kind", "faceted", stat),
                                            _get(other, "queries", "by_kind", "faceted", stat))
        row["http_p95"] = _ratio(_get(http, "queries", "overall", "p95"), _get(other, "queries", "overall", "p95"))
        row["build_time"] = _ratio(_get(other, "build", "docs_per_s"), _get(ours, "build", "docs_per_s"))
        row["index_size"] = _ratio(_get(ours, "build", "index_bytes"), _get(other, "build", "index_bytes"))
        out[ref] = row
    return out


# ----------------------------------------------------------------------------- summary


def fmt_ms(value) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value:.2f}"
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_num(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def fmt_ratio(value) -> str:
    return "–" if value is None else (f"{value:,.1f}×" if value >= 10 else f"{value:.2f}×")


ENGINE_LABELS = {
    "ours": "ours (in-process)", "ours_http": "ours (HTTP)", "whoosh": "plain Whoosh",
    "fts5": "SQLite FTS5", "tantivy": "tantivy",
}


def _docs(r: dict) -> str:
    """A run's row label: its size, then ``portal`` (every query asks for every facet) and its label."""
    return f"{r['size']:,}" + (" portal" if r.get("portal_mode") else "") + (f" {r['label']}" if r.get("label") else "")


def _load_cell(e: dict, name: str) -> str:
    load = e.get("load") or {}
    phase = load.get("ours_http" if name == "ours_http" else f"{name}_query")
    if not phase:
        return "–"
    if name == "ours_http":
        return f"{phase['loadavg_1m_mean']:.1f}"
    return f"{phase['loadavg_1m_mean']:.1f} ({phase['runner_cpu_share']:.2f})"


def _http_setup(queries: dict) -> str:
    workers = queries.get("workers") or 1
    threads = f" x {queries['threads']} threads" if queries.get("threads") else ""
    text = f", {queries.get('clients')} clients" + (f", {workers} processes{threads}" if workers > 1 else threads)
    warm = (queries.get("warmup") or {}).get("requests")
    if queries.get("rounds", 1) > 1 or warm:
        text += f", {queries['of']} requests in {queries.get('rounds', 1)} rounds after {warm or 0} warm-up requests"
    return text


def write_summary(out: Path) -> Path:
    results = []
    for path in sorted(out.glob("results-*.json")):
        try:
            results.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    results.sort(key=lambda r: (r.get("label") or "", r.get("portal_mode", False), r["size"]))
    lines: list[str] = ["# Benchmark results", ""]
    if not results:
        lines.append("No results yet: run `python -m benchmarks.run`.")
    else:
        m = results[0]["machine"]
        lines += [
            "Written by `python -m benchmarks.run` (see `benchmarks/README.md` for what each engine and query kind is). "
            f"Machine: {m.get('cpus')} CPUs, {m.get('mem_total_gb', '?')} GB RAM, Python {m.get('python')}, "
            f"whoosh3 {m.get('whoosh3', m.get('Whoosh', '?'))}, tantivy {m.get('tantivy', '?')}, SQLite {m.get('sqlite')}, "
            f"waitress {m.get('waitress', '–')}. Latencies in ms; one process run per size; the same corpus "
            "(deterministic seed) and the same query mix for every engine.",
            "",
        ]
        for r in results:
            q = r.get("queries", {})
            mode = "portal mode: every query also asks for all facet counts" if r.get("portal_mode") else \
                "only the faceted queries ask for facet counts"
            c = r.get("corpus", {})
            code = r.get("code") or {}
            code_text = f"code {code.get('commit', '?')}" + (f" + uncommitted {', '.join(code['dirty'][:4])}" if code.get("dirty") else "")
            later = r.get("code_at_query_time") or {}
            if later and (later.get("commit"), later.get("dirty")) != (code.get("commit"), code.get("dirty")):
                code_text += f" (at query time: {later.get('commit')}" + (f" + uncommitted {', '.join(later['dirty'][:4])}" if later.get("dirty") else "") + ")"
            if code.get("note"):
                code_text += f" ({code['note']})"
            lines.append(f"- **{_docs(r)}** datasets ({r['started']}, seed {r['seed']}, {code_text}): {q.get('count')} queries, {mode}; "
                         f"corpus {c.get('sources')}, mean title {c.get('mean_title_words')} words, "
                         f"description {c.get('mean_description_words')} words; generated in {c.get('seconds')} s.")
        lines += ["", "## Summary", "",
                  "| docs | engine | build docs/s | index MB | p50 | p95 | p99 | faceted p50 | faceted p95 | repeat p50 (first run) | "
                  "throughput q/s | peak RSS MB | queries run | load avg (CPU share) | notes |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            for name in ENGINES:
                e = r["engines"].get(name)
                if e is None:
                    continue
                qs = e.get("queries", {})
                notes = list(e.get("notes", []))
                if e.get("error"):
                    notes.append("error: " + e["error"])
                if qs.get("errors") and name != "ours_http":
                    notes.append(f"{qs['errors']} queries failed")
                thr = qs.get("throughput_qps")
                if thr is None and qs.get("overall", {}).get("mean"):
                    thr = round(1000 / qs["overall"]["mean"], 1)
                label = ENGINE_LABELS[name] + (_http_setup(qs) if name == "ours_http" else "")
                lines.append("| " + " | ".join([
                    _docs(r), label,
                    fmt_num(_get(e, "build", "docs_per_s")), fmt_num(_get(e, "build", "index_mb"), 1),
                    fmt_ms(_get(qs, "overall", "p50")), fmt_ms(_get(qs, "overall", "p95")), fmt_ms(_get(qs, "overall", "p99")),
                    fmt_ms(_get(qs, "by_kind", "faceted", "p50")), fmt_ms(_get(qs, "by_kind", "faceted", "p95")),
                    (f"{fmt_ms(_get(qs, 'repeat', 'p50'))} ({fmt_ms(_get(qs, 'repeat_first_run', 'p50'))})"
                     if _get(qs, "repeat", "n") else "–"), fmt_num(thr, 1),
                    fmt_num(_get(e, "rss", "peak_mb")),
                    f"{qs.get('ran', '–')}/{qs.get('of', '–')}",
                    _load_cell(e, name),
                    "; ".join(notes).replace("|", "/") or "",
                ]) + " |")
        lines += ["", "Throughput: HTTP = requests completed per second with all clients busy; in-process = 1 / mean "
                  "latency of one sequential caller. Peak RSS: the benchmark process during that engine's build and "
                  "queries (it also holds what earlier phases left), for HTTP the server alone (with several processes: "
                  "their RSS summed, which counts the shared memory-mapped index once per process; the targets "
                  "table uses their PSS, which counts it once). "
                  "Repeat: the same query again straight after, for every 4th round of the mix (all kinds); in brackets the "
                  "first-run p50 of those same queries. HTTP latency: after a warm-up round of another seed's mix (not "
                  "counted), the shared mix and then mixes of further seeds (so no measured request is a cache hit), "
                  "over all their requests. Load avg: mean 1-minute load average of the machine during "
                  "the query phase (2 CPUs: above 2 means processes queued for a core); CPU share: CPU seconds of "
                  "the benchmark process ÷ wall seconds, about 1.0 for an undisturbed single-threaded phase, lower "
                  "when other work on the machine took the core (`load_by_phase` in the JSON has every phase).", "",
                  "## Latency by query kind (p50 / p95, ms)", "",
                  "| docs | engine | " + " | ".join(KINDS) + " |", "|---|---|" + "---|" * len(KINDS)]
        for r in results:
            for name in ENGINES:
                qs = _get(r, "engines", name, "queries")
                if not qs:
                    continue
                cells = [f"{fmt_ms(_get(qs, 'by_kind', k, 'p50'))} / {fmt_ms(_get(qs, 'by_kind', k, 'p95'))}" for k in KINDS]
                lines.append(f"| {_docs(r)} | {ENGINE_LABELS[name]} | " + " | ".join(cells) + " |")
        lines += ["", "## Ours in-process ÷ reference", "",
                  "Above 1×: ours is slower (latency, build time) or bigger (index) by that factor.", "",
                  "| docs | reference | p50 | p95 | p99 | faceted p50 | faceted p95 | HTTP p95 | build time | index size |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            rows = r.get("ratios") or {}
            borrowed = ""
            if not rows:  # a labelled run of our service alone: references from a run of the same size
                sibling = next((o for o in results if o is not r and o["size"] == r["size"]
                                and o.get("portal_mode") == r.get("portal_mode")
                                and any(ref in o["engines"] for ref in REFERENCES)), None)
                if sibling:
                    merged = {"engines": {**{k: v for k, v in sibling["engines"].items() if k in REFERENCES},
                                          **{k: v for k, v in r["engines"].items() if k not in REFERENCES}}}
                    rows = ratios(merged)
                    borrowed = " ¹"
            for ref, row in rows.items():
                lines.append(f"| {_docs(r)}{borrowed} | {ENGINE_LABELS[ref]} | " + " | ".join(
                    fmt_ratio(row.get(k)) for k in ("p50", "p95", "p99", "faceted_p50", "faceted_p95", "http_p95",
                                                    "build_time", "index_size")) + " |")
        if any(r.get("label") and not r.get("ratios") for r in results):
            lines += ["", "¹ references measured in the unlabelled run of the same size (same corpus and mix)."]
        pairs = [(r, next((o for o in results if not o.get("label") and o["size"] == r["size"]
                           and o.get("portal_mode") == r.get("portal_mode")), None))
                 for r in results if r.get("label")]
        pairs = [(b, c) for b, c in pairs if c]
        if pairs:
            lines += ["", "## Our service: current code ÷ labelled run", "",
                      "Below 1×: the current code is faster (latency) or slower (throughput) by that factor.", "",
                      "| docs | compared with | p50 | p95 | p99 | faceted p95 | repeat p50 | HTTP p50 | HTTP p95 | HTTP throughput |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for b, c in pairs:
                ob, oc = b["engines"].get("ours", {}), c["engines"].get("ours", {})
                hb, hc = b["engines"].get("ours_http", {}), c["engines"].get("ours_http", {})
                cells = [_ratio(_get(oc, "queries", "overall", k), _get(ob, "queries", "overall", k)) for k in ("p50", "p95", "p99")]
                cells.append(_ratio(_get(oc, "queries", "by_kind", "faceted", "p95"), _get(ob, "queries", "by_kind", "faceted", "p95")))
                cells.append(_ratio(_get(oc, "queries", "repeat", "p50"), _get(ob, "queries", "repeat", "p50")))
                cells += [_ratio(_get(hc, "queries", "overall", k), _get(hb, "queries", "overall", k)) for k in ("p50", "p95")]
                cells.append(_ratio(_get(hc, "queries", "throughput_qps"), _get(hb, "queries", "throughput_qps")))
                lines.append(f"| {b['size']:,} | {b['label']} ({(b.get('code') or {}).get('commit', '?')}) | "
                             + " | ".join(fmt_ratio(x) if x is None or x >= 0.01 else f"{x:.3f}×" for x in cells) + " |")
        lines += ["", "## Issue 8 targets", "",
                  "The targets are stated for 100k datasets; smaller sizes are shown for the trend.", "",
                  "| docs | target | measured | met |", "|---|---|---|---|"]
        for r in results:
            ours, http = r["engines"].get("ours", {}), r["engines"].get("ours_http", {})
            fts_p95 = _get(r, "engines", "fts5", "queries", "overall", "p95")
            checks = [
                ("search p95 ≤ 50 ms in-process", _get(ours, "queries", "overall", "p95"), 50, "ms"),
                ("search p95 ≤ 80 ms over HTTP, 8 clients", _get(http, "queries", "overall", "p95"), 80, "ms"),
                ("cached repeat ≤ 2 ms (p95)", _get(ours, "queries", "repeat", "p95"), 2, "ms"),
                ("p95 ahead of SQLite FTS5 in the same run", _get(ours, "queries", "overall", "p95"), fts_p95, "ms"),
                ("full build ≥ 2,000 records/s", _get(ours, "build", "docs_per_s"), 2000, "/s"),
                ("server memory under load < 1.5 GiB" + (" (PSS, all processes)" if _get(http, "pss", "peak_mb") else ""),
                 _get(http, "pss", "peak_mb") or _get(http, "rss", "peak_mb"), 1536, "MB"),
            ]
            for label, value, limit, unit in checks:
                if value is None or limit is None:
                    met = "–"
                elif unit == "/s":
                    met = "yes" if value >= limit else "no"
                else:
                    met = "yes" if value <= limit else "no"
                shown = (fmt_ms(value) + " ms") if unit == "ms" else (fmt_num(value) + (" MB" if unit == "MB" else " /s"))
                lines.append(f"| {_docs(r)} | {label} | {shown if value is not None else '–'} | {met} |")
        profiles = [(_docs(r), _get(r, "engines", "ours", "profile")) for r in results]
        profiles = [(s, p) for s, p in profiles if p]
        if profiles:
            lines += ["", "## Where our query path spends its time", "",
                      "cProfile of one faceted query (counts of every facet), own time per run; full listings in "
                      "`profile-<size>.txt`.", ""]
            for size, p in profiles:
                lines.append(f"- **{size}** (query {p['query_id']}, {fmt_ms(p['ms_per_run'])} ms under the profiler): " + "; ".join(
                    f"`{t['function']}` {fmt_ms(t['own_ms'])} ms own / {fmt_ms(t['cumulative_ms'])} ms cum, {t['calls']:,} calls"
                    for t in p["top_own_time"][:5]))
    notes = out / "NOTES.md"
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated corpus sizes (default 10000,100000)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where results go")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bioimage-bench",
                    help="scratch space for stores and indexes (removed after each size unless --keep)")
    ap.add_argument("--seed", type=int, default=None, help="corpus and query seed")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"subset of {','.join(ENGINES)}")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (default 8)")
    ap.add_argument("--server-workers", type=int, default=2,
                    help="web processes of the HTTP server, as `serve --workers` (default 2: one per core here)")
    ap.add_argument("--server-threads", type=int, default=2,
                    help="request threads per web process, as `serve --threads` (default 2: more threads in one "
                         "process only take turns on the GIL, which stretches every request they hold)")
    ap.add_argument("--http-rounds", type=int, default=3,
                    help="measured rounds of the HTTP phase: the shared mix, then mixes of other seeds (default 3)")
    ap.add_argument("--http-warmup", type=int, default=None,
                    help="requests of another seed's mix sent before the HTTP measurement and left out of it "
                         "(default: one whole mix; 0: none)")
    ap.add_argument("--build-budget", type=float, default=1500.0, help="seconds an engine may spend building")
    ap.add_argument("--query-budget", type=float, default=900.0, help="seconds an engine may spend on the query mix")
    ap.add_argument("--repeat-every", type=int, default=4, help="repeat every Nth query straight away (0: never)")
    ap.add_argument("--per-kind", type=int, default=34, help="queries per kind (6 kinds; default 34 = 204)")
    ap.add_argument("--portal", action="store_true", help="every query also asks for counts of every facet")
    ap.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile of one faceted query")
    ap.add_argument("--allow-1m", action="store_true", help="allow sizes of 1,000,000 and more (long, opt-in)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch indexes")
    ap.add_argument("--summary-only", action="store_true", help="only rewrite README.md from existing results")
    ap.add_argument("--label", default="", help="suffix of the result files and label in the tables (e.g. baseline)")
    ap.add_argument("--code-dir", type=Path, default=None,
                    help="import the production packages from this tree instead (e.g. `git archive <commit>` of "
                         "harvesters indexer query web bioimage_search, with the commit in a BENCH_COMMIT file)")
    ap.add_argument("--http-only", type=Path, default=None, metavar="DATA_DIR",
                    help="re-run only the HTTP phase over an existing data dir (store + index/) and replace it in "
                         "results-<size>[-label].json (needs --size)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.seed is None:
        from benchmarks.corpus import DEFAULT_SEED

        args.seed = DEFAULT_SEED
    if args.http_warmup is None:
        args.http_warmup = 6 * args.per_kind
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.work = args.work.resolve()
    if args.code_dir:
        args.code_dir = args.code_dir.resolve()
        global CODE_DIR
        CODE_DIR = args.code_dir
    if args.worker:
        worker(args)
        return 0
    if args.http_only:
        http_only(args)
        print(write_summary(args.out))
        return 0
    if args.summary_only:
        print(write_summary(args.out))
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if any(s >= ONE_MILLION for s in sizes) and not args.allow_1m:
        print("sizes of 1,000,000 and more are opt-in: add --allow-1m", file=sys.stderr)
        return 2
    unknown = set(args.engines.split(",")) - set(ENGINES)
    if unknown:
        print(f"unknown engines: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    status = 0
    for size in sizes:
        cmd = [sys.executable, "-m", "benchmarks.run", "--worker", "--size", str(size),
               "--out", str(args.out), "--work", str(args.work), "--seed", str(args.seed),
               "--engines", args.engines, "--clients", str(args.clients), "--server-workers", str(args.server_workers),
               "--server-threads", str(args.server_threads), "--http-rounds", str(args.http_rounds),
               "--http-warmup", str(args.http_warmup),
               "--build-budget", str(args.build_budget), "--query-budget", str(args.query_budget),
               "--repeat-every", str(args.repeat_every), "--per-kind", str(args.per_kind)]
        cmd += ["--portal"] * args.portal + ["--no-profile"] * (not args.profile) + ["--keep"] * args.keep
        cmd += ["--label", args.label] if args.label else []
        cmd += ["--code-dir", str(args.code_dir)] if args.code_dir else []
        log(f"size {size}: {' '.join(cmd[1:])}")
        rc = subprocess.call(cmd, cwd=Path(__file__).resolve().parent.parent, env=_child_env())
        if rc != 0:
            log(f"size {size}: worker exited with {rc}")
            status = 1
        write_summary(args.out)
    log(f"summary: {write_summary(args.out)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
