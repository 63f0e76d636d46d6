"""Search-box completions and "did you mean" spelling suggestions. Flask-free.

Both read a :class:`SuggestIndex`, built once per index generation (see
:func:`suggest_index`) from the word counts of the live documents (kept per segment, see
:mod:`query.suggest_words`) and the generation's facet labels, and kept in a module-level
cache keyed by ``(index directory, generation pointer stamp)``: a build swapped in or an
update committed gives a new key, hence a new index (built in the background while the
previous one keeps answering).

Completions (:func:`suggestions`) come from

* whole titles (``kind="title"``), matched at the start of the title or of any later word;
* terms (``kind="term"``): words of titles and keywords, and multi-word keywords;
* facet values (``kind="facet"``, with ``facet`` and ``key``): the labels of the live
  generation plus, for organisms, the taxon's scientific name, common names and synonyms,
  and for imaging methods the FBbi name, synonyms and curated aliases. A value matched
  through another name shows it: ``"hum"`` gives ``"Homo sapiens (human)"``.

Matching is on folded text (case, accents and punctuation ignored; runs of separators are
one space), so ``"light sh"`` completes ``"light-sheet …"``. Every name is stored under
its folded form in sorted lists (one for starts of the whole text, one for later word
starts); a prefix is a :func:`bisect.bisect_left` and a scan of the matching range.
Ranking: exact match, then a match at the start, then at a later word; then ``count``
(the datasets the suggestion finds) descending; then facets before terms before titles.

``count`` is, for a facet value, the datasets a ``facet.<name>=<key>`` filter selects (the
ontology tree field for organisms and imaging methods, so a broad method counts its
narrower ones); for a word, the datasets whose title, keywords, description, organism or
imaging-method names contain it; for a keyword phrase, the datasets listing it; for a
title, the datasets with that title.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import product
from pathlib import Path
from typing import NamedTuple

from whoosh import query as wq

from harvesters.vocab.fbbi import fbbi
from harvesters.vocab.taxonomy import taxon
from indexer.schema import DEFAULT_FIELDS, FACETS
from query import ast
from query.compile import compile_query, make_wildcard_expander
from query.filters import TREE_FIELDS
from query.suggest_words import SEPARATORS, SegmentWords, WordCounts, fold, normalize
from query.syntax import parse_query

log = logging.getLogger(__name__)

MAX_LIMIT = 50
MAX_PREFIX_CHARS = 200
KEY_CHARS = 40  # sorted keys hold this much of each name; longer prefixes are verified
LAST_CHAR = chr(0x10FFFF)
MAX_INNER_WORDS = 30  # later word starts indexed per name
MIN_INNER_PREFIX = 2  # shorter prefixes only match the start of a name
MEMO_SIZE = 4096  # ranked completions remembered per generation
KEEP_SLOTS = 4  # index directories (services) whose suggestion data is kept
PENDING = object()  # did_you_mean's answer when the suggestion data was not ready in time
FIRST_BUILD_WAIT_S = 2.0  # the service's requests wait this long for an index's first suggestion data
SKIP_FACETS = frozenset({"release_year"})
KIND_ORDER = {"facet": 0, "term": 1, "title": 2}

DID_YOU_MEAN_BELOW = 3  # offer corrections when a search has fewer hits than this
MIN_CORRECTABLE_CHARS = 3
CORRECTIONS_PER_TERM = 3
MAX_CORRECTION_TRIALS = 6
MAX_CORRECTED_TERMS = 6
_QUERY_KEYWORDS = frozenset({"AND", "OR", "NOT", "TO"})



# --------------------------------------------------------------------------- text


def normalize_prefix(text: str) -> str:
    """The match form of typed text; a trailing separator is kept as one space (the last
    word is complete: ``"light "`` matches ``"light sheet"`` but not ``"lightning"``)."""
    spaced = SEPARATORS.sub(" ", fold(text))
    core = spaced.strip()
    return core + " " if core and spaced.endswith(" ") else core


def _display(forms: Counter) -> str:
    """The surface form to show: the commonest lower-case one if any, else the commonest."""
    lower = [(n, form) for form, n in forms.items() if form == form.lower()]
    if lower:
        return max(lower, key=lambda item: (item[0], item[1]))[1]
    return forms.most_common(1)[0][0]


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment edit distance, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            value = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            row[j] = value
        if min(row) > limit:
            return limit + 1
        before, previous = previous, row
    return previous[-1]


# --------------------------------------------------------------------------- facet names


@cache
def _fbbi_aliases() -> dict[str, tuple[str, ...]]:
    by_term: dict[str, list[str]] = defaultdict(list)
    for alias, curie in fbbi().aliases():
        by_term[curie].append(alias)
    return {curie: tuple(aliases) for curie, aliases in by_term.items()}


def _contains_words(outer: str, inner: str) -> bool:
    return f" {inner} " in f" {outer} "


def _facet_names(facet: str, key: str, label: str) -> list[tuple[str, str]]:
    """(display text, folded name) for every name of a facet value, the label first."""
    names: list[str] = [label]
    default = label
    if facet == "organism":
        found = taxon(key) if key.startswith("NCBITaxon:") else None
        if found is not None:
            names += [found.scientific_name, *found.common_names, *found.synonyms]
            if found.common_names and not _contains_words(normalize(label), normalize(found.common_names[0])):
                default = f"{label} ({found.common_names[0]})"
    elif facet == "imaging_method":
        term = fbbi().term(key) if key.startswith("FBbi:") else None
        if term is not None:
            names += [term.name, *term.synonyms, *_fbbi_aliases().get(term.id, ())]
            inner = re.fullmatch(r"(.*\S)\s*\(([^()]+)\)", term.name)
            if inner:
                names += [inner.group(1), inner.group(2)]
    else:
        names.append(key)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    shown = normalize(default)
    for name in names:
        norm = normalize(name)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        display = default if _contains_words(shown, norm) or norm == normalize(label) else f"{label} ({name})"
        out.append((display, norm))
    return out


# --------------------------------------------------------------------------- the index


class _Entry(NamedTuple):
    kind: str
    facet: str | None
    key: str | None
    count: int


@dataclass(frozen=True)
class Correction:
    """A spelling correction: the word to show, its edit distance and document frequency."""

    text: str
    distance: int
    count: int


class _Names:
    """Every name of every entry, once: its entry, rank, display text and folded text."""

    def __init__(self) -> None:
        self.entry = array("i")
        self.rank = array("i")
        self.display: list[str] = []
        self.norm: list[str] = []

    def add(self, entry: int, rank: int, display: str, norm: str) -> int:
        self.entry.append(entry)
        self.rank.append(rank)
        self.display.append(display)
        self.norm.append(norm)
        return len(self.norm) - 1


class _SortedNames:
    """Places in folded names (a name and an offset into it), sorted by the KEY_CHARS
    characters from there, for prefix range scans. Two integers per place: the sort keys
    are sliced from the names when compared, not stored (a title has up to
    1 + MAX_INNER_WORDS places)."""

    def __init__(self, names: _Names, name_ids: array, offsets: array):
        norm = names.norm
        order = sorted(range(len(name_ids)), key=lambda i: norm[name_ids[i]][offsets[i]:offsets[i] + KEY_CHARS])
        self.names = names
        self._ids = array("i", (name_ids[i] for i in order))
        self._offsets = array("i", (offsets[i] for i in order))

    def _key(self, i: int) -> str:
        offset = self._offsets[i]
        return self.names.norm[self._ids[i]][offset:offset + KEY_CHARS]

    def best_by_entry(self, prefix: str, whole: str, inner: bool, best: dict[int, tuple[tuple, int]]) -> None:
        """For each entry with a name matching ``prefix`` here, keep in ``best`` its best
        ``(quality, name id)``: quality is (tier, not the main name, name length, name rank),
        tier 0 for the whole name typed, 1 for a match at its start, 2 at a later word."""
        probe = prefix[:KEY_CHARS]
        ids, offsets = self._ids, self._offsets
        names = self.names
        entry_of, rank_of, norm_of = names.entry, names.rank, names.norm
        places = range(len(ids))
        start = bisect_left(places, probe, key=self._key)
        # Keys beginning with the probe sort before the probe followed by the last code point.
        stop = bisect_left(places, probe + LAST_CHAR, lo=start, key=self._key)
        verify = len(prefix) > KEY_CHARS
        for i in range(start, stop):
            name = ids[i]
            norm = norm_of[name]
            if verify and not norm.startswith(prefix, offsets[i]):
                continue
            rank = rank_of[name]
            # Within a tier: the main name, then the shortest other name ("human" before "humans").
            quality = (2 if inner else (0 if norm == whole else 1), rank > 0, len(norm), rank)
            entry = entry_of[name]
            found = best.get(entry)
            if found is None or quality < found[0]:
                best[entry] = (quality, name)


class SuggestIndex:
    """Completion names and the spelling vocabulary of one index generation."""

    def __init__(self, entries: list[_Entry], starts: _SortedNames, inner: _SortedNames,
                 vocabulary: dict[str, int], surfaces: dict[str, str]):
        self.entries = entries
        self._starts = starts
        self._inner = inner
        self.vocabulary = vocabulary  # folded word -> datasets containing it
        self._surfaces = surfaces  # folded word -> the form to show
        self._buckets: dict[tuple[str, int], list[str]] = defaultdict(list)
        for word in vocabulary:
            self._buckets[(word[0], len(word))].append(word)
        self._memo: dict[str, list[dict]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    # -- completions

    def complete(self, prefix: str, limit: int = 10) -> list[dict]:
        """Ranked completions of typed text (at most ``limit``, itself at most MAX_LIMIT)."""
        norm = normalize_prefix(prefix[:MAX_PREFIX_CHARS])
        if not norm:
            return []
        ranked = self._memo.get(norm)
        if ranked is None:
            ranked = self._rank(norm)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[norm] = ranked
        return [dict(item) for item in ranked[: max(0, min(limit, MAX_LIMIT))]]

    def _rank(self, prefix: str) -> list[dict]:
        whole = prefix.strip()
        best: dict[int, tuple[tuple, int]] = {}  # entry -> (how well, the name that matched)
        self._starts.best_by_entry(prefix, whole, False, best)
        rows = self._rows(best)
        # Matches at a later word rank after every match at the start: once the starts fill
        # the list, the (much larger) range of later-word places need not be read.
        if len(rows) < MAX_LIMIT and len(whole) >= MIN_INNER_PREFIX:
            self._inner.best_by_entry(prefix, whole, True, best)
            rows = self._rows(best)
        display = self._starts.names.display
        return [{"text": display[name], "kind": entry.kind, "facet": entry.facet, "key": entry.key, "count": entry.count}
                for _, entry, name in heapq.nsmallest(MAX_LIMIT, rows, key=lambda row: row[0])]

    def _rows(self, best: dict[int, tuple[tuple, int]]) -> list[tuple]:
        """(sort key, entry, name id) of each matched entry, less the terms a matched facet
        value already says (with its key)."""
        names = self._starts.names
        display, norm_of = names.display, names.norm
        entries = self.entries
        facet_texts = {normalize(display[name]) for entry_id, (_, name) in best.items() if entries[entry_id].kind == "facet"}
        rows = []
        for entry_id, (quality, name) in best.items():
            entry = entries[entry_id]
            if entry.kind == "term" and norm_of[name] in facet_texts:
                continue
            shown = display[name]
            rows.append(((quality[0], -entry.count, KIND_ORDER[entry.kind], len(shown), shown.casefold()), entry, name))
        return rows

    # -- spelling

    def corrections(self, word: str, limit: int = CORRECTIONS_PER_TERM) -> list[Correction]:
        """Vocabulary words within 1 (short words) or 2 edits of ``word`` sharing its first
        letter and found in more datasets than ``word``; closest, then commonest, first."""
        word = normalize(word)
        if len(word) < MIN_CORRECTABLE_CHARS or " " in word:
            return []
        limit_distance = 1 if len(word) <= 5 else 2
        own = self.vocabulary.get(word, 0)
        found = []
        for length in range(len(word) - limit_distance, len(word) + limit_distance + 1):
            for candidate in self._buckets.get((word[0], length), ()):
                count = self.vocabulary[candidate]
                if candidate == word or count <= own:
                    continue
                distance = _distance(word, candidate, limit_distance)
                if distance <= limit_distance:
                    found.append((distance, -count, candidate))
        found.sort()
        return [Correction(self._show(w), d, -c) for d, c, w in found[:limit]]

    def _show(self, word: str) -> str:
        surface = self._surfaces.get(word, word)
        return word if surface in _QUERY_KEYWORDS else surface  # never turn a word into an operator


class _Builder:
    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.names = _Names()
        self.starts = (array("i"), array("i"))  # name, offset 0
        self.inner = (array("i"), array("i"))  # name, offset of a later word

    def add(self, entry: _Entry, names: Sequence[tuple[str, str]], inner: bool) -> None:
        entry_id = len(self.entries)
        self.entries.append(entry)
        for rank, (display, norm) in enumerate(names):
            name = self.names.add(entry_id, rank, display, norm)
            self.starts[0].append(name)
            self.starts[1].append(0)
            if not inner:
                continue
            offset = norm.find(" ") + 1
            for _ in range(MAX_INNER_WORDS):
                if not offset:
                    break
                self.inner[0].append(name)
                self.inner[1].append(offset)
                offset = norm.find(" ", offset) + 1

    def build(self, vocabulary: dict[str, int], surfaces: dict[str, str]) -> SuggestIndex:
        return SuggestIndex(self.entries, _SortedNames(self.names, *self.starts), _SortedNames(self.names, *self.inner),
                            vocabulary, surfaces)


def _live_count(reader, field: str, key: str) -> int:
    """Undeleted documents with ``key`` in ``field`` (doc_frequency counts deleted ones)."""
    if (field, key) not in reader:
        return 0
    return sum(1 for _ in reader.postings(field, key).all_ids())


def build_suggest_index(searcher, labels: Mapping[str, Mapping[str, str]], counts: WordCounts | None = None) -> SuggestIndex:
    """Build the suggestion data from the word counts of the live documents (``counts``,
    else read from every stored document now) and the facet labels."""
    reader = searcher.reader()
    if counts is None:
        counts = SegmentWords().live_counts(reader)
    builder = _Builder()
    surfaces = {word: _display(forms) for word, forms in counts.forms.items() if forms and word not in counts.plain}
    for spec in FACETS:
        if spec.name in SKIP_FACETS:
            continue
        field = TREE_FIELDS.get(spec.name, spec.field)
        for key, label in sorted((labels.get(spec.name) or {}).items()):
            count = _live_count(reader, field, key)
            if count:
                builder.add(_Entry("facet", spec.name, key, count), _facet_names(spec.name, key, label), inner=True)
    for norm, forms in counts.titles.items():
        builder.add(_Entry("title", None, None, sum(forms.values())), [(next(iter(forms)), norm)], inner=True)
    for word in sorted(counts.terms):
        builder.add(_Entry("term", None, None, counts.words[word]), [(surfaces.get(word, word), word)], inner=False)
    for norm, forms in sorted(counts.phrases.items()):
        builder.add(_Entry("term", None, None, counts.phrase_docs[norm]), [(_display(forms), norm)], inner=True)
    return builder.build(dict(counts.words), surfaces)


# --------------------------------------------------------------------------- the cache

class _Cache:
    """SuggestIndexes by ``(slot, version)`` key: one version per slot, KEEP_SLOTS slots.

    A key is built once: concurrent first requests wait for the one build. When a slot
    (an index directory) gets a new version while an older one is ready, the older one
    keeps answering and the new one is built in a background thread, so nobody waits
    for a rebuild after an update or a swap. A slot's first version is built in the
    caller's thread when it passes no ``wait`` (the service's warm-up, when the generation
    opens), else in the background while the caller waits at most ``wait`` seconds for it
    and gets None after that. A version whose build failed is not retried while an older
    one answers, nor by callers passing a ``wait``.

    Builds read their word counts through the slot's :class:`SegmentWords`, so a new
    version reads only the segments and deletions that are new since the last one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: OrderedDict[Hashable, SuggestIndex] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}
        self._failed: set[Hashable] = set()
        self._words: dict[Hashable, SegmentWords] = {}

    def get(self, searcher, labels: Mapping[str, Mapping[str, str]], key: Hashable, *,
            store_dir: Path | None = None, wait: float | None = None) -> SuggestIndex | None:
        slot = _slot(key)
        with self._lock:
            found = self._ready.get(key)
            if found is not None:
                self._ready.move_to_end(key)
                return found
            stale = next((index for k, index in reversed(self._ready.items()) if _slot(k) == slot), None)
            done = self._building.get(key)
            first = done is None and not (stale is not None and key in self._failed)
            if first:
                done = self._building[key] = threading.Event()
        if first and (stale is not None or wait is not None):
            # The caller's searcher goes back to its pool when we return: the background
            # build reads through a searcher of its own.
            own = searcher._ix.searcher() if getattr(searcher, "_ix", None) is not None else searcher
            threading.Thread(target=self._build, args=(own, labels, key, done, store_dir), daemon=True,
                             name="suggest-index").start()
        if stale is not None:
            return stale
        if not first or wait is not None:
            if not done.wait(wait):
                return None
            with self._lock:
                found = self._ready.get(key)
            if found is not None or wait is not None:
                return found
            with self._lock:  # that build failed: try once more here
                done = self._building.setdefault(key, threading.Event())
        found = self._build(searcher, labels, key, done, store_dir)
        if found is None:
            raise RuntimeError(f"building the suggestion data of {key!r} failed (see the log)")
        return found

    def _build(self, searcher, labels, key: Hashable, done: threading.Event,
               store_dir: Path | None) -> SuggestIndex | None:
        index = None
        try:
            with self._lock:
                words = self._words.setdefault(_slot(key), SegmentWords())
            counts = words.live_counts(searcher.reader(), store_dir)
            index = build_suggest_index(searcher, labels, counts)
        except Exception:
            log.exception("building the suggestion data of %r failed", key)
        with self._lock:
            if index is None:
                self._failed.add(key)
            else:
                self._failed.discard(key)
                slot = _slot(key)
                for old in [k for k in self._ready if _slot(k) == slot]:
                    del self._ready[old]  # requests still using it keep their reference
                self._ready[key] = index
                while len(self._ready) > KEEP_SLOTS:
                    evicted, _ = self._ready.popitem(last=False)
                    self._words.pop(_slot(evicted), None)
            self._building.pop(key, None)
        done.set()
        return index


def _slot(key: Hashable) -> Hashable:
    return key[0] if isinstance(key, tuple) and len(key) == 2 else key


_cache = _Cache()


def suggest_index(searcher, labels: Mapping[str, Mapping[str, str]], key: Hashable, *,
                  store_dir: Path | None = None, wait: float | None = None) -> SuggestIndex | None:
    """The suggestion data for ``searcher``, built once per ``key`` (see :class:`_Cache`).

    ``key`` is ``(slot, version)``: the service passes its index directory and the
    generation's pointer stamp, which changes on every swap and every committed update,
    exactly when the service reopens its searcher. ``store_dir`` is where per-segment word
    counts are kept for other processes (see :mod:`query.suggest_words`). ``wait`` bounds
    how long a caller waits for another caller's first build of a slot (None: as long as
    it takes); past it the result is None.
    """
    return _cache.get(searcher, labels, key, store_dir=store_dir, wait=wait)


def suggestions(searcher, labels: Mapping[str, Mapping[str, str]], prefix: str, limit: int, *, key: Hashable,
                store_dir: Path | None = None, wait: float | None = None) -> list[dict]:
    """Completions of ``prefix``: ``{"text", "kind", "facet", "key", "count"}`` dicts
    (none while the index's first suggestion data is still being built, past ``wait``
    seconds; ``key``, ``store_dir``, ``wait``: see :func:`suggest_index`)."""
    index = suggest_index(searcher, labels, key, store_dir=store_dir, wait=wait)
    return index.complete(prefix, limit) if index is not None else []


# --------------------------------------------------------------------------- did you mean


def did_you_mean(searcher, query_text: str, current_hits: int, *, resolver=None, filters: Iterable[wq.Query] = (),
                 key: Hashable, below: int = DID_YOU_MEAN_BELOW, store_dir: Path | None = None,
                 wait: float | None = None) -> dict | object | None:
    """Spelling suggestions for a search with fewer than ``below`` hits, else None.

    Each plain (unfielded, not negated) term of ``query_text`` that no searched field
    holds gets the closest vocabulary words found in more datasets. The corrected query
    (the original text with those words replaced) is counted with the same ``filters``;
    the result is ``{"query", "totalHits", "terms": [{"term", "suggestions": [{"text",
    "count"}]}]}`` only when it finds more than ``current_hits`` datasets.
    ``resolver`` is the generation's FacetResolver (facet labels and fielded values).
    :data:`PENDING` when the index's first suggestion data was still being built after
    ``wait`` seconds (``key``, ``store_dir``, ``wait``: see :func:`suggest_index`).
    """
    if current_hits >= below or not query_text or not query_text.strip():
        return None
    try:
        return _did_you_mean(searcher, query_text, current_hits, resolver, list(filters), key, store_dir, wait)
    except Exception:  # a suggestion must never fail the search it decorates
        log.exception("did-you-mean failed for %r", query_text)
        return None


def _did_you_mean(searcher, query_text, current_hits, resolver, filters, key, store_dir, wait) -> dict | object | None:
    parsed = parse_query(query_text, strict=False)
    reader = searcher.reader()
    index = None
    slots: list[tuple[ast.Term, list[Correction]]] = []
    for term in _plain_terms(parsed.node):
        if term.position is None or query_text[term.position:term.position + len(term.text)] != term.text:
            continue  # escaped or rewritten by the parser: not a span we can replace
        if _indexed(searcher.schema, reader, term.text):
            continue
        if index is None:
            index = suggest_index(searcher, resolver.labels if resolver else {}, key, store_dir=store_dir, wait=wait)
            if index is None:
                return PENDING
        corrections = index.corrections(term.text)
        if corrections:
            slots.append((term, corrections))
    slots = slots[:MAX_CORRECTED_TERMS]
    if not slots:
        return None
    picks = sorted(
        product(*(range(len(corrections)) for _, corrections in slots)),
        key=lambda chosen: (sum(slots[i][1][c].distance for i, c in enumerate(chosen)), sum(chosen)),
    )
    for chosen in picks[:MAX_CORRECTION_TRIALS]:
        corrected = query_text
        for i in sorted(range(len(slots)), key=lambda i: slots[i][0].position, reverse=True):
            term, corrections = slots[i]
            corrected = corrected[:term.position] + corrections[chosen[i]].text + corrected[term.position + len(term.text):]
        hits = _count(searcher, resolver, filters, corrected)
        if hits > current_hits:
            return {
                "query": corrected,
                "totalHits": hits,
                "terms": [
                    {"term": term.text, "suggestions": [{"text": c.text, "count": c.count} for c in corrections]}
                    for term, corrections in slots
                ],
            }
    return None


def _plain_terms(node: ast.Node, negated: bool = False) -> Iterator[ast.Term]:
    if isinstance(node, (ast.And, ast.Or)):
        for child in node.children:
            yield from _plain_terms(child, negated)
    elif isinstance(node, ast.Not):
        yield from _plain_terms(node.child, not negated)
    elif isinstance(node, ast.Term) and node.field is None and not negated:
        yield node


def _indexed(schema, reader, text: str) -> bool:
    """True if any field a free-text term searches holds one of its tokens."""
    for field in DEFAULT_FIELDS:
        if field not in schema:
            continue
        for token in schema[field].process_text(text, mode="query"):
            if (field, token) in reader:
                return True
    return False


def _count(searcher, resolver, filters: list[wq.Query], text: str) -> int:
    """Hits of query ``text`` with ``filters``, compiled as SearchService.search does."""
    node = parse_query(text, strict=False).node
    user_query = compile_query(
        node,
        schema=searcher.schema,
        resolvers=resolver.resolvers() if resolver else None,
        facet_keys=resolver.facet_keys() if resolver else None,
        expand_wildcard=make_wildcard_expander(searcher.reader()),
        strict=False,
        warnings=[],
    )
    parts = [q for q in (user_query, *filters) if q is not None]
    if any(q is wq.NullQuery for q in parts):
        return 0
    query = wq.Every() if not parts else parts[0] if len(parts) == 1 else wq.And(parts)
    return len(searcher.search(query, limit=1))
