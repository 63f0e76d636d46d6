"""Searches under load while full rebuilds swap generations underneath (issue 5).

    python -m benchmarks.load_during_rebuild [--seconds 20] [--clients 8] [--records 3000]
                                             [--workers 2] [--threads 8] [--baseline 10]
                                             [--out benchmarks/results]

K client threads search the app served by ``bioimage-search serve`` (waitress, N worker
processes) on 127.0.0.1 while another process loops: add a few records to the store, run a
full rebuild, swap it in. Bounded in time, loopback only. Passes when

- no request failed (a non-200 status or a connection error), and
- every response came from one generation that was live: ``meta.generation`` is one the
  rebuilds produced, and for the probe query (everything, newest accession first, source
  facet) ``totalHits``, the first hit and the facet counts all equal that generation's.

Each rebuild adds records whose accessions sort last, so every generation has its own
document count and newest accession: a response mixing two generations shows.
Writes ``load_during_rebuild.json`` and ``.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from harvesters.records import Record
from harvesters.store import RecordStore
from indexer.builder import full_build

ROOT = Path(__file__).resolve().parent.parent
PROBE = {"sortBy": "accession", "sortOrder": "descending", "pageSize": "1", "facets": "source"}
# {n} is a random number: most searches miss the service's per-generation result cache.
QUERIES = [
    {"query": "cells study {n}"},
    {"query": "study {n}"},
    {"query": "title:generated OR description:{n}", "facets": "source,organism"},
    {"query": "fluorescence {n}", "facet.source": "bia", "pageSize": "5"},
    {"query": "synth* OR {n}", "sortBy": "title"},
]
ORGANISMS = ["Homo sapiens", "Mus musculus", "Danio rerio"]


# -- data ------------------------------------------------------------------------------------


def make_record(accession: str, i: int, source: str = "bia") -> Record:
    """A small synthetic record."""
    return Record(accession=accession, source=source, title=f"Generated study {i} of cells",
                  description=f"Synthetic record {i}: fluorescence images of cells in {ORGANISMS[i % 3]}.",
                  release_date=f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}", keywords=["synthetic"])


def seed(store: RecordStore, records: list[Record]) -> None:
    """Save records into the store in one transaction."""
    with store.transaction() as db:
        for record in records:
            store.save_record(db, record, b"{}", record.content_fingerprint())


def prepare(data_dir: Path, count: int) -> dict:
    """A store of ``count`` records (a tenth from jcb) and a first generation."""
    with RecordStore(data_dir / "store.sqlite3") as store:
        seed(store, [make_record(f"S-BASE{i:06d}", i, "jcb" if i % 10 == 0 else "bia") for i in range(count)])
        summary = full_build(store, data_dir / "index")
    return {"generation": summary.generation, "documents": summary.total, "newest": f"S-BASE{count - 1:06d}"}


def rebuild_loop(data_dir: Path, until: float, log_path: Path, add: int = 5) -> None:
    """Until ``until`` (epoch seconds): add ``add`` records, full build, swap, log the generation."""
    iteration = 0
    with RecordStore(data_dir / "store.sqlite3") as store, log_path.open("a") as log:
        while time.time() < until:
            names = [f"S-ZNEW{iteration:05d}{j:02d}" for j in range(add)]
            seed(store, [make_record(name, 10_000 + iteration * add + j) for j, name in enumerate(names)])
            summary = full_build(store, data_dir / "index", keep=3)
            log.write(json.dumps({"generation": summary.generation, "documents": summary.total,
                                  "newest": names[-1], "seconds": round(summary.seconds, 3)}) + "\n")
            log.flush()
            iteration += 1


# -- the server and the clients -----------------------------------------------------------------


def start_server(config: Path, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    """``bioimage-search serve`` on a free loopback port; returns the process and base URL."""
    cmd = [sys.executable, "-c", "from bioimage_search.cli import main; main()", "--config", str(config),
           "serve", "--host", "127.0.0.1", "--port", "0", "--workers", str(workers), "--threads", str(threads)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        if "serving on " in line:
            url = line.split("serving on ", 1)[1].split()[0].rstrip("/")
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            _wait_ready(url, deadline)
            return proc, url
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("the server did not start")


def _wait_ready(url: str, deadline: float) -> None:
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Sample:
    """One response."""

    probe: bool
    ok: bool
    seconds: float
    status: int | None = None
    generation: str | None = None
    total: int | None = None
    first: str | None = None
    facet_sum: int | None = None
    error: str | None = None


@dataclass
class Client:
    """One client thread's loop."""

    url: str
    deadline: float
    seed: int
    samples: list[Sample] = field(default_factory=list)

    def run(self) -> None:
        rnd = random.Random(self.seed)
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < self.deadline:
            probe = rnd.random() < 0.5
            number = str(rnd.randrange(100_000))
            params = PROBE if probe else {k: v.replace("{n}", number) for k, v in rnd.choice(QUERIES).items()}
            started = time.perf_counter()
            try:
                conn.request("GET", "/api/v1/search?" + urlencode(params))
                response = conn.getresponse()
                body = response.read()
                self.samples.append(_sample(probe, response.status, body, time.perf_counter() - started))
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                self.samples.append(Sample(probe, False, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}"))
        conn.close()


def _sample(probe: bool, status: int, body: bytes, seconds: float) -> Sample:
    if status != 200:
        return Sample(probe, False, seconds, status, error=body[:200].decode(errors="replace"))
    doc = json.loads(body)
    data = doc["data"]
    facet_sum = sum(b["count"] for f in data["facets"] if f["name"] == "source" for b in f["buckets"]) if probe else None
    first = data["hits"][0]["accession"] if data["hits"] else None
    return Sample(probe, True, seconds, status, doc["meta"]["generation"], data["totalHits"], first, facet_sum)


# -- the run ---------------------------------------------------------------------------------------


def run_clients(url: str, seconds: float, clients: int) -> tuple[list[Sample], float]:
    """``clients`` threads searching for ``seconds``; their samples and the elapsed time."""
    started = time.monotonic()
    loops = [Client(url, started + seconds, seed=i) for i in range(clients)]
    threads = [threading.Thread(target=c.run) for c in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [s for c in loops for s in c.samples], time.monotonic() - started


def run(seconds: float = 20, clients: int = 8, records: int = 3000, workers: int = 2, threads: int = 8,
        work_dir: Path | None = None, baseline: float = 0) -> dict:
    """Run the whole check; returns the figures (see ``check``). With ``baseline`` seconds,
    the same clients first run without rebuilds, for comparison."""
    with tempfile.TemporaryDirectory(prefix="load-during-rebuild-", dir=work_dir) as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        config = tmp / "config.toml"
        config.write_text(f'[paths]\ndata_dir = "{data}"\n\n[scheduler]\nenabled = false\n')
        initial = prepare(data, records)
        server, url = start_server(config, workers, threads)
        log_path = tmp / "generations.jsonl"
        try:
            if baseline:
                run_clients(url, min(3.0, baseline), clients)  # warm-up, not counted: caches fill
            idle = run_clients(url, baseline, clients) if baseline else None
            rebuilder = subprocess.Popen([sys.executable, "-m", "benchmarks.load_during_rebuild", "--rebuild-loop", str(data),
                                          "--until", str(time.time() + seconds), "--log", str(log_path)], cwd=ROOT)
            samples, elapsed = run_clients(url, seconds, clients)
            rebuilder.wait(max(60, seconds * 3))
        finally:
            stop(server)
        builds = [initial] + [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    params = dict(seconds=seconds, clients=clients, records=records, workers=workers, threads=threads, baseline=baseline)
    result = check(samples, builds, elapsed, params)
    result["load_average_1min_after"] = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
    result["cpus"] = os.cpu_count()
    if idle:
        result["baseline"] = check(idle[0], builds[:1], idle[1], params)
    return result


def check(samples: list[Sample], builds: list[dict], elapsed: float, params: dict) -> dict:
    """Figures and the consistency verdict."""
    known = {b["generation"]: b for b in builds}
    failed = [s for s in samples if not s.ok]
    unknown = [s for s in samples if s.ok and s.generation not in known]
    mixed = [
        s for s in samples
        if s.ok and s.probe and s.generation in known
        and (s.total != known[s.generation]["documents"] or s.first != known[s.generation]["newest"] or s.facet_sum != s.total)
    ]
    latencies = sorted(s.seconds for s in samples if s.ok)
    seen = {s.generation for s in samples if s.ok}
    return {
        "params": params,
        "requests": len(samples),
        "failed": len(failed),
        "failures": [s.error for s in failed[:10]],
        "unknown_generation": len(unknown),
        "inconsistent": len(mixed),
        "probes": sum(1 for s in samples if s.probe),
        "requests_per_second": round(len(samples) / elapsed, 1) if elapsed else 0,
        "latency_ms": _percentiles(latencies),
        "rebuilds": len(builds) - 1,
        "rebuild_seconds_median": round(statistics.median([b["seconds"] for b in builds[1:]]), 2) if len(builds) > 1 else None,
        "generations_seen": len(seen),
        "documents": [builds[0]["documents"], builds[-1]["documents"]],
        "passed": not failed and not unknown and not mixed,
    }


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)  # noqa: E731
    return {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": round(values[-1] * 1000, 1)}


def write_results(result: dict, out: Path) -> None:
    """load_during_rebuild.json and a Markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "load_during_rebuild.json").write_text(json.dumps(result, indent=2) + "\n")
    p = result["params"]
    rows = [("no rebuild (baseline)", result["baseline"])] if result.get("baseline") else []
    rows.append(("during rebuilds", result))
    table = "".join(
        f"| {name} | {r['requests']} | {r['failed']} | {r['inconsistent']} | {r['unknown_generation']} | "
        f"{r['requests_per_second']} | {r['latency_ms'].get('p50')} | {r['latency_ms'].get('p95')} | "
        f"{r['latency_ms'].get('p99')} | {r['latency_ms'].get('max')} |\n"
        for name, r in rows
    )
    (out / "load_during_rebuild.md").write_text(
        "# Searches during full rebuilds\n\n"
        f"{p['clients']} client threads on 127.0.0.1 against `bioimage-search serve --workers {p['workers']} "
        f"--threads {p['threads']}` (waitress), {p['records']} records; for {p['seconds']:g} s a separate process "
        f"rebuilt and swapped the index continuously: {result['rebuilds']} rebuilds (median "
        f"{result['rebuild_seconds_median']} s), {result['generations_seen']} generations seen by the clients, "
        f"{result['documents'][0]}→{result['documents'][1]} documents. Latencies in ms.\n\n"
        "| phase | requests | failed | inconsistent | unknown generation | req/s | p50 | p95 | p99 | max |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        f"{table}\n"
        f"Verdict: {'PASSED' if result['passed'] else 'FAILED'} (no failed request, every response from one live generation).\n"
        f"Machine: {result['cpus']} CPUs, 1-minute load average {result['load_average_1min_after']} at the end.\n"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--baseline", type=float, default=10, help="seconds of the same load without rebuilds first")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--rebuild-loop", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--until", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rebuild_loop:
        rebuild_loop(args.rebuild_loop, args.until, args.log)
        return 0
    result = run(args.seconds, args.clients, args.records, args.workers, args.threads, baseline=args.baseline)
    write_results(result, args.out)
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
