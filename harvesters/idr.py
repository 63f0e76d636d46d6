"""The IDR (Image Data Resource) harvesters: study files from a local mirror or a web folder,
or the IDR JSON API. Every one produces ``Record(source="idr", accession="idr0001", …)``.

- :class:`MirrorIdrHarvester` reads ``*-study.txt`` files under a folder, flat
  (``idr0001-study.txt``) or in the idr-metadata layout (``idr0001-graml-sysgro/idr0001-study.txt``,
  with ``screenA/…`` library and annotation files beside it, which are ignored).
- :class:`HttpStudyFilesIdrHarvester` reads the same files under a base URL, listed by the
  configured study ids or by the study-file links of the page at the base URL.
- :class:`~harvesters.idr_api.ApiIdrHarvester` reads the OMERO JSON API and map annotations.

The accession is the one the file states (``Comment[IDR Study Accession]``, present in every
real file); the file or folder name is used only when the file states none. Parsing is in
:mod:`harvesters.idr_study`, the mapping onto Record in :mod:`harvesters.idr_records`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from harvesters.base import Harvester, HarvestError, RawRecord, RecordRef
from harvesters.http import FetchError, HttpClient
from harvesters.idr_api import ApiIdrHarvester
from harvesters.idr_records import STUDY_FORMAT, IdrHarvester
from harvesters.idr_study import accession_in_name

__all__ = ["ApiIdrHarvester", "HttpStudyFilesIdrHarvester", "IdrHarvester", "MirrorIdrHarvester", "harvester_for"]

STUDY_FILE = re.compile(r"study\.txt$", re.I)
_LINKED_STUDY_FILE = re.compile(r"""[^\s"'<>=]*idr\d{4}[^\s"'<>]*?study\.txt""", re.I)


def _wanted(study_ids: list[str] | None) -> set[str] | None:
    return {accession_in_name(s) or s for s in study_ids} if study_ids else None


class MirrorIdrHarvester(IdrHarvester):
    """Reads study files under a local folder, flat or in the idr-metadata layout."""

    def __init__(self, root: Path | str, study_ids: list[str] | None = None):
        self.root = Path(root)
        self.location = str(self.root.resolve())
        self.study_ids = _wanted(study_ids)

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """Every study file under the root (content hashes decide what changed)."""
        if not self.root.is_dir():
            raise HarvestError("gather", f"IDR mirror {self.root} is not a directory", str(self.root))
        for path in sorted(_study_files(self.root)):
            hint = accession_in_name(path.name) or accession_in_name(path.parent.name)
            if self.study_ids is None or hint in self.study_ids:
                yield RecordRef(source_url=path.resolve().as_uri(), hint=hint)

    def fetch(self, ref: RecordRef) -> RawRecord:
        """Read the study file's bytes (decoding happens in normalise)."""
        path = Path(unquote(urlparse(ref.source_url).path))
        try:
            return RawRecord(ref, path.read_bytes(), STUDY_FORMAT)
        except OSError as exc:
            raise HarvestError("fetch", f"cannot read {path}: {exc.strerror}", ref.source_url) from exc


def _study_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if STUDY_FILE.search(name) and not name.startswith("."):
                yield Path(dirpath) / name


class HttpStudyFilesIdrHarvester(IdrHarvester):
    """Reads study files served under a base URL.

    With ``study_ids``, each id names a file: ``idr0001`` -> ``{base}/idr0001-study.txt``;
    ``idr0001-graml-sysgro`` (an idr-metadata folder name) ->
    ``{base}/idr0001-graml-sysgro/idr0001-study.txt``; a relative path ending in ``.txt`` is
    used as it is. Without ids, the page at the base URL (an HTML index or a plain list) is
    read for links to ``…idrNNNN…study.txt`` files.
    """

    def __init__(self, base_url: str, study_ids: list[str] | None = None, client: HttpClient | None = None):
        self.base = base_url.rstrip("/") + "/"
        self.location = self.base
        self.study_ids = list(study_ids or [])
        self.client = client or HttpClient()

    def close(self) -> None:
        self.client.close()

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """The configured study files, or those linked from the index page."""
        urls = [self._url_for(s) for s in self.study_ids] if self.study_ids else self._linked()
        for url in urls:
            parts = urlparse(url).path.rstrip("/").split("/")
            yield RecordRef(source_url=url, hint=accession_in_name(parts[-1]) or accession_in_name(parts[-2] if len(parts) > 1 else ""))

    def _url_for(self, study_id: str) -> str:
        study_id = study_id.strip().strip("/")
        if study_id.lower().endswith(".txt"):
            return urljoin(self.base, study_id)
        accession = accession_in_name(study_id) or study_id
        if study_id.lower() == accession:
            return urljoin(self.base, f"{accession}-study.txt")
        return urljoin(self.base, f"{study_id}/{accession}-study.txt")

    def _linked(self) -> list[str]:
        try:
            page = self.client.get(self.base).text
        except FetchError as exc:
            raise HarvestError("gather", exc.message, exc.url) from exc
        found = (urljoin(self.base, match.group(0)) for match in _LINKED_STUDY_FILE.finditer(page))
        return list(dict.fromkeys(found))

    def fetch(self, ref: RecordRef) -> RawRecord:
        """GET the study file's bytes."""
        try:
            response = self.client.get(ref.source_url)
        except FetchError as exc:
            raise HarvestError("fetch", exc.message, exc.url) from exc
        return RawRecord(ref, response.content, STUDY_FORMAT)


def harvester_for(
    location: str, *, study_ids: list[str] | None = None, client_factory: Callable[[], HttpClient] | None = None
) -> Harvester:
    """The IDR harvester for a location.

    An http(s) URL that is a site root (no path: ``https://idr.openmicroscopy.org/``) is an
    IDR server, read through its JSON API; an http(s) URL with a path is a folder of study
    files (``https://raw.githubusercontent.com/IDR/idr-metadata/master/``); anything else is
    a local mirror folder. ``study_ids`` restricts any of them to those studies.
    """
    if location.startswith(("http://", "https://")):
        client = client_factory() if client_factory else None
        if urlparse(location).path in ("", "/"):
            return ApiIdrHarvester(location, client, study_ids=study_ids)
        return HttpStudyFilesIdrHarvester(location, study_ids, client)
    return MirrorIdrHarvester(location.removeprefix("file://"), study_ids)
