"""The JCB DataViewer imports: PageTab submissions with ``S-JCBD`` accessions in the ``JCB``
sub-collection of BioImages. The archive parser does the work; this adds what is
JCB-specific: source ``jcb``, the journal article as the publication, and image-level
acquisition metadata from OME-XML companion files.
"""

from __future__ import annotations

from collections.abc import Callable

from harvesters.archive import JCB_PREFIX, ApiArchiveHarvester, MirrorArchiveHarvester
from harvesters.base import HarvestError
from harvesters.http import FetchError, HttpClient
from harvesters.identifiers import normalise_doi
from harvesters.ome_xml import OmeXmlError, parse_ome_xml
from harvesters.pagetab import Submission
from harvesters.records import Publication, Record

JOURNAL = "Journal of Cell Biology"
JCB_DOI_PREFIX = "10.1083/jcb."
COMPANION_SUFFIXES = (".ome.xml", ".companion.ome")
MAX_COMPANION_BYTES = 50 * 1024 * 1024


class JcbEnrichment:
    """JCB rules on top of an archive harvester (mixed in before it)."""

    name = "jcb"

    def accepts(self, accession: str) -> bool:
        """Only the JCB imports."""
        return accession.upper().startswith(JCB_PREFIX)

    def enrich(self, record: Record, submission: Submission, problems: list[HarvestError]) -> None:
        """Name the JCB article as the publication and read OME-XML companions."""
        _journal_article(record)
        for path in _companions(submission):
            try:
                with self.open_file(submission, path) as stream:
                    data = stream.read(MAX_COMPANION_BYTES + 1)
                if len(data) > MAX_COMPANION_BYTES:
                    raise OmeXmlError(f"larger than {MAX_COMPANION_BYTES} bytes")
                record.image_acquisitions.extend(parse_ome_xml(data))
            except (FileNotFoundError, FetchError, OmeXmlError) as exc:
                message = f"OME-XML companion {path!r}: {getattr(exc, 'message', exc)}"
                problems.append(HarvestError("companion", message, self.file_url(submission, path)))


def _journal_article(record: Record) -> None:
    """Every JCB import belongs to a JCB article: make sure it is the first publication."""
    for pub in record.publications:
        if pub.doi and pub.doi.lower().startswith(JCB_DOI_PREFIX) and not pub.journal:
            pub.journal = JOURNAL
    if any(p.journal == JOURNAL for p in record.publications):
        return
    dois = [link.value for link in record.links if link.type == "doi" and link.value.lower().startswith(JCB_DOI_PREFIX)]
    if dois:
        record.publications.insert(0, Publication(title=record.title, doi=normalise_doi(dois[0]), journal=JOURNAL))


def _companions(submission: Submission) -> list[str]:
    paths = []
    for section in submission.section.walk():
        for entry in section.files:
            if entry.path.lower().endswith(COMPANION_SUFFIXES):
                paths.append(entry.path)
    return paths


class MirrorJcbHarvester(JcbEnrichment, MirrorArchiveHarvester):
    """JCB imports from a local archive mirror."""

    def __init__(self, root):
        super().__init__(root, name="jcb")


class ApiJcbHarvester(JcbEnrichment, ApiArchiveHarvester):
    """JCB imports from the BioStudies API's JCB collection."""

    def __init__(self, base_url: str, collection: str = "JCB", client: HttpClient | None = None, page_size: int = 100):
        super().__init__(base_url, collection, client, page_size, name="jcb")


def harvester_for(location: str, collection: str = "JCB", client_factory: Callable[[], HttpClient] | None = None):
    """A mirror harvester for a path, an API harvester for an http(s) URL."""
    if location.startswith(("http://", "https://")):
        return ApiJcbHarvester(location, collection, client_factory() if client_factory else None)
    return MirrorJcbHarvester(location.removeprefix("file://"))
