"""One result-list entry per document: the stored summary plus a highlighted title and
snippet (``<mark>``), built only for the documents of the returned page."""

from __future__ import annotations

import html

import orjson

from query.highlight import Highlighter

SNIPPET_CHARS = 240
SNIPPET_SURROUND = 60
_HIGHLIGHTERS: dict[int, tuple[object, Highlighter]] = {}
MAX_HIGHLIGHTERS = 32  # a few fields of the few schemas (generations) a process has open


def query_terms(query, reader) -> dict[str, set[str]]:
    """The words a query matched, by field (wildcards and fuzzy terms expanded)."""
    terms: dict[str, set[str]] = {}
    try:
        found = query.existing_terms(reader, phrases=True, expand=True)
    except Exception:  # a query Whoosh cannot expand still gets a plain snippet
        found = set()
    for field, text in found:
        terms.setdefault(field, set()).add(text.decode("utf-8") if isinstance(text, bytes) else text)
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
