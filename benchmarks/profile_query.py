"""Profile queries of the mix through our service over an existing benchmark data dir
(one kept with ``python -m benchmarks.run --keep``: ``<work>/<size>/ours``).

    python -m benchmarks.profile_query --data-dir /tmp/bioimage-bench/100000/ours \\
        --queries 4,10,16 --out benchmarks/results/profile-100000-current.txt

Each query runs with counts of every facet and the result cache cleared, under cProfile;
the listing (by cumulative and by own time) goes to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--queries", default="4", help="ids in the mix (python -m benchmarks.queries lists them)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--code-dir", type=Path, help="import the production packages from this tree")
    args = ap.parse_args(argv)
    if args.code_dir:
        sys.path.insert(0, str(args.code_dir.resolve()))
    from benchmarks.engines import OurService
    from benchmarks.queries import default_mix
    from benchmarks.run import profile_query

    engine = OurService(args.data_dir)
    started = time.perf_counter()
    open_s = engine.open()
    print(f"opened in {open_s:.1f} s", file=sys.stderr)
    mix = default_mix()
    parts = []
    for qid in (int(x) for x in args.queries.split(",")):
        tmp = args.out.with_suffix(f".{qid}.tmp")
        info = profile_query(engine, mix[qid], tmp, repeats=args.repeats)
        parts.append(tmp.read_text())
        tmp.unlink()
        print(f"query {qid}: {info['ms_per_run']} ms per run under the profiler", file=sys.stderr)
        for row in info["top_own_time"][:6]:
            print(f"  {row}", file=sys.stderr)
    args.out.write_text(f"opened the index in {open_s:.1f} s (first search included)\n\n" + "\n\n".join(parts))
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
