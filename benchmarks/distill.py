"""One-off: distil the real records into the small tables the corpus generator samples from.

Run by hand when the real fixtures change; the benchmark itself only reads
``benchmarks/data/*.json`` (never a folder outside the project). Inputs:

- the normalised real records of this project: ``tests/fixtures/*/expected/*.json`` (BIA,
  EMPIAR, IDR golden records) and the packaged sample store (harvested into a temporary
  store, for the JCB records);
- ``--bia-stats``: ``bia_study_stats.json`` (848 real BIA accessions with title, release
  date, file count, bytes; upstream BioImage-Archive/bia-study-stats);
- ``--idr-studies`` (optional): IDR's ``studies.tsv`` (file counts and bytes per study;
  upstream IDR/idr.openmicroscopy.org ``_data/studies.tsv``, CC-BY-4.0);
- ``--empiar-crates`` (optional): a folder of EMPIAR GIDE RO-Crates (real titles and
  release dates; upstream German-BioImaging/gide-data-deliverable).

    python -m benchmarks.distill --bia-stats PATH [--idr-studies PATH] [--empiar-crates DIR]

Writes ``benchmarks/data/text_model.json`` (unigram/bigram tables of titles and of
descriptive prose), ``attributes.json`` (organisms, methods, licences, … with frequencies
per source) and ``study_stats.json`` (release dates, file counts and sizes).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import re
import tempfile
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from harvesters.records import Record

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
TOKEN = re.compile(r"\d+[A-Za-z][A-Za-z0-9\-]*|[A-Za-z][A-Za-z0-9'’\-]*[A-Za-z0-9]|[A-Za-z]|\d+(?:\.\d+)?|[.!?]")
END = "."
MAX_SUCCESSORS = 40


def tokens(text: str) -> list[str]:
    """Words and numbers; sentence ends become '.'."""
    return [END if t in ".!?" else t for t in TOKEN.findall(text or "")]


def real_records() -> list[Record]:
    """Golden records of the project's fixtures plus the packaged sample store."""
    by_acc: dict[str, Record] = {}
    with tempfile.TemporaryDirectory() as tmp:
        from bioimage_search.config import Settings, PathsSettings
        from bioimage_search.sources import FACTORIES, build_harvester
        from harvesters.base import run_harvest
        from harvesters.store import RecordStore

        settings = Settings(paths=PathsSettings(data_dir=tmp))
        with RecordStore(Path(tmp) / "store.sqlite3") as store:
            for source in FACTORIES:
                harvester = build_harvester(settings, source)
                try:
                    run_harvest(harvester, store, full=True)
                finally:
                    harvester.close()
            for record in store.iter_records():
                by_acc[record.accession] = record
    for path in sorted(glob.glob(str(ROOT / "tests/fixtures/*/expected/*.json"))):
        record = Record.from_json(Path(path).read_bytes())
        by_acc[record.accession] = record
    return sorted(by_acc.values(), key=lambda r: r.accession)


class TextModel:
    """Counts for a first-order Markov model: starts, unigrams, bigrams, lengths."""

    def __init__(self) -> None:
        self.start: Counter = Counter()
        self.unigram: Counter = Counter()
        self.bigram: dict[str, Counter] = defaultdict(Counter)
        self.lengths: Counter = Counter()
        self.docs = 0

    def add(self, text: str) -> None:
        toks = tokens(text)
        words = [t for t in toks if t != END]
        if not words:
            return
        self.docs += 1
        self.lengths[len(words)] += 1
        prev = END  # the beginning of a text is a sentence start
        for tok in toks:
            if prev == END:
                if tok != END:
                    self.start[tok] += 1
            else:
                self.bigram[prev][tok] += 1
            if tok != END:
                self.unigram[tok] += 1
            prev = tok
        if prev != END:
            self.bigram[prev][END] += 1

    def to_json(self) -> dict:
        return {
            "documents": self.docs,
            "tokens": sum(self.unigram.values()),
            "lengths": sorted(self.lengths.items()),
            "start": self.start.most_common(),
            "unigram": self.unigram.most_common(),
            "bigram": {w: nxt.most_common(MAX_SUCCESSORS) for w, nxt in sorted(self.bigram.items())},
        }


def counted(counter: Counter) -> list:
    return [[list(k) if isinstance(k, tuple) else k, n] for k, n in counter.most_common()]


def by_source(pairs) -> dict[str, list]:
    out: dict[str, Counter] = defaultdict(Counter)
    for source, key in pairs:
        out[source][key] += 1
    return {s: counted(c) for s, c in sorted(out.items())}


def by_source_per_record(records: list[Record], values) -> dict[str, list]:
    """Per-source frequencies where each record weighs 1 however many values it lists
    (one study of 47 liverwort species must not make liverworts a third of all organisms)."""
    out: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        items = list(values(r))
        for key in items:
            out[r.source][key] += 1 / len(items)
    return {s: [[list(k) if isinstance(k, tuple) else k, round(n, 4)] for k, n in c.most_common()]
            for s, c in sorted(out.items())}


def distil_attributes(records: list[Record]) -> dict:
    sources = Counter(r.source for r in records)
    authors = Counter(a.name for r in records for a in r.authors)
    return {
        "records": len(records),
        "sources_in_sample": dict(sources),
        "organisms": by_source_per_record(
            records, lambda r: [(o.name, o.taxon_id, o.common_name) for o in r.organisms]),
        "imaging_methods": by_source_per_record(
            records, lambda r: [(m.name, m.fbbi_id) for m in r.imaging_methods]),
        "licenses": by_source(
            (r.source, (r.license.name, r.license.url) if r.license else None) for r in records),
        "study_types": by_source_per_record(records, lambda r: r.study_type),
        "file_formats": by_source_per_record(records, lambda r: r.file_formats),
        "keywords": counted(Counter(k for r in records for k in r.keywords)),
        "n_organisms": by_source((r.source, min(len(r.organisms), 5)) for r in records),
        "n_imaging_methods": by_source((r.source, len(r.imaging_methods)) for r in records),
        "n_study_types": by_source((r.source, min(len(r.study_type), 3)) for r in records),
        "n_file_formats": by_source((r.source, min(len(r.file_formats), 4)) for r in records),
        "n_authors": counted(Counter(min(len(r.authors), 40) for r in records)),
        "n_keywords": counted(Counter(min(len(r.keywords), 12) for r in records)),
        "n_publications": counted(Counter(min(len(r.publications), 3) for r in records)),
        "n_components": counted(Counter(min(len(r.study_components), 6) for r in records)),
        "author_names": counted(authors),
        "orcid_fraction": round(
            sum(1 for r in records for a in r.authors if a.orcid) / max(1, sum(authors.values())), 4),
        "organisations": sorted({o.name for r in records for o in r.organisations}),
        "journals": counted(Counter(p.journal for r in records for p in r.publications if p.journal)),
        "instruments": counted(Counter(a.instrument for r in records for a in r.image_acquisitions if a.instrument)),
        "doi_fraction": {s: round(sum(1 for r in records if r.source == s and r.doi) / n, 3) for s, n in sources.items()},
        "component_names": counted(Counter(c.name for r in records for c in r.study_components if c.name)),
    }


def distil_text(records: list[Record], extra_titles: list[str]) -> dict:
    titles, prose = TextModel(), TextModel()
    for title in [r.title for r in records] + extra_titles:
        titles.add(title)
    for r in records:
        prose.add(r.description or "")
        for b in r.biosamples:
            prose.add(b.description or "")
        for s in r.specimens:
            prose.add(s.preparation_protocol or "")
            prose.add(s.growth_protocol or "")
        for a in r.image_acquisitions:
            prose.add(a.parameters or "")
        for c in r.study_components:
            prose.add(c.description or "")
    return {"title": titles.to_json(), "prose": prose.to_json()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bia-stats", required=True, type=Path)
    ap.add_argument("--idr-studies", type=Path)
    ap.add_argument("--empiar-crates", type=Path)
    args = ap.parse_args(argv)

    records = real_records()
    bia = json.loads(args.bia_stats.read_text())
    bia_rows = sorted(
        [v["release_date"], int(v["number_of_files"]), int(v["total_size_bytes"])]
        for v in bia.values() if v.get("release_date") and v.get("number_of_files") is not None
    )
    empiar_titles, empiar_dates = [], [r.release_date for r in records if r.source == "empiar" and r.release_date]
    if args.empiar_crates:
        for path in sorted(args.empiar_crates.glob("*-ro-crate-metadata.json")):
            graph = json.loads(path.read_text()).get("@graph", [])
            for node in graph:
                if "Dataset" in (node.get("@type") or []) and str(node.get("identifier", "")).startswith("EMPIAR"):
                    if node.get("name"):
                        empiar_titles.append(node["name"])
                    if node.get("datePublished"):
                        empiar_dates.append(str(node["datePublished"])[:10])
    idr_rows = []
    if args.idr_studies:
        with args.idr_studies.open() as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                try:
                    idr_rows.append([int(row["# of Files"]), int(float(row["Size"]))])
                except (KeyError, ValueError):
                    continue
    provenance = (
        f"Distilled on {date.today().isoformat()} by benchmarks/distill.py from {len(records)} real "
        f"normalised records ({dict(Counter(r.source for r in records))}: tests/fixtures/*/expected and the "
        f"packaged sample store), {len(bia)} BIA studies of bia_study_stats.json "
        f"(BioImage-Archive/bia-study-stats @ bc93d01d)"
        + (f", {len(empiar_titles)} EMPIAR GIDE RO-Crates (German-BioImaging/gide-data-deliverable @ 5d8683bb)" if empiar_titles else "")
        + (f", {len(idr_rows)} IDR studies of studies.tsv (IDR/idr.openmicroscopy.org @ 632dd59d, CC-BY-4.0)" if idr_rows else "")
        + ". Counts only: no record is reproduced whole."
    )
    DATA.mkdir(exist_ok=True)
    text = distil_text(records, [v["title"] for v in bia.values() if v.get("title")] + empiar_titles)
    write(DATA / "text_model.json", {"provenance": provenance, **text})
    write(DATA / "attributes.json", {"provenance": provenance, **distil_attributes(records)})
    write(DATA / "study_stats.json", {
        "provenance": provenance,
        "bia": {"columns": ["release_date", "file_count", "total_size_bytes"], "rows": bia_rows},
        "idr": {"columns": ["file_count", "total_size_bytes"], "rows": idr_rows,
                "release_dates": sorted(r.release_date for r in records if r.source == "idr" and r.release_date)},
        "empiar": {"release_dates": sorted(set(empiar_dates))},
        "jcb": {"release_dates": sorted(r.release_date for r in records if r.source == "jcb" and r.release_date)},
    })


def write(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
