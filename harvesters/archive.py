"""The archive-store harvester: BioStudies PageTab submissions from a local mirror laid out
like the BioStudies FTP (``…/{acc}/{acc}.json|.xml|.tsv`` with file lists beside them or
under ``Files/``; a flat folder of PageTab files works too) or from the BioStudies HTTP API
(``/api/v1/{collection}/search`` for the listing, ``/api/v1/studies/{acc}`` and ``/info``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlparse

from harvesters.biostudies_listing import collection_accessions
from harvesters.base import Harvester, HarvestError, Normalised, RawRecord, RecordRef, RecordSkipped
from harvesters.file_formats import file_format
from harvesters.http import FetchError, HttpClient
from harvesters.pagetab import FileEntry, PageTabError, Submission, file_list_format, iter_file_list, parse_submission
from harvesters.pagetab_records import normalise_date, submission_to_record
from harvesters.records import FileRow, Provenance, Record, utc_now

SUBMISSION_EXTENSIONS = (".json", ".xml", ".tsv")
PAGE_SIZE = 100


JCB_PREFIX = "S-JCBD"


class ArchiveHarvester(Harvester):
    """Shared normalise stage; subclasses gather and fetch from a mirror or the API.

    The archive store also holds the imported JCB DataViewer studies (``S-JCBD``
    accessions); they belong to the ``jcb`` source, so this harvester skips them.
    """

    name = "bia"

    def accepts(self, accession: str) -> bool:
        """Whether a record with this accession belongs to this harvester's source."""
        return not accession.upper().startswith(JCB_PREFIX)

    def enrich(self, record: Record, submission: Submission, problems: list[HarvestError]) -> None:
        """Source-specific additions after the common PageTab mapping (none for BIA)."""

    def _parse(self, raw: RawRecord) -> Submission:
        try:
            return parse_submission(raw.payload, raw.format)
        except PageTabError as exc:
            raise HarvestError("normalise", f"invalid PageTab: {exc}", raw.ref.source_url) from exc

    def normalise(self, raw: RawRecord) -> Normalised:
        """Parse the PageTab payload and map it onto a Record; file rows stream later."""
        submission = self._parse(raw)
        if not self.accepts(submission.accno):
            raise RecordSkipped(f"{submission.accno} belongs to another source")
        try:
            record = submission_to_record(submission, self.name)
        except ValueError as exc:  # pydantic validation: no title, bad accession…
            raise HarvestError("normalise", _first_line(exc), raw.ref.source_url) from exc
        record.release_date = record.release_date or raw.released
        record.modified = raw.modified
        record.provenance = Provenance(
            source_url=raw.ref.source_url,
            harvested_at=utc_now(),
            content_hash=raw.content_hash,
            raw_format=raw.format,
        )
        normalised = Normalised(record)
        self.enrich(record, submission, normalised.problems)
        normalised.files = lambda: self._file_rows(submission, record, normalised.problems)
        return normalised

    def _file_rows(self, submission: Submission, record: Record, problems: list) -> Iterator[FileRow]:
        """Direct section files, then every file list, counted per study component."""
        stats = {c.file_list: c for c in record.study_components if c.file_list}
        for section in submission.section.walk():
            for entry in section.files:
                yield _file_row(record.accession, entry, section.value("Name", "Title") or section.type)
        for name, component in stats.items():
            try:
                with self.open_file(submission, name) as stream:
                    fmt = file_list_format(name)
                    formats: dict[str, int] = {}
                    for entry in iter_file_list(stream, fmt):
                        row = _file_row(record.accession, entry, component.name)
                        component.file_count += 1
                        component.total_size_bytes += row.size or 0
                        if row.format:
                            formats[row.format] = formats.get(row.format, 0) + 1
                        yield row
                    component.file_formats = sorted(formats, key=lambda f: (-formats[f], f))
            except (FileNotFoundError, FetchError, PageTabError) as exc:
                problems.append(HarvestError("files", f"file list {name!r}: {getattr(exc, 'message', exc)}", self.file_url(submission, name)))

    def open_file(self, submission: Submission, name: str) -> BinaryIO:
        """Open one of the submission's files (a file list, a companion) for streaming, as a
        context manager; FileNotFoundError / FetchError if missing."""
        raise NotImplementedError

    def file_url(self, submission: Submission, name: str) -> str:
        """Where a submission's file is read from (for error rows)."""
        raise NotImplementedError


def _file_row(accession: str, entry: FileEntry, component: str | None) -> FileRow:
    attrs: dict[str, str] = {}
    for attr in entry.attributes:
        if attr.value is not None:
            attrs.setdefault(attr.name, attr.value)
    fmt = file_format(entry.path) or ("Directory" if entry.type == "directory" else None)
    return FileRow(accession=accession, path=entry.path, size=entry.size, format=fmt, component=component, attributes=attrs)


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[:3])


# -- local mirror -----------------------------------------------------------------------


class MirrorArchiveHarvester(ArchiveHarvester):
    """Reads a local folder: FTP-like ``{acc}/{acc}.ext`` folders, or flat PageTab files."""

    def __init__(self, root: Path | str, name: str = "bia"):
        self.name = name
        self.root = Path(root)
        self.location = str(self.root.resolve())
        self._dirs: dict[str, Path] = {}

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """Every submission file under the root (content hashes decide what changed)."""
        if not self.root.is_dir():
            raise HarvestError("gather", f"archive mirror {self.root} is not a directory", str(self.root))
        for path in sorted(_submission_files(self.root)):
            hint = path.parent.name if path.stem == path.parent.name else path.name.split(".")[0]
            yield RecordRef(source_url=path.resolve().as_uri(), hint=hint)

    def fetch(self, ref: RecordRef) -> RawRecord:
        """Read the submission file and fingerprint the file lists it names."""
        path = Path(unquote(urlparse(ref.source_url).path))
        try:
            payload = path.read_bytes()
        except OSError as exc:
            raise HarvestError("fetch", f"cannot read {path}: {exc.strerror}", ref.source_url) from exc
        raw = RawRecord(ref, payload, _format_of(path), modified=None)
        submission = self._parse(raw)
        self._dirs[submission.accno] = path.parent
        raw.extra_hash = self._file_lists_fingerprint(submission)
        return raw

    def _file_lists_fingerprint(self, submission: Submission) -> str:
        digest = hashlib.sha256()
        for section in submission.section.walk():
            for name in section.values("File List"):
                path = self._find_file(submission, name)
                stat = path.stat() if path else None
                digest.update(f"{name}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1};".encode())
        return digest.hexdigest()

    def _find_file(self, submission: Submission, name: str) -> Path | None:
        base = self._dirs.get(submission.accno, self.root)
        for candidate in (base / "Files" / name, base / name):
            if candidate.is_file():
                return candidate
        return None

    def open_file(self, submission: Submission, name: str) -> BinaryIO:
        path = self._find_file(submission, name)
        if path is None:
            raise FileNotFoundError(f"not found beside {self._dirs.get(submission.accno, self.root)}")
        return path.open("rb")

    def file_url(self, submission: Submission, name: str) -> str:
        path = self._find_file(submission, name)
        base = self._dirs.get(submission.accno, self.root)
        return (path or base / name).resolve().as_uri()


def _format_of(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _submission_files(root: Path) -> Iterator[Path]:
    """Submission files: ``D/D.ext`` in FTP-like folders, else PageTab files in flat folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        own = [here / f"{here.name}{ext}" for ext in SUBMISSION_EXTENSIONS if f"{here.name}{ext}" in filenames]
        if own and here != root:
            yield own[0]  # json before xml before tsv: one submission per folder
            dirnames.clear()  # Files/ and other folders below hold file lists and data
            continue
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            if path.suffix.lower() in SUBMISSION_EXTENSIONS and _looks_like_submission(path):
                yield path


def _looks_like_submission(path: Path) -> bool:
    """Tell a submission from a file list sharing its folder, by its first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return True  # let fetch report the read error
    if path.suffix.lower() == ".json":
        return not head.startswith(b"[")
    if path.suffix.lower() == ".xml":
        return b"<submission" in head or b"<pmdocument" in head
    for line in head.splitlines():
        if line.strip() and not line.lstrip().startswith(b"#"):
            return line.split(b"\t", 1)[0].strip().lower() == b"submission"
    return False


# -- HTTP API -----------------------------------------------------------------------------


class ApiArchiveHarvester(ArchiveHarvester):
    """Reads the BioStudies API: a collection's search listing, then each study and its info."""

    def __init__(
        self,
        base_url: str,
        collection: str = "BioImages",
        client: HttpClient | None = None,
        page_size: int = PAGE_SIZE,
        name: str = "bia",
    ):
        self.name = name
        self.base = base_url.rstrip("/")
        self.collection = collection
        self.location = f"{self.base}#{collection}"
        self.client = client or HttpClient()
        self.page_size = page_size
        self._http_links: dict[str, str] = {}
        self._infos: dict[str, dict] = {}

    def close(self) -> None:
        self.client.close()

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """Page through the collection search; each hit's /info gives its modification time."""
        for accession in self._listing():
            info_url = f"{self.base}/api/v1/studies/{quote(accession)}/info"
            modified = None
            try:
                info = self.client.get_json(info_url)
            except FetchError:
                info = None  # fetch will try again and report
            if isinstance(info, dict):
                self._remember_info(accession, info)
                modified = _epoch_ms_to_iso(info.get("modified"))
            yield RecordRef(source_url=f"{self.base}/api/v1/studies/{quote(accession)}", hint=accession, modified=modified)

    def _listing(self) -> Iterator[str]:
        return collection_accessions(self.client, self.base, self.collection, self.page_size)

    def fetch(self, ref: RecordRef) -> RawRecord:
        """GET the study's PageTab JSON (and its /info if gather could not)."""
        try:
            response = self.client.get(ref.source_url)
        except FetchError as exc:
            raise HarvestError("fetch", exc.message, exc.url) from exc
        info = self._info(ref)
        return RawRecord(
            ref,
            response.content,
            "json",
            modified=ref.modified or _epoch_ms_to_iso(info.get("modified")),
            released=normalise_date(str(info.get("released"))) if info.get("released") else None,
            extra_hash=ref.modified or "",
        )

    def _info(self, ref: RecordRef) -> dict:
        if ref.hint in self._infos:
            return self._infos.pop(ref.hint)
        try:
            info = self.client.get_json(ref.source_url + "/info")
        except FetchError:
            return {}
        if not isinstance(info, dict):
            return {}
        if ref.hint:
            self._remember_info(ref.hint, info)
            self._infos.pop(ref.hint, None)
        return info

    def _remember_info(self, accession: str, info: dict) -> None:
        self._infos[accession] = info
        if info.get("httpLink"):
            self._http_links[accession] = str(info["httpLink"]).rstrip("/")

    def file_url(self, submission: Submission, name: str) -> str:
        base = self._http_links.get(submission.accno) or f"{self.base}/files/{quote(submission.accno)}"
        return f"{base}/Files/{quote(name)}"

    def open_file(self, submission: Submission, name: str) -> BinaryIO:
        response = self.client.get(self.file_url(submission, name), stream=True)
        response.raw.decode_content = True
        return _ClosingStream(response)


class _ClosingStream:
    """A context manager over a streamed response body that closes the response."""

    def __init__(self, response):
        self.response = response

    def __enter__(self) -> BinaryIO:
        return self.response.raw

    def __exit__(self, *exc_info) -> None:
        self.response.close()


def _epoch_ms_to_iso(value) -> str | None:
    if value is None or not str(value).isdigit():
        return None
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(value) / 1000, timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def harvester_for(location: str, collection: str = "BioImages", client_factory: Callable[[], HttpClient] | None = None) -> ArchiveHarvester:
    """A mirror harvester for a path, an API harvester for an http(s) URL."""
    if location.startswith(("http://", "https://")):
        return ApiArchiveHarvester(location, collection, client_factory() if client_factory else None)
    return MirrorArchiveHarvester(location.removeprefix("file://"))
