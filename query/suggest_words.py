"""The word counts behind the suggestion data, kept per index segment. Flask-free.

:func:`query.suggest.build_suggest_index` needs, over the live documents, how many
datasets contain each folded word (titles, descriptions, keywords, organism and method
names), how words were written, the titles and the multi-word keywords. Reading that
means decompressing every stored document (about 30 s at 100,000 datasets), so it is
counted once per segment and kept (the same idea as :mod:`query.segment_arrays`):

* Whoosh never changes a segment after writing it, except to mark documents deleted. A
  segment's counts over *all* its documents are counted once; the live counts subtract the
  deleted documents (their stored fields stay readable). Every count is a number of
  documents or of occurrences, so adding and subtracting documents is exact.
* The service keeps each segment's counts in the generation's ``suggest-words/``
  directory (``store_dir``): other server processes, later restarts and the rebuild after
  an incremental update load them (about 1 s at 100,000 datasets) and count only the
  update's new segment. An exclusive lock file per segment makes one process count while
  the others wait and load; nothing stays in memory between builds. Without a usable
  directory (read-only index) the counts of the last reader's segments stay in memory.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import re
import secrets
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from whoosh.analysis import STOP_WORDS

from query.segment_arrays import segment_key

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the counting changes: files of other formats are recounted
STORE_DIR = "suggest-words"  # the service keeps the counts in this directory of each generation
MIN_TERM_CHARS = 3

SEPARATORS = re.compile(r"[\W_]+")  # between words: everything but letters and digits
_KEYWORD_SPLIT = re.compile(r"[,;]")


@dataclass
class WordCounts:
    """Additive counts over a set of documents (see the module docstring)."""

    titles: dict[str, Counter] = field(default_factory=dict)  # folded title -> title as written -> datasets
    words: Counter = field(default_factory=Counter)  # folded word -> datasets containing it
    plain: Counter = field(default_factory=Counter)  # folded word -> datasets writing it folded
    forms: dict[str, Counter] = field(default_factory=dict)  # folded word -> other spelling -> occurrences
    terms: Counter = field(default_factory=Counter)  # completable word -> datasets naming it (title, keywords)
    phrases: dict[str, Counter] = field(default_factory=dict)  # folded keyword phrase -> as written -> uses
    phrase_docs: Counter = field(default_factory=Counter)  # folded keyword phrase -> datasets

    def add_document(self, stored: Mapping, sign: int = 1) -> None:
        """Count one document's stored fields in (``sign=1``) or out (``sign=-1``)."""
        summary = _summary(stored)
        title = stored.get("title") or summary.get("title") or ""
        keywords = [k for k in summary.get("keywords") or [] if isinstance(k, str)]
        norm_title = normalize(title)
        if norm_title:
            _bump(self.titles.setdefault(norm_title, Counter()), title, sign)
        doc_words: set[str] = set()
        doc_plain: set[str] = set()
        for text in [title, stored.get("description") or "", *keywords, *_vocabulary_names(summary)]:
            _collect_words(text, doc_words, doc_plain, self.forms, sign)
        named: set[str] = set()
        for text in [title, *keywords]:
            _collect_words(text, named, doc_plain, self.forms, sign)
        doc_phrases: set[str] = set()
        for keyword in keywords:
            for phrase in _KEYWORD_SPLIT.split(keyword):
                phrase = " ".join(phrase.split())
                norm = normalize(phrase)
                if " " in norm:
                    _bump(self.phrases.setdefault(norm, Counter()), phrase, sign)
                    doc_phrases.add(norm)
        _count_in(self.words, doc_words, sign)
        _count_in(self.plain, doc_plain, sign)
        _count_in(self.terms, (w for w in named if is_term_word(w)), sign)
        _count_in(self.phrase_docs, doc_phrases, sign)
        if sign < 0:
            _drop_empty(self.titles, [norm_title])
            _drop_empty(self.phrases, doc_phrases)
            _drop_empty(self.forms, doc_words)

    def add(self, other: WordCounts) -> None:
        """Add another set of documents' counts (documents disjoint from ours)."""
        for mine, theirs in ((self.words, other.words), (self.plain, other.plain), (self.terms, other.terms),
                             (self.phrase_docs, other.phrase_docs)):
            mine.update(theirs)
        for mine_nested, theirs_nested in ((self.titles, other.titles), (self.forms, other.forms),
                                           (self.phrases, other.phrases)):
            for key, counts in theirs_nested.items():
                found = mine_nested.get(key)
                if found is None:
                    mine_nested[key] = Counter(counts)
                else:
                    found.update(counts)

    def to_json(self) -> bytes:
        return orjson.dumps({"format": FORMAT, "titles": self.titles, "words": self.words, "plain": self.plain,
                             "forms": self.forms, "terms": self.terms, "phrases": self.phrases,
                             "phrase_docs": self.phrase_docs})

    @classmethod
    def from_json(cls, data: bytes) -> WordCounts | None:
        """The counts written by :meth:`to_json`, or None for another format."""
        value = orjson.loads(data)
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            return None
        nested = {name: {key: Counter(counts) for key, counts in value[name].items()}
                  for name in ("titles", "forms", "phrases")}
        return cls(words=Counter(value["words"]), plain=Counter(value["plain"]), terms=Counter(value["terms"]),
                   phrase_docs=Counter(value["phrase_docs"]), **nested)


# --------------------------------------------------------------------------- text


def fold(text: str) -> str:
    """Case-folded text without accents (``"Müller"`` -> ``"muller"``)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """The match form of a name: folded, separators collapsed to single spaces."""
    return SEPARATORS.sub(" ", fold(text)).strip()


def words_of(text: str) -> Iterable[tuple[str, str]]:
    """(folded word, surface word) pairs of ``text``."""
    for surface in SEPARATORS.split(text):
        if not surface:
            continue
        if surface.isascii():  # the separators split off everything but letters and digits
            yield surface.lower(), surface
            continue
        pieces = normalize(surface).split()
        for piece in pieces:
            yield piece, surface if len(pieces) == 1 else piece


def is_term_word(word: str) -> bool:
    """Whether a word is offered as a completion on its own (not short, a stop word or a number)."""
    return len(word) >= MIN_TERM_CHARS and word not in STOP_WORDS and not word.isdigit()


def _collect_words(text: str, words: set[str], plain: set[str], forms: dict[str, Counter], sign: int) -> None:
    """Add the folded words of ``text`` to ``words`` and those written folded to ``plain``;
    count other spellings into ``forms`` (by ``sign``)."""
    if text.isascii():  # the common case, in whole-text set operations
        written = set(SEPARATORS.split(text))
        folded = set(SEPARATORS.split(text.lower()))
        written.discard("")
        folded.discard("")
        words |= folded
        plain |= written & folded
        for surface in written - folded:
            _bump(forms.setdefault(surface.lower(), Counter()), surface, sign)
        return
    for word, surface in words_of(text):
        words.add(word)
        if surface == word:
            plain.add(word)
        else:
            _bump(forms.setdefault(word, Counter()), surface, sign)


def _bump(counts: Counter, key: str, sign: int) -> None:
    value = counts.get(key, 0) + sign
    if value > 0:
        counts[key] = value
    else:
        counts.pop(key, None)


def _count_in(counts: Counter, keys: Iterable[str], sign: int) -> None:
    if sign > 0:
        counts.update(keys)
        return
    for key in keys:
        _bump(counts, key, sign)


def _drop_empty(nested: dict[str, Counter], keys: Iterable[str]) -> None:
    for key in keys:
        if key in nested and not nested[key]:
            del nested[key]


def _summary(stored: Mapping) -> dict:
    try:
        value = orjson.loads(stored.get("summary") or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _vocabulary_names(summary: Mapping) -> list[str]:
    names = []
    for organism in summary.get("organisms") or []:
        names += [organism.get("name") or "", organism.get("common_name") or ""]
    for method in summary.get("imaging_methods") or []:
        names.append(method.get("name") or "")
    return names


# --------------------------------------------------------------------------- per segment


class SegmentWords:
    """Per-segment word counts of one index directory.

    With a usable ``store_dir`` nothing stays in memory between builds: each segment's
    counts are loaded from there (about 1 s for 100,000 datasets) and the live counts are
    assembled and handed over. Without one, or when it cannot be written, the counts of the
    last reader's segments are kept in memory instead.
    """

    def __init__(self) -> None:
        self._memory: dict[str, tuple[int, WordCounts]] = {}  # key -> (documents, counts)
        self._lock = threading.Lock()

    def live_counts(self, reader, store_dir: Path | None = None) -> WordCounts:
        """The counts over ``reader``'s live documents (a new object the caller may keep)."""
        with self._lock:
            total: WordCounts | None = None
            kept: dict[str, tuple[int, WordCounts]] = {}
            keys: set[str] = set()
            for leaf, _ in reader.leaf_readers():
                key = segment_key(leaf)
                keys.add(key)
                counts, in_memory = self._segment_counts(leaf, key, store_dir)
                if in_memory:
                    kept[key] = (leaf.doc_count_all(), counts)
                if total is None and not in_memory:
                    total = counts  # loaded or counted for this call: ours to change
                else:
                    if total is None:
                        total = WordCounts()
                    total.add(counts)  # kept counts are never changed: add a copy
                for docnum in _deleted(leaf):  # stored fields stay readable after deletion
                    total.add_document(leaf.stored_fields(docnum), sign=-1)
            self._memory = kept
            if store_dir is not None:
                _prune(store_dir, keys)
            return total or WordCounts()

    def _segment_counts(self, leaf, key: str, store_dir: Path | None) -> tuple[WordCounts, bool]:
        """A segment's counts over all its documents, and whether they are kept in memory."""
        size, found = self._memory.get(key, (None, None))
        if found is not None and size == leaf.doc_count_all():
            return found, True
        if store_dir is not None and not key.startswith("reader-"):
            return _stored_counts(leaf, key, store_dir)
        return count_segment(leaf), True


def _deleted(leaf) -> list[int]:
    if not leaf.has_deletions():
        return []
    return [d for d in range(leaf.doc_count_all()) if leaf.is_deleted(d)]


def count_segment(leaf) -> WordCounts:
    """The counts over every document of one segment, deleted ones included."""
    counts = WordCounts()
    for docnum in range(leaf.doc_count_all()):
        counts.add_document(leaf.stored_fields(docnum))
    return counts


def _stored_counts(leaf, key: str, store_dir: Path) -> tuple[WordCounts, bool]:
    """A segment's counts through ``store_dir``: loaded if some process wrote them, else
    counted and written there (processes counting the same segment take turns on a lock
    file); with whether they could not be kept there (the caller keeps them in memory)."""
    path = store_dir / f"{key}.json"
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        lock = open(store_dir / f"{key}.lock", "a+b")
    except OSError as exc:
        log.info("suggestion word counts not kept in %s: %s", store_dir, exc)
        return count_segment(leaf), True
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        loaded = _load(path)
        if loaded is not None:
            return loaded, False
        counts = count_segment(leaf)
        return counts, not _save(path, counts)


def _load(path: Path) -> WordCounts | None:
    try:
        return WordCounts.from_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("recounting suggestion words: %s unreadable (%s)", path, exc)
        return None


def _save(path: Path, counts: WordCounts) -> bool:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(counts.to_json())
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.info("suggestion word counts not kept in %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
        return False


def _prune(store_dir: Path, live: set[str]) -> None:
    """Remove the kept counts of segments gone from the generation (merged away by updates)."""
    try:
        kept = list(store_dir.glob("*.json"))
        for path in kept:
            key = path.stem
            if key not in live and not any(store_dir.parent.glob(f"{glob.escape(key)}.*")):
                path.unlink(missing_ok=True)
                (store_dir / f"{key}.lock").unlink(missing_ok=True)
    except OSError as exc:
        log.info("old suggestion word counts not removed from %s: %s", store_dir, exc)
