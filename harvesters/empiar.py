"""The EMPIAR harvester (cryo-EM, cryo-ET and volume EM raw data): entries from the EMPIAR
REST API or from a local mirror of entry JSON files and deposition XML headers.

EMPIAR has no "list all" call, so the API harvester takes its ids from a configured range
("10001-10100"), a listing file (one id or range per line, ``#`` comments) or, when neither
is given, the hits of the BioStudies ``BioImages-EMPIAR`` collection search. In a range a 404
is a gap between ids and counts as skipped; a listed id that is not found is an error.

A mirror is a folder (searched recursively) of ``EMPIAR-n.json`` / ``n.json`` API responses
and ``NNNNN.xml`` headers. When both exist for one id the JSON is harvested: it is what the
API serves today and carries the image-set fields the header may lack. JSON files named
otherwise are matched to their accession by content (see :mod:`harvesters.empiar_entry`);
XML headers only by their file name, as EMPIAR names them.

Caution for full runs: records missing from the run are deleted, so run ``full`` only with
the complete range or listing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import orjson

from harvesters.base import Harvester, HarvestError, Normalised, RawRecord, RecordRef, RecordSkipped
from harvesters.empiar_entry import as_accession, entry_accession, entry_to_record, read_entry
from harvesters.biostudies_listing import collection_accessions
from harvesters.http import FetchError, HttpClient
from harvesters.records import Provenance, utc_now

COLLECTION = "BioImages-EMPIAR"
PAGE_SIZE = 100
MAX_RANGE = 100_000  # ids in one range: a typo must not become millions of requests
MAX_ENTRY_BYTES = 64 * 1024 * 1024
_RANGE = re.compile(r"^(?:EMPIAR[-_]?)?(\d{1,9})(?:\s*-\s*(?:EMPIAR[-_]?)?(\d{1,9}))?$", re.IGNORECASE)
_MIRROR_NAME = re.compile(r"^(?:EMPIAR[-_]?)?(\d{5,9})$", re.IGNORECASE)


class EmpiarHarvester(Harvester):
    """Shared normalise stage; subclasses gather and fetch from the API or a mirror."""

    name = "empiar"

    def normalise(self, raw: RawRecord) -> Normalised:
        """Map an entry (JSON or XML header) onto a Record; obsolete entries are withdrawn."""
        accession, entry = read_entry(raw.payload, raw.format, raw.ref.hint, raw.ref.source_url)
        record = entry_to_record(accession, entry, raw.ref.source_url)
        record.provenance = Provenance(
            source_url=raw.ref.source_url,
            harvested_at=utc_now(),
            content_hash=raw.content_hash,
            raw_format=raw.format,
        )
        return Normalised(record)


def parse_id_spec(spec: str) -> list[str]:
    """Accessions of "10001-10005,10010" (an ``EMPIAR-`` prefix is optional); ValueError if bad."""
    ids: list[str] = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;]", spec))):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f"not an EMPIAR id or range: {part!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first or last - first >= MAX_RANGE:
            raise ValueError(f"bad EMPIAR id range {part!r} (at most {MAX_RANGE} ids, low to high)")
        ids.extend(f"EMPIAR-{n}" for n in range(first, last + 1))
    return ids


def read_ids_file(path: Path | str) -> list[str]:
    """Accessions listed in a file: one id or range per line, ``#`` starts a comment."""
    ids: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        ids.extend(parse_id_spec(line.split("#", 1)[0]))
    return ids


# -- local mirror -----------------------------------------------------------------------


class MirrorEmpiarHarvester(EmpiarHarvester):
    """Reads a folder of entry JSON files and XML headers (JSON wins for the same id)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.location = str(self.root.resolve())

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """One file per accession (content hashes decide what changed)."""
        if not self.root.is_dir():
            raise HarvestError("gather", f"EMPIAR mirror {self.root} is not a directory", str(self.root))
        chosen: dict[str, Path] = {}
        for path in _entry_files(self.root):
            accession = _file_accession(path)
            if accession not in chosen or _preference(path, accession) < _preference(chosen[accession], accession):
                chosen[accession] = path
        for accession, path in sorted(chosen.items()):
            yield RecordRef(source_url=path.resolve().as_uri(), hint=accession)

    def fetch(self, ref: RecordRef) -> RawRecord:
        """Read the file as it is; parsing waits for normalise."""
        path = Path(unquote(urlparse(ref.source_url).path))
        try:
            if path.stat().st_size > MAX_ENTRY_BYTES:
                raise HarvestError("fetch", f"{path.name} is larger than {MAX_ENTRY_BYTES} bytes", ref.source_url)
            payload = path.read_bytes()
        except OSError as exc:
            raise HarvestError("fetch", f"cannot read {path}: {exc.strerror or exc}", ref.source_url) from exc
        return RawRecord(ref, payload, path.suffix.lower().lstrip("."))


def _entry_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith((".json", ".xml")):
                yield Path(dirpath) / name


def _file_accession(path: Path) -> str:
    """The accession a file name gives, else (JSON) its content gives, else the file stem."""
    match = _MIRROR_NAME.match(path.stem)
    if match:
        return f"EMPIAR-{match.group(1)}"
    if path.suffix.lower() == ".json":
        try:
            data = orjson.loads(path.read_bytes()) if path.stat().st_size <= MAX_ENTRY_BYTES else None
        except (OSError, orjson.JSONDecodeError):
            data = None  # fetch and normalise will report it
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), dict):
            key, entry = next(iter(data.items()))
            return entry_accession(key, entry, None) or path.stem
    return path.stem


def _preference(path: Path, accession: str) -> tuple[bool, bool, str]:
    """Lower is better: JSON before XML, a file named by its accession, then path order."""
    named = as_accession(path.stem.split(".")[0]) == accession
    return path.suffix.lower() != ".json", not named, str(path)


# -- REST API ---------------------------------------------------------------------------


class ApiEmpiarHarvester(EmpiarHarvester):
    """Reads ``GET {base}/empiar/api/entry/EMPIAR-n/`` for ids from a range, a listing file
    or the BioStudies ``BioImages-EMPIAR`` collection."""

    def __init__(
        self,
        base_url: str,
        *,
        id_range: str | None = None,
        ids_file: str | None = None,
        biostudies_base: str | None = None,
        client: HttpClient | None = None,
        page_size: int = PAGE_SIZE,
    ):
        self.base = base_url.rstrip("/")
        self.id_range = id_range
        self.ids_file = ids_file
        self.biostudies_base = (biostudies_base or f"{self.base}/biostudies").rstrip("/")
        self.client = client or HttpClient()
        self.page_size = page_size
        # An id range names only part of EMPIAR: a full run must not delete the rest.
        self.complete_listing = not id_range
        listing = [p for p in (id_range, f"ids={ids_file}" if ids_file else None) if p] or [COLLECTION]
        self.location = f"{self.base}#{';'.join(listing)}"
        self._gaps_allowed: set[str] = set()

    def close(self) -> None:
        self.client.close()

    def entry_url(self, accession: str) -> str:
        """The API URL of one entry."""
        return f"{self.base}/empiar/api/entry/{quote(accession)}/"

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """Every configured id once; EMPIAR has no "modified since" filter."""
        seen: set[str] = set()
        for accession, in_range in self._ids():
            if accession in seen:
                continue
            seen.add(accession)
            if in_range:
                self._gaps_allowed.add(accession)
            yield RecordRef(source_url=self.entry_url(accession), hint=accession)

    def _ids(self) -> Iterator[tuple[str, bool]]:
        try:
            ranged = parse_id_spec(self.id_range) if self.id_range else []
            listed = read_ids_file(self.ids_file) if self.ids_file else []
        except ValueError as exc:
            raise HarvestError("gather", str(exc), self.ids_file or self.id_range) from exc
        except OSError as exc:
            raise HarvestError("gather", f"cannot read ids file: {exc.strerror or exc}", self.ids_file) from exc
        yield from ((a, True) for a in ranged)
        yield from ((a, False) for a in listed)
        if not self.id_range and not self.ids_file:
            yield from ((a, False) for a in self._collection())

    def _collection(self) -> Iterator[str]:
        """Accessions of the BioStudies collection search, page by page."""
        for accession in collection_accessions(self.client, self.biostudies_base, COLLECTION, self.page_size):
            if as_accession(accession):
                yield as_accession(accession)

    def fetch(self, ref: RecordRef) -> RawRecord:
        """GET the entry JSON; a 404 in a range is a skipped gap, a truncated body an error."""
        try:
            response = self.client.get(ref.source_url)
        except FetchError as exc:
            if exc.status == 404 and ref.hint in self._gaps_allowed:
                raise RecordSkipped(f"{ref.hint}: no such entry (a gap in the id range)") from exc
            if exc.status == 404:
                raise HarvestError("fetch", f"{ref.hint} is listed but not found (HTTP 404)", exc.url) from exc
            raise HarvestError("fetch", exc.message, exc.url) from exc
        payload = response.content
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise HarvestError("fetch", f"invalid or truncated JSON body ({len(payload)} bytes): {exc}", ref.source_url) from exc
        return RawRecord(ref, payload, "json")


def harvester_for(
    location: str,
    *,
    id_range: str | None = None,
    ids_file: str | None = None,
    client_factory: Callable[[], HttpClient] | None = None,
) -> Harvester:
    """An API harvester for an http(s) base URL (ids from ``id_range``, ``ids_file`` or the
    BioStudies collection), a mirror harvester for a folder."""
    if location.startswith(("http://", "https://")):
        client = client_factory() if client_factory else None
        return ApiEmpiarHarvester(location, id_range=id_range, ids_file=ids_file, client=client)
    if id_range or ids_file:
        raise ValueError("id_range and ids_file select ids of the EMPIAR API; a mirror harvests its whole folder")
    return MirrorEmpiarHarvester(location.removeprefix("file://"))
