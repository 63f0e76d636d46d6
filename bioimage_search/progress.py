"""Progress for long work: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextlib import contextmanager
from typing import Iterator

from tqdm import tqdm

log = logging.getLogger("bioimage_search")
LOG_EVERY = 100


@contextmanager
def progress(label: str, total: int | None = None, stream=None) -> Iterator[Callable[[str], None]]:
    """Yield a ``tick(item)`` callable that advances a tqdm bar or logs every 100 items."""
    stream = stream or sys.stderr
    if stream.isatty():
        with tqdm(total=total, desc=label, unit="rec", file=stream, leave=False) as bar:
            yield lambda item: bar.update(1)
        return
    count = 0

    def tick(item: str) -> None:
        nonlocal count
        count += 1
        if count % LOG_EVERY == 0:
            log.info("%s: %d done (last %s)", label, count, item)

    yield tick
