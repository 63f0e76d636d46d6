"""Highlighted titles and snippets without Whoosh's token stream.

``whoosh.highlight.highlight`` runs every word of a text through a chain of generators of
``Token`` objects (tokenizer, lower-casing, stemming, the matched flag, the fragmenter):
about a tenth of a search request's CPU when a page shows 20 descriptions. ``Highlighter``
returns the same string, character for character, for what result lists use (a
``WholeFragmenter`` or a ``ContextFragmenter``, Whoosh's default scorer, fragments in text
order, an ``HtmlFormatter``) from one regex pass and the stem cache of the field's bulk analysis.
``tests/query/test_highlight.py`` checks it against Whoosh on generated texts.

It is built for fields whose analyzer ``indexer.bulk_writer.plan_for`` can reproduce
(a regex tokenizer, lower-casing, stemming); other fields go through Whoosh.
"""

from __future__ import annotations

from collections import deque
from html import escape

from whoosh import highlight as whoosh_highlight

from indexer.bulk_writer import plan_for

CHAR_LIMIT = whoosh_highlight.DEFAULT_CHARLIMIT  # Whoosh's fragmenters stop at a token ending past this
BETWEEN = "..."  # what HtmlFormatter puts between fragments
MAX_CLASSES = 5  # HtmlFormatter's default: term classes t0..t4, recycled

Span = tuple[int, int, str]  # start char, end char, index term


class Highlighter:
    """Marks the words of one field's texts that match a set of index terms."""

    def __init__(self, fieldobj, tagname: str = "mark", classname: str = "match", termclass: str = "t"):
        self._plan = plan_for(fieldobj)
        self._analyzer = fieldobj.analyzer
        self._tag = tagname
        self._open = f'<{tagname} class="{classname} {termclass}'
        self._whoosh_formatter = (tagname, classname, termclass)

    def whole(self, text: str, terms: frozenset[str]) -> str:
        """The whole text with its matching words marked ("" when none matches)."""
        if self._plan is None:
            return self._with_whoosh(text, terms, whoosh_highlight.WholeFragmenter(), 1)
        matches = [s for s in self._spans(text) if s[1] <= CHAR_LIMIT and s[2] in terms]
        return self._format(text, _best([(0, len(text), matches)], 1))

    def snippet(self, text: str, terms: frozenset[str], maxchars: int, surround: int, top: int) -> str:
        """Up to ``top`` passages of about ``maxchars`` around matching words, in text order,
        joined by "..." ("" when none matches): Whoosh's ``ContextFragmenter``."""
        if self._plan is None:
            fragmenter = whoosh_highlight.ContextFragmenter(maxchars=maxchars, surround=surround)
            return self._with_whoosh(text, terms, fragmenter, top)
        fragments = _context_fragments(len(text), self._spans(text), terms, maxchars, surround)
        return self._format(text, _best(fragments, top))

    def _spans(self, text: str) -> list[Span]:
        term = self._plan.term  # lower-casing and stemming as the analyzer does, stems cached
        return [(m.start(), m.end(), term(m.group(0))) for m in self._plan.pattern.finditer(text)]

    def _format(self, text: str, fragments: list[tuple[int, int, list[Span]]]) -> str:
        classes: dict[str, int] = {}  # numbered per text, like a fresh HtmlFormatter
        out = []
        for start, end, matches in fragments:
            parts, index = [], start
            for first, last, _ in matches:
                if first < index:
                    continue
                if first > index:
                    parts.append(escape(text[index:first], quote=False))
                word = escape(text[first:last], quote=False)
                number = classes.get(word)
                if number is None:
                    number = classes[word] = len(classes) % MAX_CLASSES
                parts.append(f'{self._open}{number}">{word}</{self._tag}>')
                index = last
            parts.append(escape(text[index:end], quote=False))
            out.append("".join(parts))
        return BETWEEN.join(out)

    def _with_whoosh(self, text: str, terms: frozenset[str], fragmenter, top: int) -> str:
        tag, classname, termclass = self._whoosh_formatter
        formatter = whoosh_highlight.HtmlFormatter(tagname=tag, classname=classname, termclass=termclass)
        return whoosh_highlight.highlight(text, terms, self._analyzer, fragmenter, formatter, top=top)


def _best(fragments: list[tuple[int, int, list[Span]]], top: int) -> list[tuple[int, int, list[Span]]]:
    """Whoosh's ``top_fragments`` with its default scorer: the ``top`` highest scoring
    (matches times 100 per distinct term; ties to the later one), at least 1, in text order."""
    scored = []
    for fragment in fragments:
        matches = fragment[2]
        score = len(matches) * ((len({m[2] for m in matches}) * 100) or 1)
        if score >= 1:
            scored.append((score, fragment[0], fragment))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    return sorted((s[2] for s in scored[:top]), key=lambda f: f[0])


def _context_fragments(text_length: int, spans: list[Span], terms: frozenset[str], maxchars: int, surround: int) -> list:
    """``ContextFragmenter.fragment_tokens`` over plain spans: (start, end, matches) per
    fragment, statement for statement the same walk."""
    fragments = []
    first = None
    firsts: deque[int] = deque()
    countdown = -1
    matches: list[Span] = []
    endchar = None
    currentlen = 0
    for span in spans:
        startchar, endchar, word = span
        tlength = endchar - startchar
        if endchar > CHAR_LIMIT:
            break
        matched = word in terms
        if countdown < 0 and not matched:
            firsts.append(startchar)
            while firsts and endchar - firsts[0] > surround:
                firsts.popleft()
        elif currentlen + tlength > maxchars:
            countdown = 0
        elif matched:
            countdown = surround
            if first is None:
                if firsts:
                    first = firsts[0]
                else:
                    first = startchar
                    countdown += surround
            matches.append(span)
        if countdown >= 0:
            currentlen += tlength
            countdown -= tlength
            if countdown <= 0:
                fragments.append(_fragment(text_length, matches, first, endchar))
                matches, firsts, first, currentlen = [], deque(), None, 0
    if matches:
        fragments.append(_fragment(text_length, matches, first, endchar))
    return fragments


def _fragment(text_length: int, matches: list[Span], start: int | None, end: int | None) -> tuple:
    """Whoosh's ``mkfrag`` with no extra context."""
    if start is None:
        start = matches[0][0] if matches else 0
    if end is None:
        end = matches[-1][1] if matches else text_length
    return (max(0, start), min(text_length, end), matches)
