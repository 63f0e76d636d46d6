"""The record store: SQLite (WAL) holding normalised records, raw payloads, file rows,
harvest runs and per-record errors. It is the truth; the index is rebuilt from it.

Every change to a record bumps a global sequence number, so the indexer can ask for
"everything changed since sequence N" and an incremental index update touches only
those records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from harvesters.records import FileRow, Record, utc_now

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS files (
    accession TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER,
    format TEXT,
    component TEXT,
    attributes BLOB
);
CREATE INDEX IF NOT EXISTS files_accession ON files(accession);
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
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open record store {self.path}: {exc}") from exc

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
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StoreError(f"cannot commit to record store {self.path}: {exc}") from exc

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
                db.execute("DELETE FROM files WHERE accession=?", (accession,))
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

    def iter_records(self, source: str | None = None) -> Iterator[Record]:
        """Every live record (of one source), in accession order."""
        sql = "SELECT record FROM records WHERE deleted=0"
        args: tuple = ()
        if source:
            sql, args = sql + " AND source=?", (source,)
        for row in self._db.execute(sql + " ORDER BY accession", args):
            yield Record.from_json(row[0])

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
        """Replace a dataset's file rows inside an open transaction, streaming in batches."""
        db.execute("DELETE FROM files WHERE accession=?", (accession,))
        count, total, formats = 0, 0, {}
        pending: list[tuple] = []
        for row in rows:
            count += 1
            total += row.size or 0
            if row.format:
                formats[row.format] = formats.get(row.format, 0) + 1
            pending.append(
                (accession, row.path, row.size, row.format, row.component, orjson.dumps(row.attributes))
            )
            if len(pending) >= batch:
                db.executemany("INSERT INTO files VALUES (?,?,?,?,?,?)", pending)
                pending.clear()
        if pending:
            db.executemany("INSERT INTO files VALUES (?,?,?,?,?,?)", pending)
        return FileStats(count, total, formats)

    def iter_files(self, accession: str) -> Iterator[FileRow]:
        """A dataset's file rows, in insertion order."""
        rows = self._db.execute(
            "SELECT path, size, format, component, attributes FROM files WHERE accession=? "
            "ORDER BY rowid",
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
