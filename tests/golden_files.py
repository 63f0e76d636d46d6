"""Shared by the golden-file and RO-Crate tests: writing golden files on request, and
reading what a schema.org RO-Crate says of a dataset."""

from __future__ import annotations

from pathlib import Path

import orjson


def write_golden(records: dict[str, dict], directory: Path) -> None:
    """Rewrite ``<accession>.json`` for every record (only when REGEN_GOLDEN asks for it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for accession, record in records.items():
        (directory / f"{accession}.json").write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")


def crate_summary(crate: dict, accession: str) -> dict:
    """What GIDE and we must agree on, read the same way from either crate."""
    graph = crate["@graph"]
    dataset = next(n for n in graph if n.get("identifier") == accession)

    def obo_ids(key: str, prefix: str) -> set[str]:
        refs = dataset.get(key, [])
        refs = refs if isinstance(refs, list) else [refs]
        return {r["@id"].removeprefix("obo:").replace("_", ":", 1) for r in refs if r["@id"].startswith(f"obo:{prefix}_")}

    return {
        "name": " ".join(dataset["name"].split()),
        "date": dataset.get("datePublished"),
        "license": dataset.get("license"),
        "citations": {c["@id"].removeprefix("https://doi.org/").lower() for c in dataset.get("citation", [])},
        "taxa": obo_ids("about", "NCBITaxon"),
        "methods": obo_ids("measurementMethod", "FBbi"),
    }
