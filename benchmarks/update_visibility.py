"""How long an incremental update of N records takes to become visible to searches.

    python -m benchmarks.update_visibility --data-dir /tmp/bioimage-bench/100000/ours \\
        --records 100 --out benchmarks/results

Over a data directory kept by ``python -m benchmarks.run --keep`` (a store and a built
index): open the search service and wait for its warm-up, change the title of N stored
records (a marker word no record holds), run the production ``indexer.builder.update``,
in a process of its own (as the scheduler runs it), and search for the marker until all N
records are found. Each round starts once the service's warm-up is done. Reports the
update's own time (including starting its process),
the time until the records were visible (from the start of the update), and the latency
of the first search that saw the new state (the one that opens the updated generation).
Writes ``update_visibility.json`` and ``update_visibility.md``. Changes the store and
index it is given: run it on a scratch copy.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--records", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)

    from harvesters.store import RecordStore
    from query.params import parse_search_params
    from query.service import SearchService

    index_dir, store_path = args.data_dir / "index", args.data_dir / "store.sqlite3"
    service = SearchService(index_dir, store_path)
    service.search(parse_search_params({"query": ["warmup"]}))
    while not service.is_warm():
        time.sleep(0.1)
    rounds = []
    with RecordStore(store_path) as store:
        accessions = [r.accession for r in store.iter_records()]
        documents = len(accessions)
        for round_no in range(args.rounds):
            marker = f"zqxmarker{round_no}{random.randrange(10**6)}"
            chosen = random.Random(round_no).sample(accessions, args.records)
            with store.transaction() as db:
                for acc in chosen:
                    record = store.get(acc)
                    changed = record.model_copy(update={"title": f"{record.title} {marker}"})
                    store.save_record(db, changed, b"{}", changed.content_fingerprint())
            while not service.is_warm():  # each round starts from a settled service
                time.sleep(0.1)
            started = time.perf_counter()
            indexed = _update_in_another_process(store_path, index_dir)
            updated = time.perf_counter()
            first_search_ms, searches = None, 0
            while True:
                t = time.perf_counter()
                found = service.search(parse_search_params({"query": [marker], "pageSize": ["1"]}))["totalHits"]
                searches += 1
                if first_search_ms is None:
                    first_search_ms = (time.perf_counter() - t) * 1e3
                if found == args.records:
                    break
                if time.perf_counter() - started > 300:
                    raise SystemExit(f"round {round_no}: only {found} of {args.records} visible after 300 s")
            visible = time.perf_counter()
            rounds.append({
                "update_s": round(updated - started, 3), "visible_s": round(visible - started, 3),
                "first_search_ms": round(first_search_ms, 1), "searches": searches, "indexed": indexed,
            })
            print(rounds[-1], flush=True)
    result = {"documents": documents, "records": args.records, "rounds": rounds}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "update_visibility.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Incremental update visibility", "",
        f"`python -m benchmarks.update_visibility`: {args.records} records of {documents:,} changed in the store, "
        "`indexer.builder.update` in a process of its own, then searches in the service's process until all are found "
        "(2 CPUs; each round starts with the service warm).", "",
        "| round | update s | visible after s | first search after the update ms |", "|---|---|---|---|",
        *(f"| {i + 1} | {r['update_s']} | {r['visible_s']} | {r['first_search_ms']} |" for i, r in enumerate(rounds)),
    ]
    (args.out / "update_visibility.md").write_text("\n".join(lines) + "\n")


def _update_in_another_process(store_path: Path, index_dir: Path) -> int:
    """Run ``indexer.builder.update`` as the scheduler does: in a process of its own."""
    code = ("import sys; from pathlib import Path; from harvesters.store import RecordStore\n"
            "from indexer.builder import update\n"
            "with RecordStore(sys.argv[1]) as s: print(update(s, Path(sys.argv[2])).indexed)")
    done = subprocess.run([sys.executable, "-c", code, str(store_path), str(index_dir)], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return int(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
