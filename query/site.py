"""Where things live: our own public URLs, and each source archive's name and landing page.

Flask-free: the web layer builds a :class:`Site` from the configured public base URL (or the
request's), the dump command from the configuration alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Archive:
    """A source archive as a schema.org DataCatalog, with its dataset landing pages."""

    name: str
    url: str
    landing: str  # format string with {acc}

    def landing_page(self, accession: str) -> str:
        """The archive's own page for one of its datasets."""
        return self.landing.format(acc=quote(accession))


ARCHIVES: dict[str, Archive] = {
    "bia": Archive("BioImage Archive", "https://www.ebi.ac.uk/bioimage-archive/", "https://www.ebi.ac.uk/biostudies/bioimages/studies/{acc}"),
    "empiar": Archive("EMPIAR", "https://www.ebi.ac.uk/empiar/", "https://www.ebi.ac.uk/empiar/{acc}/"),
    "idr": Archive("Image Data Resource", "https://idr.openmicroscopy.org/", "https://idr.openmicroscopy.org/search/?query=Name:{acc}"),
    "jcb": Archive("JCB DataViewer", "https://jcb-dataviewer.rupress.org/", "https://www.ebi.ac.uk/biostudies/JCB/studies/{acc}"),
}


def archive(source: str) -> Archive:
    """The archive of a source (a generic one for a source added later)."""
    return ARCHIVES.get(source) or Archive(source, "", "{acc}")


@dataclass(frozen=True)
class Site:
    """Our public URLs under ``base_url`` (no trailing slash; empty gives relative URLs)."""

    base_url: str = ""

    def __post_init__(self):
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def url(self, path: str) -> str:
        """An absolute URL for a path starting with ``/``."""
        return f"{self.base_url}{path}"

    def dataset_page(self, accession: str) -> str:
        """The portal's page of a dataset."""
        return self.url(f"/datasets/{quote(accession)}")

    def dataset_api(self, accession: str) -> str:
        """The JSON API record of a dataset."""
        return self.url(f"/api/v1/datasets/{quote(accession)}")
