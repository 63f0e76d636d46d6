"""One result-list entry per document: the stored summary plus a highlighted title and
snippet (``<mark>``), built only for the documents of the returned page."""

from __future__ import annotations

import html

import orjson
from whoosh import highlight

SNIPPET_CHARS = 240


def formatter() -> highlight.HtmlFormatter:
    """A new ``<mark>`` formatter for one text: Whoosh's formatter numbers terms (``t0``,
    ``t1``...) in a dictionary it keeps, so a shared one would number them by the whole
    process's history and be written by concurrent requests."""
    return highlight.HtmlFormatter(tagname="mark", classname="match", termclass="t")


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


def _highlight(text: str, words: set[str], analyzer, fragmenter, top: int) -> str:
    if not text or not words:
        return ""
    return highlight.highlight(text, frozenset(words), analyzer, fragmenter, formatter(), top=top)


def render_hit(stored: dict, terms: dict[str, set[str]], schema, score: float | None, fields: list[str] | None) -> dict:
    """The API's hit dict from a document's stored fields."""
    summary = orjson.loads(stored["summary"])
    title = stored.get("title", "")
    description = stored.get("description", "")
    title_html = _highlight(title, terms.get("title", set()), schema["title"].analyzer, highlight.WholeFragmenter(), 1)
    snippet = _highlight(
        description,
        terms.get("description", set()),
        schema["description"].analyzer,
        highlight.ContextFragmenter(maxchars=SNIPPET_CHARS, surround=60),
        2,
    )
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
