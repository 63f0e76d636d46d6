"""The record store: SQLite (WAL) holding normalised records, raw payloads, file rows,
harvest runs and per-record errors. It is the truth; the index is rebuilt from it.

Every change to a record bumps a global sequence number, so the indexer can ask for
"everything changed since sequence N" and an incremental index update touches only
those records.

File rows carry what file-level search (query/files.py) needs, written by
``replace_files`` in the record's transaction: ``files.id`` is an explicit INTEGER PRIMARY
KEY (stable under VACUUM, the key of everything below); ``file_attributes`` is the
normalised attribute table (one row per file and attribute, clustered on
``(accession, name, value, file_id)``); ``files_fts`` is a contentless FTS5 index
(detail=none, prefix indexes for 2 to 8 characters) over path + attribute values keyed by
``files.id``; ``file_sets`` holds one row per dataset with a version that changes on every
replacement (the cache key of the in-memory file index), the id range and the attribute
names by frequency. Stores written before these tables existed are migrated on open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from harvesters.records import FileRow, Record, utc_now

FILES_TABLE = """CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    accession TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER,
    format TEXT,
    component TEXT,
    attributes BLOB
)"""

SCHEMA = FILES_TABLE.format(name="IF NOT EXISTS files") + """;

CREATE TABLE IF NOT EXISTS records (
    accession TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT,
    raw_hash TEXT,
    modified TEXT,
    source_url TEXT,
    harvested_at TEXT,
    record BLOB,
    raw BLOB,
    raw_format TEXT
);
CREATE INDEX IF NOT EXISTS records_seq ON records(seq);
CREATE INDEX IF NOT EXISTS records_source ON records(source, deleted);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    location TEXT,
    full INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL,
    counts BLOB,
    message TEXT
);
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER,
    source TEXT NOT NULL,
    accession TEXT,
    stage TEXT NOT NULL,
    source_url TEXT,
    message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""



# File-search structures; run statement by statement inside the migration transaction.
FILE_SEARCH_SCHEMA = (
    "DROP INDEX IF EXISTS files_accession",
    "CREATE INDEX IF NOT EXISTS files_accession_path ON files(accession, path)",
    "CREATE INDEX IF NOT EXISTS files_accession_format ON files(accession, format)",
    "CREATE TABLE IF NOT EXISTS file_attributes (file_id INTEGER NOT NULL, accession TEXT NOT NULL, "
    "name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (accession, name, value, file_id)) WITHOUT ROWID",
    "CREATE VIRTUAL TABLE IF NOT EXISTS files_fts USING fts5(body, content='', detail='none', "
    "prefix='2 3 4 5 6 7 8', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TABLE IF NOT EXISTS file_sets (accession TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "count INTEGER NOT NULL, first_id INTEGER, last_id INTEGER, attribute_names BLOB)",
)
FILE_SEARCH_MARK = "file_search_schema"

# The text indexed for a file: its path and its attribute values. Inserting and deleting
# (contentless FTS5 needs the original text to delete) use this one expression over the
# stored row, so the two can never disagree.
_ATTRS = "json_each(CAST(f.attributes AS TEXT))"
FTS_BODY = (
    f"f.path || coalesce(' ' || (SELECT group_concat(j.value, ' ') FROM {_ATTRS} j "
    "WHERE j.type = 'text'), '')"
)


class StoreError(RuntimeError):
    """The store could not be opened or written (disk full, permissions, corruption)."""


@dataclass(frozen=True)
class StoredRecord:
    """A record row as the indexer needs it."""

    accession: str
    source: str
    seq: int
    deleted: bool
    record: Record | None


@dataclass(frozen=True)
class ChangeRow:
    """A record row with the time it last changed in the store (``changed_at``, RFC 3339 UTC
    to the second); deleted rows keep their last record, so their set membership is known."""

    accession: str
    source: str
    changed_at: str
    deleted: bool
    record: Record | None


@dataclass(frozen=True)
class RecordState:
    """What the store knows of a record, for deciding whether it changed."""

    fingerprint: str | None
    raw_hash: str | None
    modified: str | None
    deleted: bool
    source: str


@dataclass(frozen=True)
class FileSet:
    """What the store knows of a dataset's file rows as a whole."""

    accession: str
    version: int
    count: int
    first_id: int | None
    last_id: int | None
    attribute_names: list[str]


@dataclass(frozen=True)
class FileStats:
    """Aggregates of a dataset's file rows."""

    count: int
    total_size: int
    formats: dict[str, int]


class RecordStore:
    """A connection to the record store at ``path`` (created on first use)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._add_changed_at()
            self._migrate_files()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open record store {self.path}: {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, for read-only queries of the query layer (file search)."""
        return self._db

    def _migrate_files(self) -> None:
        """Migration to the file-search schema: give ``files`` an explicit id (rebuilding a
        table written before it had one, keeping the rowids) and backfill the attribute
        table, the FTS index and the file-set row of every dataset not yet in them.
        Idempotent; one lookup on a current store."""
        if self._counter(FILE_SEARCH_MARK) and self._files_have_id():
            return
        with self.transaction() as db:
            if not self._files_have_id():
                db.execute(FILES_TABLE.format(name="files_v2"))
                db.execute(
                    "INSERT INTO files_v2(id, accession, path, size, format, component, attributes) "
                    "SELECT rowid, accession, path, size, format, component, attributes FROM files ORDER BY rowid"
                )
                db.execute("DROP TABLE files")
                db.execute("ALTER TABLE files_v2 RENAME TO files")
            for statement in FILE_SEARCH_SCHEMA:
                db.execute(statement)
            if not self._counter(FILE_SEARCH_MARK):  # another connection may have migrated first
                missing = db.execute(
                    "SELECT DISTINCT accession FROM files WHERE accession NOT IN (SELECT accession FROM file_sets)"
                ).fetchall()
                for (accession,) in missing:
                    self._backfill_files(db, accession)
                db.execute(
                    "INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = 1",
                    (FILE_SEARCH_MARK,),
                )

    def _files_have_id(self) -> bool:
        return any(row[1] == "id" for row in self._db.execute("PRAGMA table_info(files)"))

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return row[0] if row else 0

    def _backfill_files(self, db: sqlite3.Connection, accession: str) -> None:
        """Attribute rows, FTS entries and the file-set row of existing file rows."""
        db.execute("DELETE FROM file_attributes WHERE accession=?", (accession,))
        self._index_files(db, "f.accession = ?", (accession,))
        names = dict(
            db.execute(
                "SELECT name, count(*) FROM file_attributes WHERE accession=? GROUP BY name", (accession,)
            ).fetchall()
        )
        count, first, last = db.execute(
            "SELECT count(*), min(id), max(id) FROM files WHERE accession=?", (accession,)
        ).fetchone()
        self._save_file_set(db, accession, count, first, last, names)

    def _add_changed_at(self) -> None:
        """Migration: ``changed_at``, the time a record last changed in the store (saved with
        new content or marked deleted); stores older than the column start from harvested_at."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        if "changed_at" not in columns:
            try:
                self._db.execute("ALTER TABLE records ADD COLUMN changed_at TEXT")
            except sqlite3.OperationalError as exc:  # another connection migrated first
                if "duplicate column" not in str(exc):
                    raise
            self._db.execute("UPDATE records SET changed_at = COALESCE(harvested_at, ?) WHERE changed_at IS NULL", (utc_now(),))
        self._db.execute("CREATE INDEX IF NOT EXISTS records_changed ON records(changed_at, accession)")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> "RecordStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write record store {self.path}: {exc}") from exc
        try:
            yield self._db
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"cannot write record store {self.path}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(f"cannot commit to record store {self.path}: {exc}") from exc

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (disk full, I/O error): then there is
        # nothing to roll back, and trying would hide the real error.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # -- records -----------------------------------------------------------------

    def _next_seq(self, db: sqlite3.Connection) -> int:
        db.execute(
            "INSERT INTO counters(name, value) VALUES ('seq', 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        return db.execute("SELECT value FROM counters WHERE name='seq'").fetchone()[0]

    def current_seq(self) -> int:
        """The highest sequence number handed out so far (0 for an empty store)."""
        row = self._db.execute("SELECT value FROM counters WHERE name='seq'").fetchone()
        return row[0] if row else 0

    def state(self, accession: str) -> RecordState | None:
        """What is stored for ``accession``, or None if never seen."""
        row = self._db.execute(
            "SELECT fingerprint, raw_hash, modified, deleted, source FROM records WHERE accession=?",
            (accession,),
        ).fetchone()
        return RecordState(row[0], row[1], row[2], bool(row[3]), row[4]) if row else None

    def save_record(
        self,
        db: sqlite3.Connection,
        record: Record,
        raw: bytes,
        raw_hash: str,
    ) -> None:
        """Insert or replace a live record inside an open transaction."""
        prov = record.provenance
        db.execute(
            "INSERT INTO records(accession, source, seq, deleted, fingerprint, raw_hash, "
            "modified, source_url, harvested_at, record, raw, raw_format, changed_at) "
            "VALUES (?,?,?,0,?,?,?,?,?,?,?,?,?) ON CONFLICT(accession) DO UPDATE SET "
            "source=excluded.source, seq=excluded.seq, deleted=0, "
            "fingerprint=excluded.fingerprint, raw_hash=excluded.raw_hash, "
            "modified=excluded.modified, source_url=excluded.source_url, "
            "harvested_at=excluded.harvested_at, record=excluded.record, "
            "raw=excluded.raw, raw_format=excluded.raw_format, changed_at=excluded.changed_at",
            (
                record.accession,
                record.source,
                self._next_seq(db),
                record.content_fingerprint(),
                raw_hash,
                record.modified,
                prov.source_url if prov else None,
                prov.harvested_at if prov else utc_now(),
                record.to_json(),
                raw,
                prov.raw_format if prov else None,
                utc_now(),
            ),
        )

    def touch_unchanged(self, accession: str, raw_hash: str, modified: str | None) -> None:
        """Remember the latest raw hash of a record whose content did not change."""
        with self.transaction() as db:
            db.execute(
                "UPDATE records SET raw_hash=?, modified=COALESCE(?, modified) WHERE accession=?",
                (raw_hash, modified, accession),
            )

    def mark_deleted(self, accessions: Iterable[str]) -> int:
        """Mark records deleted (they leave the index); returns how many changed."""
        changed = 0
        with self.transaction() as db:
            for accession in accessions:
                cur = db.execute(
                    "UPDATE records SET deleted=1, seq=?, changed_at=? WHERE accession=? AND deleted=0",
                    (self._next_seq(db), utc_now(), accession),
                )
                changed += cur.rowcount
                self._delete_files(db, accession)
        return changed

    def live_accessions(self, source: str) -> set[str]:
        """Accessions of the source's records that are not deleted."""
        rows = self._db.execute(
            "SELECT accession FROM records WHERE source=? AND deleted=0", (source,)
        )
        return {row[0] for row in rows}

    def get(self, accession: str) -> Record | None:
        """The live normalised record, or None if unknown or deleted."""
        row = self._db.execute(
            "SELECT record FROM records WHERE accession=? AND deleted=0", (accession,)
        ).fetchone()
        return Record.from_json(row[0]) if row else None

    def raw(self, accession: str) -> tuple[bytes, str | None] | None:
        """The raw payload and its format, for re-normalising offline."""
        row = self._db.execute(
            "SELECT raw, raw_format FROM records WHERE accession=?", (accession,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def iter_records(
        self, source: str | None = None, *, start: str | None = None, stop: str | None = None
    ) -> Iterator[Record]:
        """Every live record (of one source; with accession in [start, stop)), in accession order."""
        for payload in self._live_payloads(source, start, stop):
            yield Record.from_json(payload)

    def iter_record_data(
        self, source: str | None = None, *, start: str | None = None, stop: str | None = None
    ) -> Iterator[dict]:
        """``iter_records`` in the records' JSON form (``Record.to_json`` parsed), not
        validated again: what an index build reads, at a third of the cost."""
        for payload in self._live_payloads(source, start, stop):
            yield orjson.loads(payload)

    def _live_payloads(self, source: str | None, start: str | None, stop: str | None) -> Iterator[bytes]:
        sql = "SELECT record FROM records WHERE deleted=0"
        args: list = []
        for clause, value in (("source=?", source), ("accession>=?", start), ("accession<?", stop)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        for row in self._db.execute(sql + " ORDER BY accession", args):
            yield row[0]

    def split_accessions(self, parts: int) -> list[str]:
        """Accessions cutting the live records, in accession order, into ``parts`` runs of
        about equal size (the first accession of every run but the first)."""
        total = self._db.execute("SELECT COUNT(*) FROM records WHERE deleted=0").fetchone()[0]
        cuts = []
        for part in range(1, parts):
            row = self._db.execute(
                "SELECT accession FROM records WHERE deleted=0 ORDER BY accession LIMIT 1 OFFSET ?",
                (total * part // parts,),
            ).fetchone()
            if row and (not cuts or row[0] > cuts[-1]):
                cuts.append(row[0])
        return cuts

    def changes_since(self, seq: int) -> Iterator[StoredRecord]:
        """Records (live or deleted) whose sequence number is above ``seq``, in order."""
        rows = self._db.execute(
            "SELECT accession, source, seq, deleted, record FROM records WHERE seq>? ORDER BY seq",
            (seq,),
        )
        for acc, source, row_seq, deleted, blob in rows:
            record = None if deleted else Record.from_json(blob)
            yield StoredRecord(acc, source, row_seq, bool(deleted), record)

    def count_by_source(self) -> dict[str, int]:
        """Live records per source."""
        rows = self._db.execute(
            "SELECT source, COUNT(*) FROM records WHERE deleted=0 GROUP BY source"
        )
        return dict(rows.fetchall())

    def iter_changes(
        self,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
        with_records: bool = True,
    ) -> Iterator[ChangeRow]:
        """Live and deleted records ordered by (changed_at, accession), streamed from the cursor:
        ``since``/``until`` bound changed_at (inclusive, same RFC 3339 form), ``after`` continues
        after a (changed_at, accession) key, ``limit`` caps the rows."""
        sql = "SELECT accession, source, changed_at, deleted, " + ("record" if with_records else "NULL") + " FROM records WHERE 1=1"
        args: list = []
        for clause, value in (("source=?", source), ("changed_at>=?", since), ("changed_at<=?", until)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        if after is not None:
            sql += " AND (changed_at>? OR (changed_at=? AND accession>?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY changed_at, accession"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        for acc, src, changed, deleted, blob in self._db.execute(sql, args):
            yield ChangeRow(acc, src, changed, bool(deleted), Record.from_json(blob) if blob else None)

    def change_row(self, accession: str) -> ChangeRow | None:
        """One record's row, live or deleted, with its change time; None if never stored."""
        row = self._db.execute(
            "SELECT accession, source, changed_at, deleted, record FROM records WHERE accession=?", (accession,)
        ).fetchone()
        return ChangeRow(row[0], row[1], row[2], bool(row[3]), Record.from_json(row[4]) if row[4] else None) if row else None

    def earliest_change(self) -> str | None:
        """The oldest changed_at in the store (None when empty)."""
        return self._db.execute("SELECT MIN(changed_at) FROM records").fetchone()[0]

    def iter_live_stamps(self, offset: int = 0, limit: int = -1) -> Iterator[tuple[str, str, str]]:
        """(accession, source, changed_at) of live records in accession order, a slice of them."""
        rows = self._db.execute(
            "SELECT accession, source, changed_at FROM records WHERE deleted=0 ORDER BY accession LIMIT ? OFFSET ?",
            (limit, offset),
        )
        yield from rows

    # -- files -------------------------------------------------------------------

    def replace_files(
        self, db: sqlite3.Connection, accession: str, rows: Iterable[FileRow], batch: int = 5000
    ) -> FileStats:
        """Replace a dataset's file rows inside an open transaction, streaming in batches.

        The attribute rows, the FTS entries and the file-set row are replaced with them, so a
        re-harvest leaves no stale or duplicate rows. New rows get consecutive ids (this is
        the only writer inside the transaction)."""
        self._delete_files(db, accession)
        first = next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM files").fetchone()[0]
        count, total, formats, names = 0, 0, {}, {}
        pending: list[tuple] = []
        for row in rows:
            count += 1
            total += row.size or 0
            if row.format:
                formats[row.format] = formats.get(row.format, 0) + 1
            for name, value in row.attributes.items():
                if value:
                    names[name] = names.get(name, 0) + 1
            pending.append(
                (next_id, accession, row.path, row.size, row.format, row.component, orjson.dumps(row.attributes))
            )
            next_id += 1
            if len(pending) >= batch:
                self._insert_files(db, pending)
                pending.clear()
        if pending:
            self._insert_files(db, pending)
        self._save_file_set(db, accession, count, first if count else None, next_id - 1 if count else None, names)
        return FileStats(count, total, formats)

    def _insert_files(self, db: sqlite3.Connection, pending: list[tuple]) -> None:
        db.executemany(
            "INSERT INTO files(id, accession, path, size, format, component, attributes) VALUES (?,?,?,?,?,?,?)",
            pending,
        )
        self._index_files(db, "f.id BETWEEN ? AND ?", (pending[0][0], pending[-1][0]))

    def _index_files(self, db: sqlite3.Connection, where: str, args: tuple) -> None:
        """Attribute rows and FTS entries for the file rows matching ``where``."""
        db.execute(
            "INSERT INTO file_attributes(file_id, accession, name, value) "
            f"SELECT f.id, f.accession, j.key, j.value FROM files f, {_ATTRS} j "
            f"WHERE {where} AND j.type = 'text' AND j.value <> ''",
            args,
        )
        db.execute(f"INSERT INTO files_fts(rowid, body) SELECT f.id, {FTS_BODY} FROM files f WHERE {where}", args)

    def _delete_files(self, db: sqlite3.Connection, accession: str) -> None:
        """Remove a dataset's file rows with their attribute rows, FTS entries and file set."""
        db.execute(
            f"INSERT INTO files_fts(files_fts, rowid, body) SELECT 'delete', f.id, {FTS_BODY} "
            "FROM files f WHERE f.accession = ?",
            (accession,),
        )
        db.execute("DELETE FROM file_attributes WHERE accession=?", (accession,))
        db.execute("DELETE FROM files WHERE accession=?", (accession,))
        db.execute("DELETE FROM file_sets WHERE accession=?", (accession,))

    def _save_file_set(
        self, db: sqlite3.Connection, accession: str, count: int, first: int | None, last: int | None,
        names: dict[str, int],
    ) -> None:
        db.execute(
            "INSERT INTO counters(name, value) VALUES ('file_sets', 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        version = db.execute("SELECT value FROM counters WHERE name='file_sets'").fetchone()[0]
        ordered = sorted(names, key=lambda n: (-names[n], n))
        db.execute(
            "INSERT OR REPLACE INTO file_sets(accession, version, count, first_id, last_id, attribute_names) "
            "VALUES (?,?,?,?,?,?)",
            (accession, version, count, first, last, orjson.dumps(ordered)),
        )

    def file_set(self, accession: str) -> FileSet | None:
        """The dataset's file-set row (version, count, id range, attribute names), or None."""
        row = self._db.execute(
            "SELECT version, count, first_id, last_id, attribute_names FROM file_sets WHERE accession=?",
            (accession,),
        ).fetchone()
        if row is None:
            return None
        return FileSet(accession, row[0], row[1], row[2], row[3], orjson.loads(row[4]) if row[4] else [])

    def iter_files(self, accession: str) -> Iterator[FileRow]:
        """A dataset's file rows, in insertion order."""
        rows = self._db.execute(
            "SELECT path, size, format, component, attributes FROM files WHERE accession=? "
            "ORDER BY id",
            (accession,),
        )
        for path, size, fmt, component, attrs in rows:
            yield FileRow(
                accession=accession,
                path=path,
                size=size,
                format=fmt,
                component=component,
                attributes=orjson.loads(attrs) if attrs else {},
            )

    # -- runs and errors -----------------------------------------------------------

    def start_run(self, source: str, location: str, full: bool) -> int:
        """Record the start of a harvest run; returns its id."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs(source, location, full, started_at, status) VALUES (?,?,?,?,?)",
                (source, location, int(full), utc_now(), "running"),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, counts: dict[str, int], message: str = "") -> None:
        """Record the end of a run with its outcome and per-outcome counts."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET ended_at=?, status=?, counts=?, message=? WHERE id=?",
                (utc_now(), status, orjson.dumps(counts), message, run_id),
            )

    def record_error(
        self,
        run_id: int | None,
        source: str,
        stage: str,
        message: str,
        accession: str | None = None,
        source_url: str | None = None,
    ) -> None:
        """Store one per-record error; the run goes on."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO errors(run_id, source, accession, stage, source_url, message, at) "
                "VALUES (?,?,?,?,?,?,?)",
                (run_id, source, accession, stage, source_url, message, utc_now()),
            )

    def last_good_run_start(self, source: str, location: str) -> str | None:
        """Start time of the newest error-free finished run of this source and location."""
        row = self._db.execute(
            "SELECT started_at FROM runs WHERE source=? AND location=? AND status='ok' "
            "ORDER BY id DESC LIMIT 1",
            (source, location),
        ).fetchone()
        return row[0] if row else None

    def runs(self, source: str | None = None, limit: int = 20) -> list[dict]:
        """The newest runs, newest first, as plain dicts."""
        sql, args = "SELECT * FROM runs", ()
        if source:
            sql, args = sql + " WHERE source=?", (source,)
        cur = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        cols = [c[0] for c in cur.description]
        out = []
        for row in cur:
            item = dict(zip(cols, row))
            item["counts"] = orjson.loads(item["counts"]) if item["counts"] else {}
            item["full"] = bool(item["full"])
            out.append(item)
        return out

    def errors(self, run_id: int | None = None, limit: int = 100) -> list[dict]:
        """Stored errors (of one run), newest first."""
        sql, args = "SELECT * FROM errors", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id=?", (run_id,)
        cur = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur]
