"""Parsers for BioStudies PageTab submissions (JSON, XML, TSV) and streaming file lists.

Usage::

    submission = parse_submission(raw_bytes)          # format sniffed
    study = submission.section
    authors = study.of_type("author")
    for entry in iter_file_list(open(path, "rb"), file_list_format(path)): ...

Every parse failure raises :class:`PageTabError` (a ``ValueError``) naming the problem;
TSV messages carry the line number.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import BinaryIO

import ijson

from harvesters.pagetab_json import file_from_json, parse_json
from harvesters.pagetab_model import (
    Attribute,
    FileEntry,
    LinkEntry,
    PageTabError,
    Section,
    Submission,
    normalise_key,
)
from harvesters.pagetab_tsv import iter_tsv_file_list, parse_tsv
from harvesters.pagetab_xml import iter_xml_file_list, parse_xml

__all__ = [
    "Attribute",
    "FileEntry",
    "LinkEntry",
    "PageTabError",
    "Section",
    "Submission",
    "file_list_format",
    "iter_file_list",
    "normalise_key",
    "parse_json",
    "parse_submission",
    "parse_tsv",
    "parse_xml",
    "sniff_format",
]

_PARSERS: dict[str, Callable[[bytes], Submission]] = {
    "json": parse_json,
    "xml": parse_xml,
    "tsv": parse_tsv,
}
_EXTENSIONS = {".json": "json", ".xml": "xml", ".tsv": "tsv", ".txt": "tsv", ".tab": "tsv"}


def parse_submission(data: bytes | str, fmt: str | None = None) -> Submission:
    """Parse a PageTab submission; ``fmt`` is "json", "xml", "tsv" or None to sniff.

    Sniffing looks at the first non-blank character: ``{``/``[`` JSON, ``<`` XML, else TSV.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if fmt is None:
        fmt = sniff_format(data)
    parser = _PARSERS.get(fmt.lower())
    if parser is None:
        raise PageTabError(f"unknown PageTab format {fmt!r} (expected json, xml or tsv)")
    try:
        return parser(data)
    except RecursionError:
        raise PageTabError("document nested too deeply") from None


def sniff_format(data: bytes) -> str:
    """Guess "json", "xml" or "tsv" from the first non-blank character."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = data[:64].decode("utf-16", errors="ignore")
    else:
        head = data[:64].decode("utf-8", errors="ignore").lstrip("\ufeff")
    first = head.lstrip()[:1]
    if first in ("{", "["):
        return "json"
    return "xml" if first == "<" else "tsv"


def file_list_format(name: str) -> str:
    """The format of a file list from its name: .json, .xml, .tsv (.txt and .tab are TSV)."""
    dot = name.rfind(".")
    fmt = _EXTENSIONS.get(name[dot:].lower()) if dot != -1 else None
    if fmt is None:
        raise PageTabError(f"cannot tell the format of file list {name!r} from its extension")
    return fmt


def iter_file_list(stream: BinaryIO, fmt: str) -> Iterator[FileEntry]:
    """Stream the entries of a file list ("json", "tsv" or "xml") without loading it whole."""
    readers = {"json": _iter_json_file_list, "tsv": iter_tsv_file_list, "xml": iter_xml_file_list}
    reader = readers.get(fmt.lower())
    if reader is None:
        raise PageTabError(f"unknown file list format {fmt!r} (expected json, tsv or xml)")
    return reader(stream)


def _iter_json_file_list(stream: BinaryIO) -> Iterator[FileEntry]:
    """A JSON array of file objects, read item by item with ijson."""
    try:
        for item in ijson.items(_ArrayStream(stream), "item"):
            yield file_from_json(item)
    except ijson.JSONError as exc:
        raise PageTabError(f"not a valid JSON file list: {exc}") from None


class _ArrayStream:
    """Wraps a binary stream: drops a UTF-8 BOM and checks that a JSON array follows."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        head = b""
        while not _lead_stripped(head):
            chunk = stream.read(4096)
            if not chunk:
                raise PageTabError("empty JSON file list")
            head += chunk
        head = _lead_stripped(head)
        if not head.startswith(b"["):
            raise PageTabError("a JSON file list must be an array of file objects")
        self._head = head

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes with read(0) to learn whether the stream is binary
            return b""
        if self._head:
            chunk, self._head = self._head, b""
            return chunk
        return self._stream.read(size)


def _lead_stripped(head: bytes) -> bytes:
    return head.lstrip(b" \t\r\n").removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")
