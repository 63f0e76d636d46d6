"""A deterministic synthetic corpus with the shape of the real records.

Everything is sampled from tables distilled from the real records (``benchmarks/data/``,
written by ``benchmarks/distill.py``; each file carries its provenance line):

- titles (~10–12 words) and descriptions (~150 words) from first-order Markov models
  (unigram + bigram counts) of the real titles (848 BIA studies, EMPIAR crates, the golden
  records) and of the real descriptive prose; a small share of synthetic rare tokens (gene-
  or clone-like names, Zipf-distributed) lets the vocabulary grow with the corpus as a real
  archive's does (Heaps' law) instead of stopping at the few thousand real words;
- organisms, imaging methods, licences, study types and file formats with the frequencies
  seen per source (NCBITaxon / FBbi ids as in the real records), backed off to the pooled
  frequencies where a source has few real records;
- release dates, file counts and total sizes drawn from real (date, files, bytes) rows
  of ``bia_study_stats.json`` (IDR: ``studies.tsv``), with a small log-normal jitter;
- authors (real names and recombinations of them, ORCIDs at the real rate), organisations,
  publications, keywords, biosample / specimen / acquisition / component text.

Record ``i`` depends only on ``(seed, i)``: the 10k corpus is the first tenth of the 100k
one. ``file_rows`` generates file lists (10k to 1.3M files) for file-level search.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from functools import cached_property
from itertools import accumulate
from pathlib import Path

from harvesters.records import (
    Author, Biosample, FileRow, ImageAcquisition, ImagingMethod, License, Link, Organisation,
    Organism, Provenance, Publication, Record, Specimen, StudyComponent,
)

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_SEED = 20261124
# Share of each source in the corpus: roughly the public archives' sizes (BIA studies,
# EMPIAR entries, IDR studies, JCB DataViewer imports); an assumption, not a measurement.
SOURCE_MIX = {"bia": 0.48, "empiar": 0.40, "idr": 0.03, "jcb": 0.09}
DESCRIPTION_WORDS = (150, 45, 30, 400)  # mean, sd, min, max
RARE_TOKEN_RATE = 0.02  # share of prose words replaced by a synthetic long-tail token
RARE_POOL = 400_000
BACKOFF = 10.0  # pseudo-count of the pooled table when sampling a source's table
END = "."
FILE_LIST_SIZES = (10_000, 100_000, 1_300_000)


class Weighted:
    """Draw items with the given weights (bisect over cumulative weights)."""

    def __init__(self, items: Iterable, weights: Iterable[float]):
        pairs = [(i, w) for i, w in zip(items, weights) if w > 0]
        self.items = [i for i, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))
        self.total = self.cum[-1] if self.cum else 0.0

    @classmethod
    def of(cls, counted: list) -> "Weighted":
        return cls([_freeze(k) for k, _ in counted], [n for _, n in counted])

    def __bool__(self) -> bool:
        return bool(self.items)

    def pick(self, rng: random.Random):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def _freeze(value):
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


class Markov:
    """A first-order word model: start words, successors, unigram jumps."""

    def __init__(self, model: dict, jump: float):
        self.jump = jump
        self.start = Weighted.of(model["start"])
        self.unigram = Weighted.of(model["unigram"])
        self.next = {w: Weighted.of(nxt) for w, nxt in model["bigram"].items()}
        self.lengths = Weighted.of(model["lengths"])
        self.vocabulary = [w for w, _ in model["unigram"]]
        self.counts = dict((w, n) for w, n in model["unigram"])

    def tokens(self, rng: random.Random, n_words: int, sentences: bool, rare: float = 0.0) -> list[str]:
        out: list[str] = []
        words = 0
        prev = END
        while words < n_words:
            if prev == END:
                tok = self.start.pick(rng)
            elif rng.random() < self.jump or prev not in self.next:
                tok = self.unigram.pick(rng)
            else:
                tok = self.next[prev].pick(rng)
            if tok == END:
                if sentences and out and out[-1] != END:
                    out.append(END)
                prev = END
                continue
            if rare and rng.random() < rare:
                tok = rare_token(int(RARE_POOL ** rng.random()))
            out.append(tok)
            words += 1
            prev = tok
        if sentences and out and out[-1] != END:
            out.append(END)
        return out


_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]


def rare_token(index: int) -> str:
    """A synthetic long-tail word (gene-, strain- or clone-like), stable per index."""
    a, b = divmod(index, len(_SYLLABLES))
    b2, c = divmod(a, len(_SYLLABLES))
    return f"{_SYLLABLES[b]}{_SYLLABLES[c]}{_SYLLABLES[b2 % len(_SYLLABLES)]}{index % 97}"


def render(tokens: list[str], capitalise_sentences: bool) -> str:
    parts: list[str] = []
    start = True
    for tok in tokens:
        if tok == END:
            if parts:
                parts[-1] += "."
            start = True
            continue
        if start and capitalise_sentences:
            tok = tok[:1].upper() + tok[1:]
        parts.append(tok)
        start = False
    return " ".join(parts)


class CorpusModel:
    """The distilled tables, loaded once, and the record generator."""

    def __init__(self, data_dir: Path = DATA, source_mix: dict[str, float] | None = None):
        self.text = json.loads((data_dir / "text_model.json").read_text())
        self.attrs = json.loads((data_dir / "attributes.json").read_text())
        self.stats = json.loads((data_dir / "study_stats.json").read_text())
        mix = source_mix or SOURCE_MIX
        self.sources = Weighted(list(mix), list(mix.values()))
        self.titles = Markov(self.text["title"], jump=0.12)
        self.prose = Markov(self.text["prose"], jump=0.12)
        self.sample_sizes = self.attrs["sources_in_sample"]
        self._tables: dict[tuple[str, str], tuple[Weighted, Weighted]] = {}

    # -- tables with per-source back-off -------------------------------------------

    def _table(self, name: str, source: str) -> tuple[Weighted, Weighted]:
        key = (name, source)
        if key not in self._tables:
            per_source = self.attrs[name]
            pooled: dict = {}
            for rows in per_source.values():
                for value, n in rows:
                    pooled[_freeze(value)] = pooled.get(_freeze(value), 0) + n
            self._tables[key] = (
                Weighted.of(per_source.get(source, [])),
                Weighted(list(pooled), list(pooled.values())),
            )
        return self._tables[key]

    def draw(self, name: str, source: str, rng: random.Random):
        own, pooled = self._table(name, source)
        n = self.sample_sizes.get(source, 0)
        if own and (not pooled or rng.random() < n / (n + BACKOFF)):
            return own.pick(rng)
        return pooled.pick(rng)

    def draw_distinct(self, name: str, source: str, rng: random.Random, count: int) -> list:
        seen: list = []
        for _ in range(count * 4):
            if len(seen) >= count:
                break
            value = self.draw(name, source, rng)
            if value is not None and value not in seen:
                seen.append(value)
        return seen

    @cached_property
    def author_pool(self) -> Weighted:
        real = [n for n, _ in self.attrs["author_names"] if n and n.lower() != "test"]
        rng = random.Random(f"authors:{DEFAULT_SEED}")
        firsts = [n.split()[0] for n in real if len(n.split()) > 1]
        lasts = [n.split()[-1] for n in real if len(n.split()) > 1]
        made = sorted({f"{rng.choice(firsts)} {rng.choice(lasts)}" for _ in range(30_000)})
        return Weighted(real + made, [3.0] * len(real) + [1.0] * len(made))

    @cached_property
    def keyword_pool(self) -> Weighted:
        return Weighted.of(self.attrs["keywords"])

    @cached_property
    def bia_rows(self) -> list:
        return self.stats["bia"]["rows"]

    # -- one record ----------------------------------------------------------------

    def record(self, i: int, seed: int = DEFAULT_SEED) -> Record:
        rng = random.Random(f"{seed}:{i}")
        source = self.sources.pick(rng)
        accession = {"bia": f"S-BIAD{100000 + i}", "empiar": f"EMPIAR-{20000 + i}",
                     "idr": f"idr{i:04d}", "jcb": f"S-JCBD{1000 + i}"}[source]
        release, file_count, size = self._dates_and_files(source, rng)
        title = self._title(rng)
        mean, sd, low, high = DESCRIPTION_WORDS
        n_desc = int(min(high, max(low, rng.gauss(mean, sd))))
        description = render(self.prose.tokens(rng, n_desc, True, RARE_TOKEN_RATE), True)
        organisms = [Organism(name=n, taxon_id=t, common_name=c)
                     for n, t, c in self.draw_distinct("organisms", source, rng, self.draw("n_organisms", source, rng))]
        methods = [ImagingMethod(name=n, fbbi_id=f)
                   for n, f in self.draw_distinct("imaging_methods", source, rng, max(1, self.draw("n_imaging_methods", source, rng)))]
        lic = self.draw("licenses", source, rng)
        study_type = self.draw_distinct("study_types", source, rng, self.draw("n_study_types", source, rng))
        formats = self.draw_distinct("file_formats", source, rng, max(1, self.draw("n_file_formats", source, rng)))
        authors = self._authors(rng)
        organisations = sorted({a for au in authors for a in au.affiliations})
        doi = self._doi(source, accession, rng)
        publications = self._publications(rng, release)
        links = ([Link(type="doi", value=doi, url=f"https://doi.org/{doi}")] if doi else []) + [
            Link(type="pubmed", value=p.pubmed_id) for p in publications if p.pubmed_id]
        n_kw = Weighted.of(self.attrs["n_keywords"]).pick(rng)
        keywords = sorted({self.keyword_pool.pick(rng) for _ in range(n_kw)})
        components = self._components(rng, file_count, size, formats)
        record = Record(
            accession=accession, source=source, title=title, description=description,
            release_date=release, doi=doi, keywords=keywords, authors=authors,
            organisations=[Organisation(name=o) for o in organisations],
            publications=publications,
            license=License(name=lic[0], url=lic[1]) if lic else None,
            organisms=organisms, imaging_methods=methods, study_type=study_type,
            biosamples=[Biosample(
                title=render(self.titles.tokens(rng, rng.randint(3, 7), False), False),
                description=render(self.prose.tokens(rng, rng.randint(10, 40), True), True),
                organisms=organisms)],
            specimens=[Specimen(preparation_protocol=render(self.prose.tokens(rng, rng.randint(20, 60), True), True))]
            if rng.random() < 0.7 else [],
            image_acquisitions=[ImageAcquisition(
                title=methods[0].name if methods else None, imaging_methods=methods,
                instrument=Weighted.of(self.attrs["instruments"]).pick(rng) if rng.random() < 0.4 else None,
                parameters=render(self.prose.tokens(rng, rng.randint(5, 30), True), True) if rng.random() < 0.5 else None)],
            study_components=components,
            links=links,
            file_count=file_count, total_size_bytes=size, file_formats=formats,
            provenance=Provenance(
                source_url=f"https://bench.invalid/{source}/{accession}", harvested_at="2026-01-01T00:00:00Z",
                content_hash=hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(), raw_format="synthetic"),
        )
        return record

    def _title(self, rng: random.Random) -> str:
        n = min(30, max(3, self.titles.lengths.pick(rng)))
        text = render(self.titles.tokens(rng, n, False), False)
        return text[:1].upper() + text[1:]

    def _dates_and_files(self, source: str, rng: random.Random) -> tuple[str, int, int]:
        day, files, size = rng.choice(self.bia_rows)
        jitter_days = 20
        if source == "idr" and self.stats["idr"]["rows"]:
            files, size = rng.choice(self.stats["idr"]["rows"])
        if source != "bia":
            dates = self.stats[source].get("release_dates") or []
            if dates:
                day, jitter_days = rng.choice(dates), 150
        when = date.fromisoformat(day) + timedelta(days=rng.randint(-jitter_days, jitter_days))
        when = min(when, date(2026, 1, 1))
        scale = math.exp(rng.gauss(0.0, 0.25))
        files = max(0, round(files * scale))
        size = max(0, round(size * scale * math.exp(rng.gauss(0.0, 0.1))))
        return when.isoformat(), files, size

    def _authors(self, rng: random.Random) -> list[Author]:
        n = Weighted.of(self.attrs["n_authors"]).pick(rng)
        names: list[str] = []
        while len(names) < n:
            name = self.author_pool.pick(rng)
            if name not in names:
                names.append(name)
        orgs = self.attrs["organisations"]
        out = []
        for name in names:
            orcid = None
            if rng.random() < self.attrs["orcid_fraction"]:
                digits = "".join(str(rng.randint(0, 9)) for _ in range(11))
                orcid = f"0000-{digits[:4]}-{digits[4:8]}-{digits[8:11]}{rng.choice('0123456789X')}"
            affiliations = [rng.choice(orgs)] if orgs and rng.random() < 0.5 else []
            out.append(Author(name=name, orcid=orcid, affiliations=affiliations))
        return out

    def _doi(self, source: str, accession: str, rng: random.Random) -> str | None:
        if rng.random() >= self.attrs["doi_fraction"].get(source, 0.0):
            return None
        return {"empiar": f"10.6019/{accession.lower()}", "bia": f"10.6019/{accession.lower()}",
                "idr": f"10.17867/1000{accession[3:]}", "jcb": f"10.1083/jcb.{accession[6:]}"}[source]

    def _publications(self, rng: random.Random, release: str) -> list[Publication]:
        n = Weighted.of(self.attrs["n_publications"]).pick(rng)
        journals = Weighted.of(self.attrs["journals"]) if self.attrs["journals"] else None
        out = []
        for _ in range(n):
            out.append(Publication(
                title=self._title(rng),
                journal=journals.pick(rng) if journals and rng.random() < 0.3 else None,
                year=int(release[:4]),
                doi=f"10.{rng.randint(1000, 9999)}/{rng.getrandbits(40):x}",
                pubmed_id=str(rng.randint(20_000_000, 40_000_000)) if rng.random() < 0.6 else None,
            ))
        return out

    def _components(self, rng: random.Random, file_count: int, size: int, formats: list[str]) -> list[StudyComponent]:
        n = max(1, Weighted.of(self.attrs["n_components"]).pick(rng))
        names = Weighted.of(self.attrs["component_names"])
        out = []
        for k in range(n):
            share = 1 / n
            out.append(StudyComponent(
                name=names.pick(rng) if rng.random() < 0.5 else render(self.titles.tokens(rng, rng.randint(2, 6), False), False),
                description=render(self.prose.tokens(rng, rng.randint(8, 30), True), True),
                file_count=int(file_count * share), total_size_bytes=int(size * share),
                file_formats=[formats[k % len(formats)]] if formats else [],
            ))
        return out

    # -- many records --------------------------------------------------------------

    def records(self, n: int, seed: int = DEFAULT_SEED, start: int = 0) -> Iterator[Record]:
        for i in range(start, start + n):
            yield self.record(i, seed)


def fill_store(store, records: Iterable[Record], batch: int = 1000) -> int:
    """Save records into a RecordStore, ``batch`` per transaction; returns the count."""
    count = 0
    pending: list[Record] = []

    def flush() -> None:
        with store.transaction() as db:
            for record in pending:
                payload = record.to_json()
                store.save_record(db, record, b"", hashlib.sha256(payload).hexdigest())
        pending.clear()

    for record in records:
        pending.append(record)
        count += 1
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return count


# -- file lists ---------------------------------------------------------------------

_FILE_STYLES = ("hcs", "em", "slides", "figures")
_FORMAT_OF_STYLE = {"hcs": "TIFF", "em": "TIFF", "slides": "SVS", "figures": "OME-TIFF"}
_SIZE_OF_STYLE = {"hcs": (14.0, 0.6), "em": (19.5, 0.8), "slides": (17.8, 0.7), "figures": (16.5, 1.0)}


def file_rows(accession: str, n_files: int, seed: int = DEFAULT_SEED, style: str | None = None) -> Iterator[FileRow]:
    """A dataset's file list of ``n_files`` rows, deterministic by (seed, accession).

    Path layouts follow the real lists: high-content screens (plate/well/field/channel),
    EM movie stacks and tilt series, whole-slide images with batch/block/sample names and
    attributes (as in S-BSMS4), and figure folders (as in S-JCBD1 / S-BIAD1492).
    """
    rng = random.Random(f"files:{seed}:{accession}")
    style = style or rng.choice(_FILE_STYLES)
    mu, sigma = _SIZE_OF_STYLE[style]
    fmt = _FORMAT_OF_STYLE[style]
    plates = max(1, n_files // 3456)
    for k in range(n_files):
        attrs: dict[str, str] = {}
        if style == "hcs":
            plate, rest = divmod(k, max(1, n_files // plates))
            well, field = divmod(rest, 9)
            row, col = divmod(well % 384, 24)
            channel = rng.randint(1, 4)
            path = f"plate_{plate + 1:03d}/{'ABCDEFGHIJKLMNOP'[row]}{col + 1:02d}/field_{field + 1}_ch{channel}.tif"
            component = f"Plate {plate + 1}"
            attrs = {"Channel": str(channel), "Well": f"{'ABCDEFGHIJKLMNOP'[row]}{col + 1}"}
        elif style == "em":
            grid, n = divmod(k, 5000)
            kind = "movies" if n % 10 else "tiltseries"
            path = f"data/grid{grid + 1}/{kind}/FoilHole_{3_000_000 + k}_Data_{n:05d}_fractions.tiff"
            component = "Movie stacks" if kind == "movies" else "Tilt series"
        elif style == "slides":
            batch, block = 8400 + k // 400, 106000 + k // 8
            path = f"HR{batch}-BL{block}-{80000 + k}_{rng.choice('CN')}{rng.randint(1, 9)}.svs"
            component = "Whole slide images"
            attrs = {"Tissue": rng.choice(("liver", "lung", "kidney", "colon")), "Batch": f"HR{batch}",
                     "Diagnosis": rng.choice(("HCC", "dysplastic nodule", "normal"))}
            fmt = "SVS"
        else:
            figure = 1 + k // 500
            path = f"Figure_{figure}/{570000 + k}.ome.tif"
            component = f"Figure {figure}"
        size = int(math.exp(rng.gauss(mu, sigma)))
        yield FileRow(accession=accession, path=path, size=size, format=fmt, component=component, attributes=attrs)


def file_list_datasets(sizes: Iterable[int] = FILE_LIST_SIZES, seed: int = DEFAULT_SEED) -> list[tuple[str, int]]:
    """(accession, file count) of one synthetic dataset per requested file-list size."""
    return [(f"S-BIADF{n}", n) for n in sizes]
