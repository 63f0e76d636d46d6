"""The unified dataset record every harvester produces.

One typed model for BIA, EMPIAR, IDR and JCB datasets, close to REMBI (study, biosample,
specimen, image acquisition, study component) and to schema.org ``Dataset``. Harvesters
build it; the indexer and the query layer read it. Validators keep identifiers in one
canonical shape (CURIEs for ontology terms, bare ORCID iDs, lower-case DOIs) so that no
consumer has to repair them again.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timezone
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

Source = Literal["bia", "empiar", "idr", "jcb"]
SOURCES: tuple[str, ...] = ("bia", "empiar", "idr", "jcb")
LinkType = Literal["doi", "empiar", "emdb", "idr", "biostudies", "pubmed", "pmc", "ena", "url"]

TAXON_CURIE = re.compile(r"^NCBITaxon:\d+$")
FBBI_CURIE = re.compile(r"^FBbi:\d{8}$")
ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Organisation(_Model):
    """A research organisation an author is affiliated with."""

    name: str
    ror_id: str | None = None
    address: str | None = None


class Author(_Model):
    """A person credited on the dataset; affiliations are organisation names."""

    name: str
    orcid: str | None = None
    email: str | None = None
    affiliations: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)

    @field_validator("orcid")
    @classmethod
    def _orcid_shape(cls, value: str | None) -> str | None:
        if value is not None and not ORCID.match(value):
            raise ValueError(f"ORCID iD must look like 0000-0002-1825-0097, got {value!r}")
        return value


class Publication(_Model):
    """A publication describing or using the dataset."""

    title: str | None = None
    authors: str | None = None
    doi: str | None = None
    pubmed_id: str | None = None
    pmc_id: str | None = None
    year: int | None = None
    journal: str | None = None


class License(_Model):
    """A licence under one canonical name and URL."""

    name: str
    url: str | None = None


class Organism(_Model):
    """An organism; ``taxon_id`` is an NCBITaxon CURIE when the name could be resolved."""

    name: str
    taxon_id: str | None = None
    common_name: str | None = None

    @field_validator("taxon_id")
    @classmethod
    def _taxon_shape(cls, value: str | None) -> str | None:
        if value is not None and not TAXON_CURIE.match(value):
            raise ValueError(f"taxon_id must be a CURIE like NCBITaxon:9606, got {value!r}")
        return value


class ImagingMethod(_Model):
    """An imaging method; ``fbbi_id`` is an FBbi CURIE when the name could be resolved."""

    name: str
    fbbi_id: str | None = None

    @field_validator("fbbi_id")
    @classmethod
    def _fbbi_shape(cls, value: str | None) -> str | None:
        if value is not None and not FBBI_CURIE.match(value):
            raise ValueError(f"fbbi_id must be a CURIE like FBbi:00000251, got {value!r}")
        return value


class Biosample(_Model):
    """REMBI biosample: what was imaged, before preparation."""

    title: str | None = None
    description: str | None = None
    organisms: list[Organism] = Field(default_factory=list)
    biological_entity: str | None = None
    intrinsic_variables: list[str] = Field(default_factory=list)
    extrinsic_variables: list[str] = Field(default_factory=list)
    experimental_variables: list[str] = Field(default_factory=list)


class Specimen(_Model):
    """REMBI specimen: how the biosample was prepared for imaging."""

    title: str | None = None
    preparation_protocol: str | None = None
    growth_protocol: str | None = None


class Channel(_Model):
    """One acquisition channel (from OME-XML companions)."""

    name: str | None = None
    fluor: str | None = None
    excitation_nm: float | None = None
    emission_nm: float | None = None


class ImageAcquisition(_Model):
    """REMBI image acquisition: instrument, method and parameters; the image-level fields
    (objective, channels, physical pixel size in micrometres) come from OME-XML where present."""

    title: str | None = None
    imaging_methods: list[ImagingMethod] = Field(default_factory=list)
    instrument: str | None = None
    parameters: str | None = None
    objective: str | None = None
    channels: list[Channel] = Field(default_factory=list)
    pixel_size_um: dict[str, float] = Field(default_factory=dict)


class StudyComponent(_Model):
    """A part of the study with its own file list (a screen, an experiment, an imageset)."""

    name: str | None = None
    description: str | None = None
    kind: str | None = None
    file_list: str | None = None
    file_count: int = 0
    total_size_bytes: int = 0
    file_formats: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class Link(_Model):
    """A typed cross-reference: ``value`` is the identifier (DOI, EMPIAR-n…) or the URL."""

    type: LinkType
    value: str
    url: str | None = None
    description: str | None = None


class Provenance(_Model):
    """Where and when a record was harvested, and a hash of its raw payload."""

    source_url: str
    harvested_at: str
    content_hash: str
    raw_format: str | None = None


class Record(_Model):
    """One dataset from any source, normalised."""

    accession: str
    source: Source
    title: str
    description: str | None = None
    release_date: str | None = None
    modified: str | None = None
    doi: str | None = None
    keywords: list[str] = Field(default_factory=list)
    authors: list[Author] = Field(default_factory=list)
    organisations: list[Organisation] = Field(default_factory=list)
    publications: list[Publication] = Field(default_factory=list)
    license: License | None = None
    organisms: list[Organism] = Field(default_factory=list)
    imaging_methods: list[ImagingMethod] = Field(default_factory=list)
    study_type: list[str] = Field(default_factory=list)
    biosamples: list[Biosample] = Field(default_factory=list)
    specimens: list[Specimen] = Field(default_factory=list)
    image_acquisitions: list[ImageAcquisition] = Field(default_factory=list)
    study_components: list[StudyComponent] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    funding: list[str] = Field(default_factory=list)
    file_count: int = 0
    total_size_bytes: int = 0
    file_formats: list[str] = Field(default_factory=list)
    provenance: Provenance | None = None

    @field_validator("accession")
    @classmethod
    def _accession_shape(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(f"accession must be a non-empty token, got {value!r}")
        return value

    @field_validator("title")
    @classmethod
    def _title_present(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("title must not be empty")
        return value

    @field_validator("release_date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            if not ISO_DATE.match(value):
                raise ValueError(f"release_date must be YYYY-MM-DD, got {value!r}")
            date.fromisoformat(value)
        return value

    def to_json(self) -> bytes:
        """Serialise to compact JSON (orjson), omitting nothing."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, payload: bytes | str) -> "Record":
        """Parse a record written by :meth:`to_json`."""
        return cls.model_validate(orjson.loads(payload))

    def content_fingerprint(self) -> str:
        """SHA-256 of the record without provenance and source modification time: equal iff
        what a reader of the record would see is equal."""
        body = self.model_dump(mode="json", exclude={"provenance", "modified"})
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class FileRow(_Model):
    """One file of a dataset, kept in the record store for file-level search."""

    accession: str
    path: str
    size: int | None = None
    format: str | None = None
    component: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)


def utc_now() -> str:
    """The current time as an RFC 3339 UTC string with second precision."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_hex(payload: bytes) -> str:
    """Hex SHA-256 of raw bytes (the content hash of a fetched payload)."""
    return hashlib.sha256(payload).hexdigest()
