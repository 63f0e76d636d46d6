"""One result-list entry per document: the stored summary plus a highlighted title and
snippet (``<mark>``), built only for the documents of the returned page."""

from __future__ import annotations

import html
import logging

import orjson

from query.highlight import Highlighter

log = logging.getLogger(__name__)
SNIPPET_CHARS = 240
SNIPPET_SURROUND = 60
_HIGHLIGHTERS: dict[int, tuple[object, Highlighter]] = {}
MAX_HIGHLIGHTERS = 32  # a few fields of the few schemas (generations) a process has open


def query_terms(query, reader) -> dict[str, set[str]]:
    """The words a query matched, by field (wildcards and fuzzy terms expanded).

    Whoosh's ``Query.existing_terms`` would do this, but it reuses its ``fieldname``
    argument as a loop variable: after the first leaf, leaves of every other field are
    skipped, so a query over title and description never marked a description."""
    schema = reader.schema
    terms: dict[str, set[str]] = {}
    try:
        for leaf in query.leaves():
            for fieldname, text in leaf.expanded_terms(reader, phrases=True):
                if fieldname not in schema:
                    continue
                try:
                    btext = schema[fieldname].to_bytes(text)
                except ValueError:
                    continue
                if (fieldname, btext) in reader:
                    terms.setdefault(fieldname, set()).add(btext.decode("utf-8"))
    except Exception:  # a query Whoosh cannot expand still gets a plain snippet
        log.debug("no highlighting terms for %r", query, exc_info=True)
    return terms


def highlighter(fieldobj) -> Highlighter:
    """The highlighter of a schema field, made once per field object (it caches stems)."""
    known = _HIGHLIGHTERS.get(id(fieldobj))
    if known is not None and known[0] is fieldobj:
        return known[1]
    if len(_HIGHLIGHTERS) >= MAX_HIGHLIGHTERS:
        _HIGHLIGHTERS.clear()
    made = Highlighter(fieldobj)
    _HIGHLIGHTERS[id(fieldobj)] = (fieldobj, made)
    return made


def render_hit(stored: dict, terms: dict[str, set[str]], schema, score: float | None, fields: list[str] | None) -> dict:
    """The API's hit dict from a document's stored fields."""
    summary = orjson.loads(stored["summary"])
    title = stored.get("title", "")
    description = stored.get("description", "")
    title_words = frozenset(terms.get("title", ()))
    description_words = frozenset(terms.get("description", ()))
    title_html = highlighter(schema["title"]).whole(title, title_words) if title and title_words else ""
    snippet = ""
    if description and description_words:
        snippet = highlighter(schema["description"]).snippet(
            description, description_words, SNIPPET_CHARS, SNIPPET_SURROUND, 2)
    summary.update(
        title_html=title_html or html.escape(title),
        snippet=snippet or plain_snippet(description),
        score=round(score, 4) if score is not None else None,
    )
    return {k: summary.get(k) for k in fields} if fields else summary


def plain_snippet(text: str) -> str:
    """The start of a description, escaped, cut at a word."""
    text = " ".join((text or "").split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
    return html.escape(text)
