"""OAI-PMH sets: one per source (``source:empiar``) and one per facet value worth harvesting
(``organism:NCBITaxon_9606``, ``imaging_method:FBbi_00000251``, ``license:CC-BY-4.0``).

Sets are hierarchical as OAI-PMH intends: ``organism`` holds every record with an NCBITaxon
organism. Membership is computed from the record itself, so a deleted record (whose last
version the store keeps) is reported in the sets it belonged to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harvesters.records import Record
from indexer.documents import SOURCE_LABELS

FAMILIES = {"source": "Resource", "organism": "Organism", "imaging_method": "Imaging method", "license": "Licence"}
SET_SPEC = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9\-_.!~*'()]+")


@dataclass(frozen=True)
class OaiSet:
    """A set as ListSets shows it."""

    spec: str
    name: str


def slug(text: str) -> str:
    """A set-spec-safe form of a free-text value ("CC BY 4.0" → "CC-BY-4.0")."""
    return _UNSAFE.sub("-", text).strip("-")


def curie_spec(curie: str) -> str:
    """An ontology CURIE as a set-spec part ("NCBITaxon:9606" → "NCBITaxon_9606")."""
    return curie.replace(":", "_", 1)


def record_sets(record: Record) -> list[str]:
    """The leaf sets a record belongs to, in a stable order."""
    specs = [f"source:{record.source}"]
    specs += sorted({f"organism:{curie_spec(o.taxon_id)}" for o in record.organisms if o.taxon_id})
    specs += sorted({f"imaging_method:{curie_spec(m.fbbi_id)}" for m in record.imaging_methods if m.fbbi_id})
    if record.license and slug(record.license.name):
        specs.append(f"license:{slug(record.license.name)}")
    return specs


def valid_spec(spec: str) -> bool:
    """Whether ``spec`` has the setSpec syntax of the OAI-PMH schema."""
    return bool(SET_SPEC.match(spec))


def in_set(record: Record | None, source: str, spec: str) -> bool:
    """Whether a record (of ``source``; None when its body is unknown) is in set ``spec``."""
    if spec == "source" or spec == f"source:{source}":
        return True
    if record is None:
        return False
    leaves = record_sets(record)
    return spec in leaves or any(leaf.startswith(spec + ":") for leaf in leaves)


def source_of(spec: str) -> str | None:
    """The source a ``source:<name>`` set restricts to (lets the store filter), else None."""
    family, _, rest = spec.partition(":")
    return rest if family == "source" and rest else None


def list_sets(source_counts: dict[str, int], facets: list[dict], min_records: int) -> list[OaiSet]:
    """Every set: the four families, each source with records, and each organism, imaging
    method and licence with at least ``min_records`` live records (``facets`` are the search
    service's facet buckets: ``{name, buckets: [{key, label, count}]}``)."""
    sets = [OaiSet(family, title) for family, title in FAMILIES.items()]
    sets += [OaiSet(f"source:{s}", f"Resource: {SOURCE_LABELS.get(s, s)}") for s, n in sorted(source_counts.items()) if n]
    wanted = {"organism": "NCBITaxon:", "imaging_method": "FBbi:", "license": ""}
    for facet in facets:
        prefix = wanted.get(facet["name"])
        if prefix is None:
            continue
        for bucket in sorted(facet["buckets"], key=lambda b: b["key"]):
            key = bucket["key"]
            if bucket["count"] < min_records or not key.startswith(prefix):
                continue
            part = slug(key) if facet["name"] == "license" else curie_spec(key)
            if part:
                sets.append(OaiSet(f"{facet['name']}:{part}", f"{FAMILIES[facet['name']]}: {bucket['label']}"))
    return sets
