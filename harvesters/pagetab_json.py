"""PageTab JSON: submissions as BioStudies serves them, plus the "extended" variant.

Besides plain PageTab (``accno``, ``subsections``, ``nmqual``/``valqual``) this accepts the
spellings of BioStudies' extended submissions (``accNo``, ``sections``, ``nameAttrs``/
``valueAttrs``, ``filePath``, ``{"files": [...]}`` table objects, ``fileList`` objects), and
the ``{"submissions": [...]}`` wrapper of the exporter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from harvesters.pagetab_model import (
    Attribute,
    FileEntry,
    LinkEntry,
    PageTabError,
    Section,
    Submission,
    decode_text,
    file_type,
    parse_qualifier_string,
    scalar_text,
    to_size,
)

_ACCNO_KEYS = ("accno", "accNo", "acc")
_PATH_KEYS = ("path", "filePath", "name", "fileName")


def parse_json(data: bytes) -> Submission:
    """Parse a PageTab JSON submission (or the first of a ``{"submissions": [...]}``)."""
    try:
        document = orjson.loads(decode_text(data))
    except orjson.JSONDecodeError as exc:
        raise PageTabError(f"not valid JSON: {exc}") from None
    try:
        return submission_from_json(_unwrap(document))
    except RecursionError:
        raise PageTabError("JSON nested too deeply") from None


def _unwrap(document: Any) -> dict:
    if isinstance(document, dict) and "submissions" in document and "section" not in document:
        document = document["submissions"]
    if isinstance(document, list):
        if not document:
            raise PageTabError("the document holds no submission")
        document = document[0]
    if not isinstance(document, dict):
        raise PageTabError("a JSON submission must be an object")
    return document


def submission_from_json(obj: dict) -> Submission:
    """Build a Submission from one decoded JSON submission object."""
    accno = _accno(obj)
    if accno is None:
        raise PageTabError("submission has no accession (accno)")
    section = obj.get("section")
    if not isinstance(section, dict):
        raise PageTabError(f"submission {accno} has no section")
    return Submission(accno, _attributes(obj.get("attributes")), _section(section), "json")


def _accno(obj: dict) -> str | None:
    for key in _ACCNO_KEYS:
        if obj.get(key) is not None:
            return scalar_text(obj[key], key)
    return None


def _section(obj: dict) -> Section:
    attributes = _attributes(obj.get("attributes"))
    file_list = obj.get("fileList")
    # Extended submissions move the "File List" attribute into a fileList object.
    if isinstance(file_list, dict) and not any(a.name == "File List" for a in attributes):
        attributes.append(
            Attribute("File List", scalar_text(file_list.get("fileName"), "fileList"))
        )
    return Section(
        type=scalar_text(obj.get("type"), "section type") or "",
        accno=_accno(obj),
        attributes=attributes,
        subsections=[_section(s) for s in _flatten(obj, ("subsections", "sections"), "section")],
        files=[file_from_json(f) for f in _flatten(obj, ("files",), "file")],
        links=[_link(x) for x in _flatten(obj, ("links",), "link")],
    )


def _flatten(obj: dict, keys: tuple[str, ...], what: str) -> Iterator[dict]:
    """Items under the first present key of ``keys``, with tables flattened in order."""
    items = next((obj[k] for k in keys if obj.get(k) is not None), [])
    yield from _items(items, keys, what)


def _items(items: Any, keys: tuple[str, ...], what: str) -> Iterator[dict]:
    if not isinstance(items, list):
        raise PageTabError(f"{keys[0]} must be a list")
    for item in items:
        if isinstance(item, list):
            yield from _items(item, keys, what)
        elif isinstance(item, dict) and _is_table_object(item, keys):
            yield from _flatten(item, keys, what)
        elif isinstance(item, dict):
            yield item
        else:
            raise PageTabError(f"a {what} must be an object, not {type(item).__name__}")


def _is_table_object(item: dict, keys: tuple[str, ...]) -> bool:
    """Extended JSON writes tables as ``{"files": [...]}`` (extType ``filesTable``)."""
    ext = item.get("extType")
    if isinstance(ext, str) and ext.endswith("Table"):
        return True
    if keys[0] == "subsections":
        return False
    return (
        "type" not in item
        and any(isinstance(item.get(k), list) for k in keys)
        and not (any(k in item for k in (*_PATH_KEYS, "url", "attributes")))
    )


def file_from_json(obj: dict) -> FileEntry:
    """Build a FileEntry from a JSON file object (in a section or a file list)."""
    if not isinstance(obj, dict):
        raise PageTabError("a file must be an object")
    path = None
    for key in _PATH_KEYS:
        if obj.get(key) is not None:
            path = scalar_text(obj[key], key)
            break
    if path is None:
        raise PageTabError("file has no path")
    size = to_size(obj.get("size", obj.get("fileSize")))
    return FileEntry(path, size, file_type(obj.get("type")), _attributes(obj.get("attributes")))


def _link(obj: dict) -> LinkEntry:
    url = scalar_text(obj.get("url"), "url")
    if url is None:
        raise PageTabError("link has no url")
    return LinkEntry(url, _attributes(obj.get("attributes")))


def _attributes(items: Any) -> list[Attribute]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise PageTabError("attributes must be a list")
    return [_attribute(item) for item in items]


def _attribute(obj: Any) -> Attribute:
    if not isinstance(obj, dict):
        raise PageTabError("an attribute must be an object")
    name = scalar_text(obj.get("name"), "attribute name")
    if name is None:
        raise PageTabError("attribute has no name")
    return Attribute(
        name=name,
        value=scalar_text(obj.get("value"), f"value of attribute {name!r}"),
        reference=_truthy(obj.get("reference", obj.get("isReference"))),
        name_qualifiers=_qualifiers(obj.get("nmqual", obj.get("nameAttrs"))),
        value_qualifiers=_qualifiers(obj.get("valqual", obj.get("valueAttrs"))),
    )


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _qualifiers(value: Any) -> list[Attribute]:
    """Qualifiers as a list of ``{name, value}``, one such object, or ``"A=b;C"``."""
    if value is None:
        return []
    if isinstance(value, str):
        return parse_qualifier_string(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise PageTabError("attribute qualifiers must be a list, an object or a string")
    return [_qualifier(item) for item in value]


def _qualifier(obj: Any) -> Attribute:
    if not isinstance(obj, dict):
        raise PageTabError("a qualifier must be an object")
    name = scalar_text(obj.get("name"), "qualifier name")
    if name is None:
        raise PageTabError("qualifier has no name")
    return Attribute(name, scalar_text(obj.get("value"), f"value of qualifier {name!r}"))
