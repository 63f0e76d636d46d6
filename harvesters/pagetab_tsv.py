"""PageTab TSV, following the BioStudies PageTab specification and the backend's reader.

A document is a series of blocks separated by blank lines; lines starting with ``#`` are
comments. The first block is ``Submission<TAB>AccNo``, the second the root section
(``Type<TAB>AccNo``). Later blocks are subsections (``Type<TAB>AccNo<TAB>ParentAccNo``,
nested under the parent, else under the root), single ``File``/``Link`` entries and
``Files``/``Links`` tables (attached to the most recent section), and section tables
``Type[ParentAccNo]`` (``Type[]``: under the root). Attribute names may be decorated:
``(Name)`` qualifies the previous attribute's name, ``[Name]`` its value, ``<Name>`` marks
a reference. A cell may be double-quoted to hold tabs or line breaks (``""`` is a quote).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from harvesters.pagetab_model import (
    Attribute,
    FileEntry,
    LinkEntry,
    PageTabError,
    Section,
    Submission,
    clean,
    decode_text,
)

_TABLE = re.compile(r"^(.+?)\[(.*)\]$", re.DOTALL)
_DECORATED = re.compile(r"^([(\[<])(.*)([)\]>])$", re.DOTALL)
_PAIRS = {"(": ")", "[": "]", "<": ">"}
_SIMPLE_PAIR = re.compile(r'"[^\n\t"]*"')

Row = tuple[int, list[str]]  # (line number, cells)


# --- tokenising ---------------------------------------------------------------------------


def _quoted_end(text: str, start: int) -> int | None:
    """Index of the quote closing a quoted cell opened at ``start``, or None if it is literal.

    As in the backend, a quoted word without tabs or line breaks (``"word" more``) is
    literal text, also inside a quoted cell; other quotes inside a quoted cell are doubled.
    """
    if _SIMPLE_PAIR.match(text, start):
        return None
    pos = start + 1
    while (pos := text.find('"', pos)) != -1:
        if text.startswith('""', pos):
            pos += 2
            continue
        after = _skip_spaces(text, pos + 1)
        if after == len(text) or text[after] in "\t\n":
            return pos
        pair = _SIMPLE_PAIR.match(text, pos)
        pos = pair.end() if pair else pos + 1
    return None


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] == " ":
        pos += 1
    return pos


def _cell(text: str, pos: int) -> tuple[str, int]:
    """The cell starting at ``pos`` and the position just after it."""
    if text.startswith('"', pos) and (end := _quoted_end(text, pos)) is not None:
        return text[pos + 1 : end].replace('""', '"'), _skip_spaces(text, end + 1)
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end == -1 else line_end
    tab = text.find("\t", pos, line_end)
    stop = line_end if tab == -1 else tab
    return text[pos:stop].strip(" "), stop


def _records(text: str) -> Iterator[Row]:
    """Logical lines (a quoted cell may span several physical ones), comments dropped."""
    pos, line = 0, 1
    while pos < len(text):
        if text.startswith("#", pos):
            stop = text.find("\n", pos)
            pos, line = (len(text), line) if stop == -1 else (stop + 1, line + 1)
            continue
        start_line, cells = line, []
        while True:
            cell, end = _cell(text, pos)
            line += text.count("\n", pos, end)
            cells.append(cell)
            pos = end + 1
            if end >= len(text) or text[end] == "\n":
                line += 1 if end < len(text) else 0
                break
        yield start_line, cells


def _blocks(text: str) -> Iterator[list[Row]]:
    """Groups of non-blank rows separated by blank rows."""
    block: list[Row] = []
    for row in _records(text):
        if any(c.strip() for c in row[1]):
            block.append(row)
        elif block:
            yield block
            block = []
    if block:
        yield block


# --- attributes -----------------------------------------------------------------------------


def _decoration(name: str) -> tuple[str, str]:
    """(kind, bare name): kind is "" (plain), "(" name qualifier, "[" value qualifier, "<"."""
    match = _DECORATED.match(name)
    if match and _PAIRS[match.group(1)] == match.group(3) and match.group(2).strip():
        return match.group(1), match.group(2).strip()
    return "", name


def _add(attributes: list[Attribute], name: str, value: str | None, line: int) -> None:
    kind, bare = _decoration(name)
    if kind in ("", "<"):
        attributes.append(Attribute(bare, value, reference=kind == "<"))
    elif not attributes:
        raise PageTabError(f"line {line}: qualifier {name!r} has no attribute to qualify")
    else:
        last = attributes[-1]
        target = last.name_qualifiers if kind == "(" else last.value_qualifiers
        target.append(Attribute(bare, value))


def _block_attributes(rows: list[Row]) -> list[Attribute]:
    attributes: list[Attribute] = []
    for line, cells in rows:
        name = cells[0].strip()
        if not name:
            raise PageTabError(f"line {line}: attribute value without a name")
        _add(attributes, name, clean(cells[1]) if len(cells) > 1 else None, line)
    return attributes


@dataclass
class _Columns:
    """The header of a table: attribute columns and the qualifier columns after them."""

    names: list[str]

    @classmethod
    def parse(cls, cells: list[str], line: int) -> _Columns:
        names = [c.strip() for c in cells]
        while names and not names[-1]:
            names.pop()
        if any(not n for n in names):
            raise PageTabError(f"line {line}: table column without a name")
        if names and _decoration(names[0])[0] in ("(", "["):
            raise PageTabError(f"line {line}: table starts with qualifier column {names[0]!r}")
        return cls(names)

    def attributes(self, values: list[str], line: int, strict: bool) -> list[Attribute]:
        """Attributes of one row; missing trailing cells are None values."""
        extra = values[len(self.names) :]
        if strict and any(v.strip() for v in extra):
            raise PageTabError(f"line {line}: row has more values than the header")
        attributes: list[Attribute] = []
        for i, name in enumerate(self.names):
            _add(attributes, name, clean(values[i]) if i < len(values) else None, line)
        return attributes


# --- submission -----------------------------------------------------------------------------


@dataclass
class _Builder:
    """Assembles sections in document order, as the backend's serialisation context does."""

    root: Section
    current: Section
    by_accno: dict[str, Section] = field(default_factory=dict)

    def parent(self, accno: str | None, line: int) -> Section:
        if not accno:
            return self.root
        if accno not in self.by_accno:
            raise PageTabError(f"line {line}: parent section {accno!r} is not defined above")
        return self.by_accno[accno]

    def register(self, section: Section) -> None:
        if section.accno:
            self.by_accno.setdefault(section.accno, section)


def parse_tsv(data: bytes) -> Submission:
    """Parse a PageTab TSV submission."""
    chunks = _blocks(decode_text(data))
    head = next(chunks, None)
    if head is None or head[0][1][0].strip().lower() != "submission":
        line = head[0][0] if head else 1
        raise PageTabError(f"line {line}: a PageTab TSV document must start with 'Submission'")
    line, cells = head[0]
    accno = clean(cells[1]) if len(cells) > 1 else None
    if accno is None:
        raise PageTabError(f"line {line}: Submission has no accession")
    attributes = _block_attributes(head[1:])
    root_rows = next(chunks, None)
    if root_rows is None:
        raise PageTabError(f"submission {accno} has no root section")
    root = _root_section(root_rows)
    builder = _Builder(root, root)
    builder.register(root)
    for block in chunks:
        _place(block, builder)
    return Submission(accno, attributes, root, "tsv")


def _root_section(rows: list[Row]) -> Section:
    line, cells = rows[0]
    if _kind(cells[0]) != "section":
        raise PageTabError(f"line {line}: expected the root section, found {cells[0]!r}")
    return _section(rows)


def _kind(header: str) -> str:
    word = header.strip().lower()
    if word in ("file", "files", "link", "links"):
        return word
    return "table" if _TABLE.match(header.strip()) else "section"


def _section(rows: list[Row]) -> Section:
    cells = rows[0][1]
    accno = clean(cells[1]) if len(cells) > 1 else None
    return Section(cells[0].strip(), accno, _block_attributes(rows[1:]))


def _place(rows: list[Row], builder: _Builder) -> None:
    line, cells = rows[0]
    kind = _kind(cells[0])
    if kind == "section":
        section = _section(rows)
        parent_accno = clean(cells[2]) if len(cells) > 2 else None
        builder.parent(parent_accno, line).subsections.append(section)
        builder.register(section)
        builder.current = section
    elif kind == "table":
        _place_section_table(rows, builder)
    elif kind in ("file", "link"):
        _place_single(kind, rows, builder.current)
    else:
        _place_table(kind, rows, builder.current)


_ID = {"file": "path", "files": "path", "link": "url", "links": "url"}


def _place_single(kind: str, rows: list[Row], section: Section) -> None:
    line, cells = rows[0]
    target = clean(cells[1]) if len(cells) > 1 else None
    if target is None:
        raise PageTabError(f"line {line}: {cells[0].strip()} without a {_ID[kind]}")
    attributes = _block_attributes(rows[1:])
    if kind == "file":
        section.files.append(FileEntry(target, None, "file", attributes))
    else:
        section.links.append(LinkEntry(target, attributes))


def _place_table(kind: str, rows: list[Row], section: Section) -> None:
    for line, row_id, attributes in _table_rows(rows):
        if row_id is None:
            raise PageTabError(f"line {line}: table row without a {_ID[kind]}")
        if kind == "files":
            section.files.append(FileEntry(row_id, None, "file", attributes))
        else:
            section.links.append(LinkEntry(row_id, attributes))


def _place_section_table(rows: list[Row], builder: _Builder) -> None:
    line, cells = rows[0]
    match = _TABLE.match(cells[0].strip())
    if match is None:
        raise PageTabError(f"line {line}: {cells[0]!r} is not a section table header")
    parent = builder.parent(clean(match.group(2)), line)
    for _, accno, attributes in _table_rows(rows):
        section = Section(match.group(1).strip(), accno, attributes)
        parent.subsections.append(section)
        builder.register(section)


def _table_rows(rows: list[Row]) -> Iterator[tuple[int, str | None, list[Attribute]]]:
    """(line, first cell, attributes) per row; unlike file lists, extra cells are errors."""
    columns = _Columns.parse(rows[0][1][1:], rows[0][0])
    for line, cells in rows[1:]:
        yield line, clean(cells[0]), columns.attributes(cells[1:], line, strict=True)


# --- file lists -----------------------------------------------------------------------------


def iter_tsv_file_list(stream: BinaryIO) -> Iterator[FileEntry]:
    """Stream a TSV file list (``Files<TAB>Attr…`` then ``path<TAB>value…``) line by line."""
    columns: _Columns | None = None
    for number, raw in enumerate(stream, start=1):
        line = _decode_line(raw, number)
        if not line.strip():
            continue
        if columns is None:
            columns = _file_list_header(line, number)
            continue
        cells = [c.strip() for c in line.split("\t")]
        if not cells[0]:
            raise PageTabError(f"line {number}: file list row without a path")
        yield FileEntry(cells[0], None, "file", columns.attributes(cells[1:], number, strict=False))
    if columns is None:
        raise PageTabError("empty file list")


def _decode_line(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError:
        raise PageTabError(f"line {number}: not valid UTF-8") from None
    return text.rstrip("\r\n")


def _file_list_header(line: str, number: int) -> _Columns:
    cells = line.split("\t")
    if cells[0].strip().lower() != "files":
        raise PageTabError(f"line {number}: a TSV file list must start with a 'Files' header")
    return _Columns.parse(cells[1:], number)
