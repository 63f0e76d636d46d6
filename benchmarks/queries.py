"""The query mix: 204 deterministic queries, six kinds of 34, with terms drawn from the
corpus vocabulary (the distilled word tables the corpus is generated from), so the same
mix is used at every corpus size.

Kinds:
- ``term``: one word (a third each from the common, middle and rare frequency bands);
- ``and``: two or three words that co-occur in a generated title (all must match);
- ``phrase``: a two- or three-word phrase from the bigram tables;
- ``fielded``: ``title:word``, ``author:surname`` or ``organism:"Latin name"``;
- ``faceted``: a word plus filters on two facets (organism × imaging method, source ×
  release year, …), with counts of every facet (multi-select: a filtered facet's counts
  ignore its own filter);
- ``sorted``: a word (one in six: no words, the browse page) sorted by release date,
  newest first.

Every query asks for the first page of 20 hits and the exact total. Only ``faceted``
asks for facet counts, unless the run is in portal mode (every query with all facets).
The list is interleaved by kind, so any prefix is a balanced sample.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from whoosh.analysis import STOP_WORDS

from benchmarks.corpus import DEFAULT_SEED, CorpusModel, Weighted
from indexer.documents import facet_key
from indexer.schema import FACETS

KINDS = ("term", "and", "phrase", "fielded", "faceted", "sorted")
PER_KIND = 34
PAGE_SIZE = 20
FACET_NAMES = tuple(spec.name for spec in FACETS)
FACET_PAIRS = (
    ("organism", "imaging_method"),
    ("source", "release_year"),
    ("imaging_method", "license"),
    ("organism", "file_format"),
    ("source", "organism"),
    ("license", "release_year"),
)
EXTRA_STOP = {
    "were", "was", "which", "also", "into", "than", "these", "their", "been", "have", "has", "had",
    "between", "after", "during", "each", "both", "within", "using", "used", "other", "such", "well",
    "then", "them", "there", "where", "while", "through", "under", "over", "only", "more", "most",
}
WORD = re.compile(r"[a-z][a-z\-]*[a-z]$")


@dataclass(frozen=True)
class BenchQuery:
    """One query, engine-neutral; ``text`` is in our query language (Lucene-like)."""

    id: int
    kind: str
    text: str
    words: tuple[str, ...] = ()
    phrase: bool = False
    field: str | None = None  # title | author | organism (fielded)
    filters: tuple[tuple[str, str], ...] = ()  # (facet, key)
    sort: str | None = None  # release_date (descending)
    facets: bool = False  # facet counts for every facet
    band: str | None = None

    def params(self, facets: bool | None = None) -> dict[str, list[str]]:
        """URL arguments for our service (GET /api/v1/search)."""
        args: dict[str, list[str]] = {"query": [self.text], "pageSize": [str(PAGE_SIZE)]}
        want = self.facets if facets is None else facets
        if not want:
            args["facets"] = [""]
        for facet, key in self.filters:
            args.setdefault(f"facet.{facet}", []).append(key)
        if self.sort:
            args["sortBy"] = [self.sort]
            args["sortOrder"] = ["descending"]
        return args

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None and v is not False and v != ()}


def _content(word: str) -> bool:
    return bool(WORD.match(word)) and len(word) >= 4 and word not in STOP_WORDS and word not in EXTRA_STOP


class Vocabulary:
    """Content words of the corpus model by frequency band, and phrase candidates."""

    def __init__(self, model: CorpusModel):
        counts: dict[str, int] = {}
        for markov in (model.titles, model.prose):
            for word, n in markov.counts.items():
                low = word.lower()
                if _content(low):
                    counts[low] = counts.get(low, 0) + n
        ranked = sorted(counts, key=lambda w: (-counts[w], w))
        self.bands = {
            "common": ranked[:150],
            "middle": ranked[150:1500],
            "rare": [w for w in ranked[1500:] if counts[w] >= 2],
        }
        self.title_words = sorted({w.lower() for w in model.titles.counts if _content(w.lower())})
        pairs: dict[tuple[str, str], int] = {}
        for markov in (model.titles, model.prose):
            for first, nxt in zip(markov.next, markov.next.values()):
                for second, n in zip(nxt.items, _counts(nxt)):
                    a, b = first.lower(), str(second).lower()
                    if _content(a) and _content(b) and a != b:
                        pairs[(a, b)] = pairs.get((a, b), 0) + n
        self.phrases = Weighted(list(pairs), list(pairs.values()))
        self.successors: dict[str, list[str]] = {}
        for a, b in pairs:
            self.successors.setdefault(a, []).append(b)

    def word(self, rng: random.Random, band: str) -> str:
        return rng.choice(self.bands[band])


def _counts(w: Weighted) -> list[float]:
    prev = 0.0
    out = []
    for c in w.cum:
        out.append(c - prev)
        prev = c
    return out


def _surname(name: str) -> str | None:
    parts = [p for p in re.split(r"[\s\-]+", name) if re.fullmatch(r"[A-Za-z]{3,}", p)]
    return max(parts, key=len) if parts else None


def _facet_value(model: CorpusModel, facet: str, rng: random.Random) -> str | None:
    source = model.sources.pick(rng)
    if facet == "source":
        return source
    if facet == "organism":
        name, taxon, _ = model.draw("organisms", source, rng)
        return taxon or facet_key(name)
    if facet == "imaging_method":
        name, fbbi = model.draw("imaging_methods", source, rng)
        return fbbi or facet_key(name)
    if facet == "license":
        lic = model.draw("licenses", source, rng)
        return lic[0] if lic else None
    if facet == "release_year":
        return rng.choice(model.bia_rows)[0][:4]
    if facet == "file_format":
        return model.draw("file_formats", source, rng)
    if facet == "study_type":
        return facet_key(model.draw("study_types", source, rng))
    raise ValueError(facet)


def build_mix(seed: int = DEFAULT_SEED, model: CorpusModel | None = None, per_kind: int = PER_KIND) -> list[BenchQuery]:
    """The deterministic query mix (``6 × per_kind`` queries, interleaved by kind)."""
    model = model or CorpusModel()
    vocab = Vocabulary(model)
    rng = random.Random(f"queries:{seed}")
    bands = ("common", "middle", "rare")
    by_kind: dict[str, list[dict]] = {k: [] for k in KINDS}
    for n in range(per_kind):
        band = bands[n % 3]
        w = vocab.word(rng, band)
        by_kind["term"].append(dict(text=w, words=(w,), band=band))

        title = [t.lower() for t in model.titles.tokens(rng, 12, False)]
        words = list(dict.fromkeys(t for t in title if _content(t)))
        k = 2 + n % 2
        while len(words) < k:
            words.append(vocab.word(rng, "common"))
        chosen = tuple(rng.sample(words, k))
        by_kind["and"].append(dict(text=" ".join(chosen), words=chosen))

        a, b = vocab.phrases.pick(rng)
        phrase = [a, b]
        if n % 4 == 3 and vocab.successors.get(b):
            phrase.append(rng.choice(vocab.successors[b]))
        by_kind["phrase"].append(dict(text='"' + " ".join(phrase) + '"', words=tuple(phrase), phrase=True))

        which = ("title", "author", "organism")[n % 3]
        if which == "title":
            w = rng.choice([x for x in vocab.title_words if x in vocab.bands["common"] or x in vocab.bands["middle"]])
            by_kind["fielded"].append(dict(text=f"title:{w}", words=(w,), field="title"))
        elif which == "author":
            surname = None
            while not surname:
                surname = _surname(model.author_pool.pick(rng))
            by_kind["fielded"].append(dict(text=f"author:{surname}", words=(surname.lower(),), field="author"))
        else:
            name = model.draw("organisms", model.sources.pick(rng), rng)[0]
            words = tuple(re.findall(r"[A-Za-z]+", name.lower()))
            by_kind["fielded"].append(dict(text=f'organism:"{name}"', words=words, phrase=len(words) > 1, field="organism"))

        w = vocab.word(rng, bands[n % 2])  # common or middle
        filters = []
        for facet in FACET_PAIRS[n % len(FACET_PAIRS)]:
            value = None
            while value is None:
                value = _facet_value(model, facet, rng)
            filters.append((facet, value))
        by_kind["faceted"].append(dict(text=w, words=(w,), filters=tuple(filters), facets=True, band=bands[n % 2]))

        if n % 6 == 5:
            by_kind["sorted"].append(dict(text="", words=(), sort="release_date"))
        else:
            w = vocab.word(rng, bands[n % 3])
            by_kind["sorted"].append(dict(text=w, words=(w,), sort="release_date", band=bands[n % 3]))

    mix: list[BenchQuery] = []
    for n in range(per_kind):
        for kind in KINDS:
            mix.append(BenchQuery(id=len(mix), kind=kind, **by_kind[kind][n]))
    return mix


@lru_cache(maxsize=4)
def default_mix(seed: int = DEFAULT_SEED) -> tuple[BenchQuery, ...]:
    return tuple(build_mix(seed))


if __name__ == "__main__":
    for q in default_mix():
        print(f"{q.id:3d} {q.kind:8s} {q.text!r} {dict(q.filters) if q.filters else ''} {q.sort or ''}")
