"""PageTab XML: ``<submission>`` documents (bare or in ``<pmdocument><submissions>``) and
streaming ``<files><file>`` file lists.

Parsing never resolves entities, loads DTDs or touches the network; documents that declare
or use entities are refused outright.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from harvesters.pagetab_model import (
    Attribute,
    FileEntry,
    LinkEntry,
    PageTabError,
    Section,
    Submission,
    clean,
    file_type,
    to_size,
)

_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_ACCNO_KEYS = ("acc", "accno")


def parse_xml(data: bytes) -> Submission:
    """Parse a PageTab XML submission; the first ``<submission>`` element is used."""
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, **_SAFE)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise PageTabError(f"not well-formed XML: {exc}") from None
    if root is None:
        raise PageTabError("empty XML document")
    _refuse_entities(root)
    submission = next((e for e in root.iter(etree.Element) if _local(e) == "submission"), None)
    if submission is None:
        raise PageTabError("no <submission> element")
    return _submission(submission)


def _refuse_entities(element: etree._Element) -> None:
    dtd = element.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise PageTabError("XML entity declarations are not accepted")
    if next(element.iter(etree.Entity), None) is not None:
        raise PageTabError("XML entity references are not accepted")


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element, *names: str) -> Iterator[etree._Element]:
    return (c for c in element.iterchildren(etree.Element) if _local(c) in names)


def _child(element: etree._Element, *names: str) -> etree._Element | None:
    return next(_children(element, *names), None)


def _text(element: etree._Element | None) -> str | None:
    return None if element is None else clean("".join(element.itertext()))


def _xml_attr(element: etree._Element, *names: str) -> str | None:
    """An XML attribute by case-insensitive local name (``acc``, ``accNo``, ``accno``)."""
    wanted = {n.lower() for n in names}
    for key, value in element.attrib.items():
        if etree.QName(key).localname.lower() in wanted:
            return clean(value)
    return None


def _submission(element: etree._Element) -> Submission:
    accno = _xml_attr(element, *_ACCNO_KEYS)
    if accno is None:
        raise PageTabError("submission has no accession (acc attribute)")
    section = _child(element, "section")
    if section is None:
        raise PageTabError(f"submission {accno} has no section")
    return Submission(accno, _attributes(element), _section(section), "xml")


def _section(element: etree._Element) -> Section:
    return Section(
        type=_xml_attr(element, "type") or "",
        accno=_xml_attr(element, *_ACCNO_KEYS),
        attributes=_attributes(element),
        subsections=[
            _section(s) for s in _grouped(element, ("subsections", "sections"), "section")
        ],
        files=[file_from_xml(f) for f in _grouped(element, ("files",), "file")],
        links=[_link(x) for x in _grouped(element, ("links",), "link")],
    )


def _grouped(
    element: etree._Element, groups: tuple[str, ...], item: str
) -> Iterator[etree._Element]:
    """``<group><item/><table><item/>…</table></group>``, tables flattened in order."""
    for group in _children(element, *groups):
        for child in _children(group, item, "table"):
            yield from (_children(child, item) if _local(child) == "table" else [child])


def _attributes(element: etree._Element) -> list[Attribute]:
    holder = _child(element, "attributes")
    return [] if holder is None else [_attribute(a) for a in _children(holder, "attribute")]


def _attribute(element: etree._Element) -> Attribute:
    name = _text(_child(element, "name"))
    if name is None:
        raise PageTabError("attribute has no name")
    return Attribute(
        name=name,
        value=_text(_child(element, "value")),
        reference=(_xml_attr(element, "reference", "isReference") or "").lower() == "true",
        name_qualifiers=[_qualifier(q) for q in _children(element, "nmqual")],
        value_qualifiers=[_qualifier(q) for q in _children(element, "valqual")],
    )


def _qualifier(element: etree._Element) -> Attribute:
    name = _text(_child(element, "name"))
    if name is None:
        raise PageTabError("qualifier has no name")
    return Attribute(name, _text(_child(element, "value")))


def file_from_xml(element: etree._Element) -> FileEntry:
    """A ``<file>`` element: ``<path>`` (or ``<name>``), size attribute or element, type."""
    path = _text(_child(element, "path")) or _text(_child(element, "name"))
    if path is None:
        raise PageTabError("file has no path")
    size = to_size(_xml_attr(element, "size") or _text(_child(element, "size")))
    kind = file_type(_xml_attr(element, "type") or _text(_child(element, "type")))
    return FileEntry(path, size, kind, _attributes(element))


def _link(element: etree._Element) -> LinkEntry:
    url = _text(_child(element, "url"))
    if url is None:
        raise PageTabError("link has no url")
    return LinkEntry(url, _attributes(element))


def iter_xml_file_list(stream: BinaryIO) -> Iterator[FileEntry]:
    """Stream the ``<file>`` elements of an XML file list, freeing each once read."""
    events = etree.iterparse(stream, events=("start", "end"), remove_comments=True, **_SAFE)
    checked = False
    try:
        for event, element in events:
            if not checked:
                _refuse_entities(element)
                checked = True
            if event == "end" and _local(element) == "file":
                yield _release(element, file_from_xml(_checked(element)))
    except etree.XMLSyntaxError as exc:
        raise PageTabError(f"not well-formed XML file list: {exc}") from None


def _checked(element: etree._Element) -> etree._Element:
    if next(element.iter(etree.Entity), None) is not None:
        raise PageTabError("XML entity references are not accepted")
    return element


def _release(element: etree._Element, entry: FileEntry) -> FileEntry:
    """Clear a parsed element and drop its finished siblings so memory stays flat."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]
    return entry
