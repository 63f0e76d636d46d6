"""Serve our Flask app over a benchmark data directory (started by benchmarks.run).

    python -m benchmarks.serve --data-dir DIR --port N [--threads 8] [--workers 1]

Uses waitress when installed (as in production), else werkzeug's threaded server. With
``--workers`` above 1 it serves as ``bioimage-search serve --workers N`` does (a supervisor
and N waitress processes on one listening socket), without the scheduler.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="web processes (production's serve --workers)")
    ap.add_argument("--code-dir", type=Path, help="import the production packages from this tree")
    args = ap.parse_args(argv)
    if args.code_dir:
        sys.path.insert(0, str(args.code_dir.resolve()))  # before the working directory
    from bioimage_search.config import PathsSettings, Settings
    from web.app import create_app
    import query.service

    print(f"server: query.service from {query.service.__file__}", flush=True)
    settings = Settings(paths=PathsSettings(data_dir=str(args.data_dir.resolve())))
    logging.getLogger("waitress").setLevel(logging.ERROR)
    if args.workers > 1:
        from bioimage_search.serving import serve as serve_workers

        settings.scheduler.enabled = False
        serve_workers(settings, args.host, args.port, workers=args.workers, threads=args.threads,
                      echo=lambda line: print(f"server: {line}", flush=True))
        return
    app = create_app(settings)
    try:
        from waitress import serve
    except ImportError:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        print("server: werkzeug (threaded)", flush=True)
        make_server(args.host, args.port, app, threaded=True).serve_forever()
    else:
        print(f"server: waitress ({args.threads} threads)", flush=True)
        serve(app, host=args.host, port=args.port, threads=args.threads, connection_limit=256,
              channel_timeout=600, ident="bench")


if __name__ == "__main__":
    main()
