"""Small text helpers shared by the vocabulary normalisers."""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from typing import Iterator

_EDGE_JUNK = "\"'`“”‘’«»,;:.·"
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def clean_text(text: object) -> str:
    """Collapse whitespace and trim quotes and trailing punctuation; idempotent.

    Anything that is not a string (``None``, numbers) is turned into text first, so the
    normalisers accept whatever a parser hands them.
    """
    if text is None:
        return ""
    value = unicodedata.normalize("NFC", str(text))
    previous = None
    while value != previous:
        previous = value
        value = " ".join(value.split())
        value = value.strip(_EDGE_JUNK)
    return value


def fold(text: str) -> str:
    """Lower-case, strip accents and map look-alike characters (µ -> u, ß -> ss)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def compact_key(text: str) -> str:
    """Match key: folded text with everything but ASCII letters and digits removed.

    ``"Bright-Field Microscopy"``, ``"brightfield microscopy"`` and
    ``"bright field  microscopy"`` all give ``"brightfieldmicroscopy"``.
    """
    return _NON_ALNUM.sub("", fold(text))


def split_trailing_parenthesis(text: str) -> tuple[str, str] | None:
    """Split ``"main (inner)"`` into ``("main", "inner")``.

    The split is at the first top-level ``(`` of a balanced trailing group, so
    ``"Homo sapiens (cell line (U-2 OS))"`` gives ``("Homo sapiens", "cell line (U-2 OS)")``
    and ``"a (b) (c)"`` gives ``("a", "b")``. Returns ``None`` when the text does not end
    with a balanced parenthesised group.
    """
    if not text.endswith(")"):
        return None
    depth = 0
    opening = None
    groups: list[tuple[int, int]] = []
    for index, char in enumerate(text):
        if char == "(":
            if depth == 0:
                opening = index
            depth += 1
        elif char == ")":
            if depth == 0:
                return None
            depth -= 1
            if depth == 0 and opening is not None:
                groups.append((opening, index))
    if depth != 0 or not groups or groups[-1][1] != len(text) - 1:
        return None
    # Walk back over trailing groups separated only by whitespace.
    first = len(groups) - 1
    while first > 0 and not text[groups[first - 1][1] + 1 : groups[first][0]].strip():
        first -= 1
    start, end = groups[first]
    return text[:start].strip(), text[start + 1 : end].strip()


def read_tsv(package: str, name: str) -> Iterator[list[str]]:
    """Rows of a packaged tab-separated data file, without comments, blanks and header.

    The header is the first non-comment row; trailing empty cells are kept so that every
    row has the columns it was written with.
    """
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    seen_header = False
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not seen_header:
            seen_header = True
            continue
        yield [cell.strip() for cell in line.split("\t")]


def split_list(cell: str) -> tuple[str, ...]:
    """Split a ``|``-separated table cell into its non-empty items."""
    return tuple(item.strip() for item in cell.split("|") if item.strip())
