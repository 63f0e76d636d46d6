"""IDR study files (``idrNNNN-study.txt``): bytes → a study block plus screen/experiment blocks.

The format: one row per physical line, ``Key<TAB>value[<TAB>value…]``; ``#`` lines are
comments; a study block comes first, then one block per screen or experiment, each opened by
its ``Screen Number`` / ``Experiment Number`` row. Multi-valued fields spread across columns
and line up column by column with their companion keys (``… Term Source REF``,
``… Term Accession``), so blank cells inside a row are kept.

A decade of templates and hand edits differ; this module absorbs what the real files show:

- **Key spelling.** Keys compare by a compact form: case, spaces and punctuation are ignored
  (``ScreenComments`` = ``Screen Comments``, ``Comment[IDR Study Accession]`` =
  ``comment idr study accession``), ``… Term Accession Number`` = ``… Term Accession`` and
  ``… Term Source`` = ``… Term Source REF``. Callers list the remaining spelling alternatives.
- **Encodings.** UTF-8 with or without BOM, UTF-16 with BOM, else a legacy 8-bit encoding:
  Windows-1252 or Mac Roman, whichever reads as more lower-case letters (idr0113 is Mac
  Roman: ``Z\\x9frich`` is "Zürich").
- **Quotes never join lines.** Cells wrapped in double quotes are unwrapped, but several real
  files (idr0030, idr0040, idr0093, idr0113) have unbalanced quotes that a CSV reader would
  let swallow the rest of the file, and no real file has a cell spanning lines.
- **A value typed into the key cell** (``Study Organism Saccharomyces cerevisiae``, idr0040)
  is found when the key itself is missing.
- **Template hints** (cells starting with ``#``) are dropped.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from harvesters.base import HarvestError

ACCESSION_KEYS = (
    "Comment[IDR Study Accession]",
    "Study Accession",
    "IDR Study Accession",
    "Comment[IDR Study Number]",
    "Study Number",
)
_COMPONENT_KINDS = {"screennumber": "screen", "experimentnumber": "experiment"}
_ACCESSION_VALUE = re.compile(r"^idr[-_ ]?(\d{1,4})(?![\d])", re.I)
_ACCESSION_IN_NAME = re.compile(r"(?<![a-z0-9])idr[-_]?(\d{4})(?!\d)", re.I)
_ROW_BREAK = re.compile(r"\r\n|\r|\n")
# Words that continue a key rather than start a value typed into the key cell.
_KEY_SUFFIX_WORDS = frozenset({"term", "source", "ref", "accession", "number", "url", "id", "name"})


def key_form(key: str) -> str:
    """The compact form keys are compared by (see the module docstring)."""
    form = re.sub(r"[^a-z0-9]+", "", key.lower())
    form = re.sub(r"termaccessionnumber$", "termaccession", form)
    return re.sub(r"termsource$", "termsourceref", form)


@dataclass(frozen=True)
class Line:
    """One key row: its 1-based line number, the key as written and its cleaned cells."""

    number: int
    key: str
    values: tuple[str, ...]

    @property
    def form(self) -> str:
        """The compact key form."""
        return key_form(self.key)

    @property
    def filled(self) -> bool:
        """True when at least one cell holds a value."""
        return any(self.values)


@dataclass
class Block:
    """The study block or one screen/experiment block, with tolerant key look-ups."""

    kind: str
    lines: list[Line] = field(default_factory=list)

    def line(self, *names: str) -> Line | None:
        """The first filled row under any of ``names`` (in order), else the first empty one,
        else a value typed into the key cell, else None."""
        empty = None
        for form in (key_form(name) for name in names):
            for line in self.lines:
                if line.form == form:
                    if line.filled:
                        return line
                    empty = empty or line
        return empty or self._typed_into_key(names)

    def cells(self, *names: str) -> list[str]:
        """All cells of the row, blanks kept so that companion rows line up."""
        line = self.line(*names)
        return list(line.values) if line else []

    def values(self, *names: str) -> list[str]:
        """The non-blank cells of the row."""
        return [value for value in self.cells(*names) if value]

    def value(self, *names: str) -> str | None:
        """The first non-blank cell of the row, or None."""
        values = self.values(*names)
        return values[0] if values else None

    def own(self, suffix: str) -> str:
        """A key of this block's kind: ``own("Imaging Method")`` -> ``"Screen Imaging Method"``."""
        return f"{self.kind} {suffix}"

    def span(self) -> str:
        """``lines 12-40`` for messages."""
        if not self.lines:
            return "no lines"
        return f"lines {self.lines[0].number}-{self.lines[-1].number}"

    def _typed_into_key(self, names: Iterable[str]) -> Line | None:
        for name in names:
            words = [key_form(word) for word in name.split()]
            for line in self.lines:
                parts = line.key.split()
                rest = parts[len(words) :]
                if line.filled or not rest or [key_form(p) for p in parts[: len(words)]] != words:
                    continue
                if key_form(rest[0]) not in _KEY_SUFFIX_WORDS:
                    return Line(line.number, line.key, (" ".join(rest),))
        return None


@dataclass
class StudyFile:
    """A parsed study: accession, the study block and its screens/experiments in order."""

    accession: str
    study: Block
    components: list[Block] = field(default_factory=list)


def parse_study_file(payload: bytes, source_url: str, name_hints: Iterable[str | None] = ()) -> StudyFile:
    """Parse a study file; raise HarvestError("normalise", …) naming the problem and line.

    The accession comes from the file's own accession row (``Comment[IDR Study Accession]``
    in every real file); only when that row is missing or empty is it taken from
    ``name_hints`` (the file or folder name, ``idr0001-study.txt`` / ``idr0001-graml-sysgro``).
    """
    text = decode_study_bytes(payload, source_url)
    study, components = _blocks(_rows(text))
    _check_is_study(study, text, source_url)
    return StudyFile(_accession(study, name_hints, source_url), study, components)


def decode_study_bytes(payload: bytes, source_url: str) -> str:
    """Text of a study file in whatever encoding it came in (see the module docstring)."""
    if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = payload.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise HarvestError("normalise", f"invalid UTF-16 at byte {exc.start}", source_url) from exc
    else:
        try:
            text = payload.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _legacy_decode(payload)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise HarvestError("normalise", f"line {line}: NUL byte, binary content is not a tab-separated study file", source_url)
    return text


def _legacy_decode(payload: bytes) -> str:
    # max() keeps the first on a tie: Windows-1252 unless Mac Roman reads better.
    candidates = (payload.decode("cp1252", errors="replace"), payload.decode("mac_roman"))
    return max(candidates, key=lambda text: sum(1 for ch in text if ord(ch) > 127 and ch.islower()))


def _rows(text: str) -> Iterator[Line]:
    for number, raw in enumerate(_ROW_BREAK.split(text), 1):
        cells = raw.split("\t")
        key = _cell(cells[0], keep_hash=True)
        if not key or key.startswith("#"):
            continue
        values = [_cell(cell) for cell in cells[1:]]
        while values and not values[-1]:
            values.pop()
        yield Line(number, key, tuple(values))


def _cell(cell: str, keep_hash: bool = False) -> str:
    value = " ".join(cell.split())
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('""', '"').strip()
    elif value.count('"') % 2 and (value.startswith('"') or value.endswith('"')):
        value = value.strip('"').strip()  # one half of a pair broken by a hand edit
    if value.startswith("#") and not keep_hash:
        return ""  # a template hint, not a value
    return value


def _blocks(lines: Iterable[Line]) -> tuple[Block, list[Block]]:
    study = Block("study")
    components: list[Block] = []
    current = study
    for line in lines:
        kind = _COMPONENT_KINDS.get(line.form)
        if kind:
            current = Block(kind)
            components.append(current)
        current.lines.append(line)
    return study, components


def _check_is_study(study: Block, text: str, source_url: str) -> None:
    if any(line.form.startswith(("study", "commentidrstudy")) for line in study.lines):
        return
    for number, raw in enumerate(_ROW_BREAK.split(text), 1):
        if raw.strip():
            snippet = " ".join(raw.split())[:60]
            raise HarvestError(
                "normalise",
                f"not an IDR study file: no 'Study …' key before the first screen or experiment; line {number} reads {snippet!r}",
                source_url,
            )
    raise HarvestError("normalise", "empty study file: no key/value lines", source_url)


def _accession(study: Block, name_hints: Iterable[str | None], source_url: str) -> str:
    line = study.line(*ACCESSION_KEYS)
    if line is not None and line.filled:
        written = next(value for value in line.values if value)
        match = _ACCESSION_VALUE.match(written)
        if not match:
            raise HarvestError("normalise", f"line {line.number}: {line.key} is {written[:40]!r}, not an IDR accession like idr0001", source_url)
        return f"idr{int(match.group(1)):04d}"
    for hint in name_hints:
        found = accession_in_name(hint)
        if found:
            return found
    raise HarvestError("normalise", "no study accession: no 'Comment[IDR Study Accession]' row and no idrNNNN in the file name", source_url)


def accession_in_name(name: str | None) -> str | None:
    """``idr0001`` from ``idr0001-study.txt``, ``idr0001-graml-sysgro/screenA`` or None."""
    match = _ACCESSION_IN_NAME.search(name or "")
    return f"idr{match.group(1)}" if match else None
