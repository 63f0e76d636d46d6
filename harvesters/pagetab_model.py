"""Data model shared by the PageTab parsers (JSON, XML, TSV) and their small helpers.

PageTab is the BioStudies submission format: a submission with attributes and one root
section; sections nest, and carry attributes, files and links. Tables (of sections, files
or links) are flattened into the containing list, in document order.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal


class PageTabError(ValueError):
    """A document that is not a usable PageTab submission or file list."""


_SEPARATORS = re.compile(r"[\s\-_]+")


def normalise_key(name: str) -> str:
    """Case-fold ``name`` and drop spaces, hyphens and underscores ("E-mail" -> "email")."""
    return _SEPARATORS.sub("", name).casefold()


def _keys(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise_key(n) for n in names)


class _HasAttributes:
    """Look-ups over ``self.attributes`` with tolerant name matching."""

    __slots__ = ()
    attributes: list[Attribute]

    def attributes_named(self, *names: str) -> list[Attribute]:
        """Attributes whose name matches any of ``names`` (case, space, ``-``, ``_`` ignored)."""
        keys = _keys(names)
        return [a for a in self.attributes if normalise_key(a.name) in keys]

    def values(self, *names: str) -> list[str]:
        """All non-empty values of the attributes named by any of ``names``, in order."""
        return [a.value for a in self.attributes_named(*names) if a.value]

    def value(self, *names: str) -> str | None:
        """The first non-empty value of the attributes named by any of ``names``."""
        found = self.values(*names)
        return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Attribute:
    """A name/value pair; qualifiers are attributes too (without qualifiers of their own)."""

    name: str
    value: str | None
    reference: bool = False
    name_qualifiers: list[Attribute] = field(default_factory=list)
    value_qualifiers: list[Attribute] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FileEntry(_HasAttributes):
    """A file or directory, relative to the submission's root; ``size`` in bytes if known."""

    path: str
    size: int | None = None
    type: str = "file"
    attributes: list[Attribute] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LinkEntry(_HasAttributes):
    """A link: a URL or an accession in another database (``Type`` attribute says which)."""

    url: str
    attributes: list[Attribute] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Section(_HasAttributes):
    """A section of a submission: typed, optionally with an accession, and nested."""

    type: str
    accno: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    links: list[LinkEntry] = field(default_factory=list)

    def walk(self) -> Iterator[Section]:
        """This section and all its descendants, depth first, in document order."""
        stack = [self]
        while stack:
            section = stack.pop()
            yield section
            stack.extend(reversed(section.subsections))

    def of_type(self, *types: str) -> list[Section]:
        """Descendants (not this section) whose type matches any of ``types``, tolerantly."""
        keys = _keys(types)
        walker = self.walk()
        next(walker)
        return [s for s in walker if normalise_key(s.type) in keys]


@dataclass(frozen=True, slots=True)
class Submission(_HasAttributes):
    """A parsed submission; ``format`` records the serialisation it came from."""

    accno: str
    attributes: list[Attribute]
    section: Section
    format: str


# --- helpers shared by the parsers -------------------------------------------------------

FILE_TYPES = frozenset({"file", "directory"})


def clean(value: str | None) -> str | None:
    """Strip ``value``; blank becomes None (PageTab treats blank and missing alike)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def scalar_text(value: object, what: str) -> str | None:
    """A JSON scalar as text: numbers and booleans as written in JSON, null as None."""
    if value is None or isinstance(value, str):
        return clean(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    raise PageTabError(f"{what} must be a string or a number, not {type(value).__name__}")


def to_size(value: object) -> int | None:
    """A file size from an int, a digit string or Mongo's ``{"$numberLong": "…"}``."""
    if isinstance(value, dict):
        value = value.get("$numberLong")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def file_type(value: object) -> str:
    """``"directory"`` when the record says so, otherwise ``"file"``."""
    if isinstance(value, str) and value.strip().lower() in FILE_TYPES:
        return value.strip().lower()
    return "file"


def parse_qualifier_string(text: str) -> list[Attribute]:
    """Qualifiers written as one string, ``"Type=Magazine;Awarded"``."""
    found = []
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if clean(name):
            found.append(Attribute(name.strip(), clean(value) if sep else None))
    return found


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-8 (BOM optional) or UTF-16 with a BOM; CRLF/CR become LF."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PageTabError(f"not valid UTF-8 text (byte {exc.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
