"""The GIDE RO-Crate profile of a dataset: the ``ro-crate-metadata.json`` that BIA, IDR and
SSBD exchange (German-BioImaging/gide-data-deliverable), built from a Record.

The crate's root Dataset is the archive's landing page; authors are Person entities (ORCID
IRIs as their @id where known), organisms are ``obo:NCBITaxon_n`` Taxon entities referenced
from ``about`` (directly and through BioSample entities), imaging methods are
``obo:FBbi_n`` DefinedTerms referenced from ``measurementMethod`` (directly and through
LabProtocol entities), publications are ScholarlyArticles with DOI IRIs under ``citation``.
Local entity ids are stable (``#person-1``) rather than GIDE's random UUIDs.
"""

from __future__ import annotations

from harvesters.records import Record
from query.site import Site, archive

RO_CRATE = "https://w3id.org/ro/crate/1.2"
EXTENSION_CONTEXT = {
    "bia": "https://bioimage-archive.org/ro-crate/",
    "obo": "http://purl.obolibrary.org/obo/",
    "dwc": "http://rs.tdwg.org/dwc/terms/",
    "dwciri": "http://rs.tdwg.org/dwc/iri/",
    "bao": "http://www.bioassayontology.org/bao#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "vernacularName": {"@id": "dwc:vernacularName"},
    "scientificName": {"@id": "dwc:scientificName"},
    "hasCellLine": {"@id": "bao:BAO_0002004"},
    "measurementMethod": {"@id": "dwciri:measurementMethod"},
    "seeAlso": {"@id": "rdf:seeAlso"},
    "BioSample": {"@id": "http://schema.org/BioSample"},
    "LabProtocol": {"@id": "http://schema.org/LabProtocol"},
    "labEquipment": {"@id": "http://schema.org/labEquipment"},
}


def obo_id(curie: str) -> str:
    """NCBITaxon:9606 → obo:NCBITaxon_9606 (the GIDE crates' compact IRIs)."""
    return "obo:" + curie.replace(":", "_", 1)


def _ref(entity_id: str) -> dict:
    return {"@id": entity_id}


class _Graph:
    def __init__(self):
        self.nodes: dict[str, dict] = {}

    def add(self, node: dict) -> dict:
        self.nodes.setdefault(node["@id"], node)
        return _ref(node["@id"])


def gide_crate(record: Record, site: Site) -> dict:
    """The GIDE-profile RO-Crate metadata document of a record."""
    root_id = archive(record.source).landing_page(record.accession)
    graph = _Graph()
    graph.add({"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "conformsTo": _ref(RO_CRATE), "about": _ref(root_id)})
    root = {"@id": root_id, "@type": ["Dataset"]}
    graph.add(root)
    orgs = {name: graph.add({"@id": f"#organisation-{i}", "@type": ["Organization"], "name": name}) for i, name in enumerate(_org_names(record), 1)}
    root["author"] = [graph.add(_person(a, i, orgs)) for i, a in enumerate(record.authors, 1)]
    taxa = {o.taxon_id: graph.add(_taxon(o)) for o in record.organisms if o.taxon_id}
    samples = [graph.add(_biosample(b, i, taxa)) for i, b in enumerate(record.biosamples, 1)]
    methods = {m.fbbi_id: graph.add({"@id": obo_id(m.fbbi_id), "@type": ["DefinedTerm"], "name": m.name}) for m in record.imaging_methods if m.fbbi_id}
    protocols = [graph.add(_protocol(a, i, methods)) for i, a in enumerate(record.image_acquisitions, 1)]
    publisher = archive(record.source)
    root.update(
        {
            "identifier": record.accession,
            "name": record.title,
            "description": record.description or "",
            "datePublished": record.release_date,
            "license": record.license.url or record.license.name if record.license else None,
            "keywords": record.keywords,
            "about": samples + list(taxa.values()),
            "measurementMethod": protocols + list(methods.values()),
            "citation": [graph.add(_article(p)) for p in record.publications if p.doi],
            "funder": [],
            "publisher": graph.add({"@id": publisher.url or publisher.name, "@type": ["Organization"], "name": publisher.name}),
            "url": site.dataset_page(record.accession),
            "size": _sizes(record, graph),
        }
    )
    if record.doi:
        root["sameAs"] = f"https://doi.org/{record.doi}"
    for key in [k for k, v in root.items() if v is None]:
        del root[key]
    return {"@context": [f"{RO_CRATE}/context", EXTENSION_CONTEXT], "@graph": list(graph.nodes.values())}


def _org_names(record: Record) -> list[str]:
    names = [o.name for o in record.organisations] + [a for author in record.authors for a in author.affiliations]
    return list(dict.fromkeys(names))


def _person(author, index: int, orgs: dict[str, dict]) -> dict:
    person = {
        "@id": f"https://orcid.org/{author.orcid}" if author.orcid else f"#person-{index}",
        "@type": ["Person"],
        "name": author.name,
        "affiliation": [orgs[a] for a in author.affiliations if a in orgs],
    }
    if author.email:
        person["email"] = author.email
    return person


def _taxon(org) -> dict:
    node = {"@id": obo_id(org.taxon_id), "@type": ["Taxon"], "scientificName": org.name}
    if org.common_name:
        node["vernacularName"] = org.common_name
    return node


def _biosample(sample, index: int, taxa: dict[str, dict]) -> dict:
    ranges = [taxa[o.taxon_id] for o in sample.organisms if o.taxon_id in taxa]
    node = {"@id": f"#biosample-{index}", "@type": ["BioSample"], "name": sample.title or f"Biosample {index}", "taxonomicRange": ranges}
    if sample.description or sample.biological_entity:
        node["description"] = sample.description or sample.biological_entity
    return node


def _protocol(acquisition, index: int, methods: dict[str, dict]) -> dict:
    node = {
        "@id": f"#image-acquisition-{index}",
        "@type": ["LabProtocol"],
        "name": acquisition.title or f"Image acquisition {index}",
        "measurementTechnique": [methods[m.fbbi_id] for m in acquisition.imaging_methods if m.fbbi_id in methods],
    }
    if acquisition.parameters:
        node["description"] = acquisition.parameters
    if acquisition.instrument:
        node["labEquipment"] = acquisition.instrument
    return node


def _article(pub) -> dict:
    node = {"@id": f"https://doi.org/{pub.doi}", "@type": ["ScholarlyArticle"]}
    if pub.title:
        node["name"] = pub.title
    if pub.year:
        node["datePublished"] = str(pub.year)
    return node


def _sizes(record: Record, graph: _Graph) -> list[dict]:
    if not record.file_count:
        return []
    return [
        graph.add({"@id": "#size-bytes", "@type": ["QuantitativeValue"], "unitCode": "http://purl.obolibrary.org/obo/UO_0000233", "unitText": "bytes", "value": record.total_size_bytes}),
        graph.add({"@id": "#size-files", "@type": ["QuantitativeValue"], "unitCode": "http://purl.obolibrary.org/obo/UO_0000189", "unitText": "file count", "value": record.file_count}),
    ]
