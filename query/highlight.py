"""Highlighted titles and snippets without Whoosh's token stream.

``whoosh.highlight.highlight`` runs every word of a text through a chain of generators of
``Token`` objects (tokenizer, lower-casing, stemming, the matched flag, the fragmenter):
about a tenth of a search request's CPU when a page shows 20 descriptions. ``Highlighter``
returns the same string, character for character, for what result lists use (a
``WholeFragmenter`` or a ``ContextFragmenter``, Whoosh's default scorer, fragments in text
order, an ``HtmlFormatter``) from one ``re.split`` and the index terms of the words it has seen.
``tests/query/test_highlight.py`` checks it against Whoosh on generated texts.

It is built for fields whose analyzer ``indexer.bulk_writer.plan_for`` can reproduce
(a regex tokenizer, lower-casing, stemming); other fields go through Whoosh.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import deque
from html import escape
from itertools import accumulate
from operator import itemgetter

from whoosh import highlight as whoosh_highlight

from indexer.bulk_writer import plan_for

CHAR_LIMIT = whoosh_highlight.DEFAULT_CHARLIMIT  # Whoosh's fragmenters stop at a token ending past this
BETWEEN = "..."  # what HtmlFormatter puts between fragments
KNOWN_WORDS_LIMIT = 100_000  # words remembered per field with their index terms (~20 MB at most)
MAX_CLASSES = 5  # HtmlFormatter's default: term classes t0..t4, recycled

Span = tuple[int, int, str | None]  # start char, end char, index term if it is a searched one


class Highlighter:
    """Marks the words of one field's texts that match a set of index terms."""

    def __init__(self, fieldobj, tagname: str = "mark", classname: str = "match", termclass: str = "t"):
        self._plan = plan_for(fieldobj)
        self._analyzer = fieldobj.analyzer
        self._splitter = _splitter(self._plan.pattern) if self._plan is not None else None
        # Every word seen -> its index term, and index term -> the words seen with it. Shared
        # by request threads: replaced (never cleared) when full, and read through one
        # reference per call, so a call always sees a consistent pair.
        self._known: tuple[dict[str, str], dict[str, set[str]]] = ({}, {})
        self._tag = tagname
        self._open = f'<{tagname} class="{classname} {termclass}'
        self._whoosh_formatter = (tagname, classname, termclass)

    def whole(self, text: str, terms: frozenset[str]) -> str:
        """The whole text with its matching words marked ("" when none matches)."""
        if self._plan is None:
            return self._with_whoosh(text, terms, whoosh_highlight.WholeFragmenter(), 1)
        matches = [s for s in self._spans(text, terms) if s[1] <= CHAR_LIMIT and s[2] is not None]
        return self._format(text, _best([(0, len(text), matches)], 1))

    def snippet(self, text: str, terms: frozenset[str], maxchars: int, surround: int, top: int) -> str:
        """Up to ``top`` passages of about ``maxchars`` around matching words, in text order,
        joined by "..." ("" when none matches): Whoosh's ``ContextFragmenter``."""
        if self._plan is None:
            fragmenter = whoosh_highlight.ContextFragmenter(maxchars=maxchars, surround=surround)
            return self._with_whoosh(text, terms, fragmenter, top)
        fragments = _context_fragments(len(text), self._spans(text, terms), maxchars, surround)
        return self._format(text, _best(fragments, top))

    def _spans(self, text: str, terms: frozenset[str]) -> list[Span]:
        """Every token of ``text`` as (start, end, its index term if that is one of
        ``terms``, else None).

        The walk over tokens is the hot loop of a result page (20 descriptions of ~150
        words), so the tokens and their offsets come from one ``re.split`` (offsets summed
        by ``accumulate``), and index terms come from the table of words seen (``_matching``)."""
        if self._splitter is None:
            term = self._plan.term  # lower-casing and stemming as the analyzer does, stems cached
            return [(m.start(), m.end(), _kept(term(m.group(0)), terms)) for m in self._plan.pattern.finditer(text)]
        parts = self._splitter.split(text)
        stride = self._splitter.groups + 1
        words = parts[1::stride]
        lengths = [0] * (2 * len(words) + 1)
        lengths[0::2] = map(len, parts[0::stride])
        lengths[1::2] = map(len, words)
        offsets = list(accumulate(lengths))
        get = self._matching(words, terms).get
        return list(zip(offsets[0::2], offsets[1::2], map(get, words)))

    def _matching(self, words: list[str], terms: frozenset[str]) -> dict[str, str]:
        """The distinct words among ``words`` whose index term is one of ``terms``, with
        that term: set operations over the words seen before, the analyzer only for new ones."""
        known, by_term = self._known
        distinct = set(words)
        unknown = distinct.difference(known)  # C loop over distinct, dict lookups
        if unknown:
            if len(known) + len(unknown) > KNOWN_WORDS_LIMIT:
                known, by_term = self._known = ({}, {})
                unknown = distinct
            term = self._plan.term
            for word in unknown:
                stem = known[word] = term(word)
                by_term.setdefault(stem, set()).add(word)
        matching = {}
        for stem in terms:
            forms = by_term.get(stem)
            if forms:
                for word in forms & distinct:
                    matching[word] = stem
        return matching

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


def _kept(word: str, terms: frozenset[str]) -> str | None:
    return word if word in terms else None


def _splitter(pattern: re.Pattern) -> re.Pattern | None:
    """``pattern`` as one capturing group around the whole match, for ``re.split``; None
    when the pattern can match the empty string (``split`` then differs from ``finditer``)."""
    if pattern.match("") is not None:
        return None
    return re.compile(f"({pattern.pattern})", pattern.flags)


def _context_fragments(text_length: int, spans: list[Span], maxchars: int, surround: int) -> list:
    """``ContextFragmenter.fragment_tokens`` over plain spans: (start, end, matches) per
    fragment, the same walk, except that a run of unmatched tokens outside any fragment
    is taken in one step: all the walk does with them is keep, in ``firsts``, the starts
    of those within ``surround`` characters of the run's last token."""
    ends = list(map(itemgetter(1), spans))
    limit = bisect_right(ends, CHAR_LIMIT)  # Whoosh stops at the first token ending past it
    starts = list(map(itemgetter(0), spans))
    matched_at = [i for i in range(limit) if spans[i][2] is not None]
    fragments = []
    first = None
    firsts: deque[int] = deque()
    countdown = -1
    matches: list[Span] = []
    endchar = None
    currentlen = 0
    i = 0
    while i < limit:
        span = spans[i]
        startchar, endchar, word = span
        tlength = endchar - startchar
        matched = word is not None
        if countdown < 0 and not matched:
            following = bisect_right(matched_at, i)
            run_end = matched_at[following] if following < len(matched_at) else limit
            endchar = ends[run_end - 1]
            kept = bisect_left(starts, endchar - surround, i, run_end)
            if kept > i:
                firsts = deque(starts[kept:run_end])
            else:
                while firsts and endchar - firsts[0] > surround:
                    firsts.popleft()
                firsts.extend(starts[i:run_end])
            i = run_end
            continue
        if currentlen + tlength > maxchars:
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
        i += 1
    if limit < len(spans):
        endchar = ends[limit]  # Whoosh's loop read that token before it stopped
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
