"""The engines the benchmark compares. Each takes the same flat documents (derived from the
same Records, with the same facet keys as our index) and answers the same BenchQuery:
the first page of 20 hits (accession and title), the exact total, and when asked, counts
of every facet with multi-select semantics (a filtered facet's counts ignore its own
filter: one extra count per filtered facet, as our service does).

- ``OurService``: ``SearchService`` over ``full_build`` of a ``RecordStore`` (production code,
  unchanged), requests parsed with ``parse_search_params``;
- ``PlainWhoosh``: a straightforward Whoosh schema, ``MultifieldParser``, ``groupedby`` facets,
  one long-lived searcher (what a first implementation would write);
- ``SqliteFts5``: FTS5 (porter tokenizer, bm25 with our field boosts), facet counts by
  ``GROUP BY`` over a (doc, facet, key) table;
- ``Tantivy``: PyPI ``tantivy`` (stemmed text fields, raw fast fields for facets, terms
  aggregations), the reference for what the hardware allows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

import orjson

from benchmarks.queries import FACET_NAMES, PAGE_SIZE, BenchQuery
from harvesters.records import Record
from indexer.documents import facet_values
from indexer.schema import DEFAULT_FIELDS

TEXT_FIELDS = ("title", "description", "keywords", "author", "organism", "imaging_method", "content")
BOOSTS = {f: DEFAULT_FIELDS.get(f, 1.0) for f in TEXT_FIELDS}


class BudgetExceeded(RuntimeError):
    """A build or query phase ran past its time budget."""


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def flat_document(record: Record) -> dict:
    """The fields a reference engine indexes: the same text and facet keys as ours."""
    content: list[str | None] = [o.name for o in record.organisations]
    for b in record.biosamples:
        content += [b.title, b.description]
    for s in record.specimens:
        content += [s.preparation_protocol, s.growth_protocol]
    for a in record.image_acquisitions:
        content += [a.title, a.instrument, a.parameters]
    for c in record.study_components:
        content += [c.name, c.description]
    content += [p.title for p in record.publications]
    return {
        "accession": record.accession,
        "title": record.title,
        "description": record.description or "",
        "keywords": " ; ".join(record.keywords),
        "author": " ; ".join(a.name for a in record.authors),
        "organism": " ; ".join(x for o in record.organisms for x in (o.name, o.common_name) if x),
        "imaging_method": " ; ".join(m.name for m in record.imaging_methods),
        "content": "\n".join(c for c in content if c),
        "release_date": record.release_date,
        "facets": {name: sorted(values) for name, values in facet_values(record).items()},
    }


def iter_jsonl(path: Path) -> Iterator[dict]:
    with path.open("rb") as handle:
        for line in handle:
            yield orjson.loads(line)


def _budget_guard(budget: float, started: float, every: int = 500) -> Callable[[int], None]:
    def check(n: int) -> None:
        if n % every == 0 and time.perf_counter() - started > budget:
            raise BudgetExceeded(f"build exceeded its {budget:.0f} s budget after {n} documents")
    return check


def _day(iso: str | None) -> int:
    return date.fromisoformat(iso).toordinal() if iso else 0


# ----------------------------------------------------------------------------- ours


WARM_WAIT_S = 600


def _writer_of(full_build) -> str:
    """Which writer the measured full_build uses (older commits, run with --code-dir, used
    Whoosh's own writer)."""
    import importlib
    import inspect

    sources = [inspect.getsource(importlib.import_module(full_build.__module__))]
    try:  # where the build's segment writer is chosen, from the parallel build on
        sources.append(inspect.getsource(importlib.import_module("indexer.segments")))
    except ImportError:
        pass
    return "BulkSegmentWriter" if any("BulkSegmentWriter" in s for s in sources) else "Whoosh writer, commit(optimize=True)"


class OurService:
    name = "ours"

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.store_path = data_dir / "store.sqlite3"
        self.index_dir = data_dir / "index"
        self.service = None

    def build(self, budget: float) -> dict:
        from harvesters.store import RecordStore
        from indexer.builder import full_build

        started = time.perf_counter()
        guard = _budget_guard(budget, started)
        count = [0]

        def on_record(_acc: str) -> None:
            count[0] += 1
            guard(count[0])

        with RecordStore(self.store_path) as store:
            summary = full_build(store, self.index_dir, on_record=on_record)
        seconds = time.perf_counter() - started
        gen = self.index_dir / summary.generation
        return {"documents": summary.total, "seconds": seconds, "index_bytes": dir_bytes(gen),
                "notes": [f"production full_build with its defaults ({_writer_of(full_build)})"]}

    def open(self) -> float:
        from query.params import parse_search_params
        from query.service import SearchService

        started = time.perf_counter()
        self.service = SearchService(self.index_dir, self.store_path)
        self.service.search(parse_search_params({"query": ["warmup"], "facets": [""]}))
        self.first_search_s = time.perf_counter() - started
        # Steady state: the generation's background warm-up is done (older code has none).
        is_warm = getattr(self.service, "is_warm", lambda: True)
        deadline = time.perf_counter() + WARM_WAIT_S
        while not is_warm() and time.perf_counter() < deadline:
            time.sleep(0.1)
        return time.perf_counter() - started

    def search(self, q: BenchQuery, facets: bool) -> int:
        from query.params import parse_search_params

        result = self.service.search(parse_search_params(q.params(facets)))
        return int(result["totalHits"])

    def close(self) -> None:
        self.service = None


# ----------------------------------------------------------------------------- plain whoosh


class PlainWhoosh:
    name = "whoosh"

    def __init__(self, path: Path):
        self.path = path
        self.ix = self.searcher = self.parser = None

    def schema(self):
        from whoosh.fields import DATETIME, ID, KEYWORD, TEXT, Schema

        fields = {f"f_{name}": KEYWORD(commas=True) for name in FACET_NAMES}
        return Schema(
            accession=ID(stored=True, unique=True), title=TEXT(stored=True), description=TEXT,
            keywords=TEXT, author=TEXT, organism=TEXT, imaging_method=TEXT, content=TEXT,
            release_date=DATETIME(sortable=True), **fields,
        )

    def build(self, docs: Iterable[dict], budget: float, limitmb: int = 256) -> dict:
        from whoosh import index

        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        started = time.perf_counter()
        guard = _budget_guard(budget, started)
        ix = index.create_in(self.path, self.schema())
        writer = ix.writer(limitmb=limitmb)
        n = 0
        try:
            for doc in docs:
                fields = {k: doc[k] for k in ("accession", *TEXT_FIELDS)}
                if doc["release_date"]:
                    fields["release_date"] = datetime.fromisoformat(doc["release_date"])
                for name, keys in doc["facets"].items():
                    fields[f"f_{name}"] = ",".join(k.replace(",", " ") for k in keys)
                writer.add_document(**fields)
                n += 1
                guard(n)
            writer.commit(optimize=True)
        except BaseException:
            writer.cancel()
            raise
        ix.close()
        return {"documents": n, "seconds": time.perf_counter() - started, "index_bytes": dir_bytes(self.path),
                "notes": [f"one writer(limitmb={limitmb}), commit(optimize=True), default analyzers"]}

    def open(self) -> float:
        from whoosh import index
        from whoosh.qparser import MultifieldParser

        started = time.perf_counter()
        self.ix = index.open_dir(self.path)
        self.searcher = self.ix.searcher()
        self.parser = MultifieldParser(list(TEXT_FIELDS), self.ix.schema, fieldboosts=BOOSTS)
        return time.perf_counter() - started

    def _filters(self, q: BenchQuery, skip: str | None = None):
        from whoosh.query import And, Or, Term

        by_facet: dict[str, list[str]] = {}
        for facet, key in q.filters:
            by_facet.setdefault(facet, []).append(key)
        parts = [Or([Term(f"f_{f}", k) for k in keys]) for f, keys in by_facet.items() if f != skip]
        return And(parts) if parts else None

    def search(self, q: BenchQuery, facets: bool) -> int:
        from whoosh import sorting
        from whoosh.query import Every

        query = self.parser.parse(q.text) if q.text else Every()
        filtered = {f for f, _ in q.filters}
        groupedby = None
        if facets:
            groupedby = {name: sorting.FieldFacet(f"f_{name}", allow_overlap=True, maptype=sorting.Count)
                         for name in FACET_NAMES if name not in filtered}
        sortedby = sorting.FieldFacet("release_date", reverse=True) if q.sort or not q.text else None
        results = self.searcher.search(query, limit=PAGE_SIZE, filter=self._filters(q), sortedby=sortedby,
                                       groupedby=groupedby or None)
        _page = [(hit["accession"], hit["title"]) for hit in results]
        counts = {name: results.groups(name) for name in (groupedby or {})}
        if facets:
            for name in filtered:
                facet = sorting.FieldFacet(f"f_{name}", allow_overlap=True, maptype=sorting.Count)
                counts[name] = self.searcher.search(query, limit=1, filter=self._filters(q, skip=name),
                                                    groupedby={name: facet}).groups(name)
        return len(results)

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.close()
        if self.ix is not None:
            self.ix.close()
        self.ix = self.searcher = None


# ----------------------------------------------------------------------------- SQLite FTS5


class SqliteFts5:
    name = "fts5"

    def __init__(self, path: Path):
        self.path = path
        self.db: sqlite3.Connection | None = None

    def build(self, docs: Iterable[dict], budget: float) -> dict:
        if self.path.exists():
            self.path.unlink()
        started = time.perf_counter()
        guard = _budget_guard(budget, started)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(f"""
            CREATE TABLE docs(id INTEGER PRIMARY KEY, accession TEXT, title TEXT, release_date TEXT);
            CREATE VIRTUAL TABLE fts USING fts5({', '.join(TEXT_FIELDS)}, tokenize='porter unicode61');
            CREATE TABLE facets(doc INTEGER NOT NULL, facet TEXT NOT NULL, key TEXT NOT NULL);
        """)
        n = 0
        db.execute("BEGIN")
        docs_rows, fts_rows, facet_rows = [], [], []

        def flush() -> None:
            db.executemany("INSERT INTO docs VALUES (?,?,?,?)", docs_rows)
            db.executemany(f"INSERT INTO fts(rowid, {', '.join(TEXT_FIELDS)}) VALUES (?{',?' * len(TEXT_FIELDS)})", fts_rows)
            db.executemany("INSERT INTO facets VALUES (?,?,?)", facet_rows)
            docs_rows.clear(), fts_rows.clear(), facet_rows.clear()

        for doc in docs:
            n += 1
            docs_rows.append((n, doc["accession"], doc["title"], doc["release_date"] or ""))
            fts_rows.append((n, *(doc[f] for f in TEXT_FIELDS)))
            facet_rows.extend((n, name, key) for name, keys in doc["facets"].items() for key in keys)
            if len(docs_rows) >= 2000:
                flush()
            guard(n)
        flush()
        db.execute("CREATE INDEX facets_key ON facets(facet, key, doc)")
        db.execute("CREATE INDEX facets_doc ON facets(doc, facet, key)")
        db.execute("CREATE INDEX docs_date ON docs(release_date DESC, accession)")
        db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return {"documents": n, "seconds": time.perf_counter() - started, "index_bytes": size,
                "notes": ["one transaction, batched executemany, fts5 'optimize', porter unicode61"]}

    def open(self) -> float:
        started = time.perf_counter()
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA query_only=1")
        self.db.execute("PRAGMA cache_size=-262144")
        self.db.execute("SELECT count(*) FROM docs").fetchone()
        return time.perf_counter() - started

    @staticmethod
    def match(q: BenchQuery) -> str | None:
        if not q.words:
            return None
        quoted = ['"' + w.replace('"', '""') + '"' for w in q.words]
        if q.field:
            inner = " ".join(q.words).replace('"', '""')
            return f'{q.field} : "{inner}"'
        if q.phrase:
            return '"' + " ".join(q.words).replace('"', '""') + '"'
        return " ".join(quoted)

    def _where(self, q: BenchQuery, skip: str | None = None) -> tuple[str, list]:
        by_facet: dict[str, list[str]] = {}
        for facet, key in q.filters:
            by_facet.setdefault(facet, []).append(key)
        clauses, args = [], []
        for facet, keys in by_facet.items():
            if facet == skip:
                continue
            clauses.append(f"id IN (SELECT doc FROM facets WHERE facet=? AND key IN ({','.join('?' * len(keys))}))")
            args += [facet, *keys]
        return " AND ".join(clauses), args

    def _matching(self, q: BenchQuery, skip: str | None = None) -> tuple[str, list]:
        """SQL selecting the ids of matching documents."""
        match = self.match(q)
        where, args = self._where(q, skip)
        if match:
            sql = "SELECT rowid AS id FROM fts WHERE fts MATCH ?"
            args = [match, *args]
            if where:
                sql += " AND " + where.replace("id IN", "rowid IN")
            return sql, args
        return "SELECT id FROM docs" + (" WHERE " + where if where else ""), args

    def search(self, q: BenchQuery, facets: bool) -> int:
        db = self.db
        match = self.match(q)
        where, wargs = self._where(q)
        weights = ", ".join(str(BOOSTS[f]) for f in TEXT_FIELDS)
        if match:
            order = "d.release_date DESC, d.accession" if q.sort else f"bm25(fts, {weights})"
            sql = (f"SELECT d.accession, d.title FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ?"
                   + (" AND " + where.replace("id IN", "d.id IN") if where else "") + f" ORDER BY {order} LIMIT {PAGE_SIZE}")
            _page = db.execute(sql, [match, *wargs]).fetchall()
        else:
            sql = "SELECT accession, title FROM docs" + (" WHERE " + where if where else "") + \
                f" ORDER BY release_date DESC, accession LIMIT {PAGE_SIZE}"
            _page = db.execute(sql, wargs).fetchall()
        msql, margs = self._matching(q)
        total = db.execute(f"SELECT count(*) FROM ({msql})", margs).fetchone()[0]
        if facets:
            filtered = sorted({f for f, _ in q.filters})
            counts: dict[str, dict[str, int]] = {}
            rows = db.execute(f"SELECT f.facet, f.key, count(*) FROM ({msql}) m JOIN facets f ON f.doc = m.id "
                              "GROUP BY f.facet, f.key", margs).fetchall()
            for facet, key, n in rows:
                if facet not in filtered:
                    counts.setdefault(facet, {})[key] = n
            for name in filtered:
                osql, oargs = self._matching(q, skip=name)
                counts[name] = dict(db.execute(
                    f"SELECT f.key, count(*) FROM ({osql}) m JOIN facets f ON f.doc = m.id AND f.facet = ? GROUP BY f.key",
                    [*oargs, name]).fetchall())
        return int(total)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = None


# ----------------------------------------------------------------------------- tantivy


class Tantivy:
    name = "tantivy"

    def __init__(self, path: Path, threads: int = 2):
        self.path = path
        self.threads = threads
        self.index = self.searcher = None

    def schema(self):
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("accession", stored=True, tokenizer_name="raw")
        sb.add_text_field("title", stored=True, tokenizer_name="en_stem")
        for field in TEXT_FIELDS[1:]:
            sb.add_text_field(field, tokenizer_name="en_stem" if field not in ("author",) else "default")
        sb.add_integer_field("release", fast=True, indexed=True)
        for name in FACET_NAMES:
            sb.add_text_field(f"f_{name}", fast=True, tokenizer_name="raw")
        return sb.build()

    def build(self, docs: Iterable[dict], budget: float) -> dict:
        import tantivy

        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        started = time.perf_counter()
        guard = _budget_guard(budget, started)
        index = tantivy.Index(self.schema(), path=str(self.path))
        writer = index.writer(256_000_000, self.threads)
        n = 0
        for doc in docs:
            fields = {k: doc[k] for k in ("accession", *TEXT_FIELDS)}
            fields["release"] = _day(doc["release_date"])
            for name, keys in doc["facets"].items():
                if keys:
                    fields[f"f_{name}"] = keys
            writer.add_document(tantivy.Document(**fields))
            n += 1
            guard(n)
        writer.commit()
        writer.wait_merging_threads()
        return {"documents": n, "seconds": time.perf_counter() - started, "index_bytes": dir_bytes(self.path),
                "notes": [f"writer(256 MB, {self.threads} threads), one commit"]}

    def open(self) -> float:
        import tantivy

        started = time.perf_counter()
        self.index = tantivy.Index.open(str(self.path))
        self.searcher = self.index.searcher()
        self.schema_ = self.index.schema
        return time.perf_counter() - started

    def _query(self, q: BenchQuery, skip: str | None = None):
        import tantivy

        if q.text:
            try:
                user = self.index.parse_query(q.text, list(TEXT_FIELDS), field_boosts=BOOSTS, conjunction_by_default=True)
            except ValueError:
                user, _errors = self.index.parse_query_lenient(q.text, list(TEXT_FIELDS), field_boosts=BOOSTS,
                                                                conjunction_by_default=True)
        else:
            user = tantivy.Query.all_query()
        by_facet: dict[str, list[str]] = {}
        for facet, key in q.filters:
            if facet != skip:
                by_facet.setdefault(facet, []).append(key)
        if not by_facet:
            return user
        parts = [(tantivy.Occur.Must, user)]
        for facet, keys in by_facet.items():
            should = [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema_, f"f_{facet}", k)) for k in keys]
            parts.append((tantivy.Occur.Must, tantivy.Query.boolean_query(should)))
        return tantivy.Query.boolean_query(parts)

    def search(self, q: BenchQuery, facets: bool) -> int:
        query = self._query(q)
        sort = q.sort or not q.text
        result = self.searcher.search(query, PAGE_SIZE, count=True, order_by_field="release" if sort else None)
        _page = [(d["accession"][0], d["title"][0]) for d in (self.searcher.doc(addr) for _, addr in result.hits)]
        if facets:
            filtered = {f for f, _ in q.filters}
            aggs = {name: {"terms": {"field": f"f_{name}", "size": 200}} for name in FACET_NAMES if name not in filtered}
            counts = self.searcher.aggregate(query, aggs) if aggs else {}
            for name in filtered:
                counts[name] = self.searcher.aggregate(self._query(q, skip=name),
                                                       {name: {"terms": {"field": f"f_{name}", "size": 200}}})[name]
        return int(result.count)

    def close(self) -> None:
        self.index = self.searcher = None
