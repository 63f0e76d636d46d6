"""Organisms: a curated NCBI Taxonomy subset and cell lines mapped to their species.

``data/taxa.tsv`` holds ~270 taxa used in bioimaging (model organisms, lab and farm animals,
pathogens, emerging models, broad groups); ``data/cell_lines.tsv`` maps common cell lines to
the taxon they come from. :func:`normalise_organism` turns whatever a record gives (a name,
a name with a parenthesised common name, a taxon id in any form, a cell line) into an
:class:`~harvesters.records.Organism`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Iterator
from urllib.parse import unquote

from harvesters.records import Organism
from harvesters.vocab._text import clean_text, compact_key, fold, read_tsv, split_list, split_trailing_parenthesis

_PACKAGE = "harvesters.vocab"

_BARE_ID = re.compile(r"^0*([1-9]\d{0,8})$")
_PREFIXED_ID = re.compile(
    r"^(?:https?://purl\.obolibrary\.org/obo/|obo:|https?://identifiers\.org/)?"
    r"(?:ncbi[ _-]?taxon(?:omy)?|ncbi|taxon(?:omy)?|taxid|ncbi:txid|txid|tax[ _]?id)"
    r"\s*[:_/= ]?\s*0*([1-9]\d{0,8})$",
    re.I,
)
_URL_ID = re.compile(r"ncbi\.nlm\.nih\.gov/.*?(?:[?&](?:id|lvl0?)=|/taxonomy/)0*([1-9]\d{0,8})\b", re.I)
_ABBREVIATED = re.compile(r"^([A-Z])\.?\s+([a-z][a-z-]+)\b(.*)$")
_CELL_SUFFIX = re.compile(r"\s*\b(?:cells?|cell[ -]?lines?|cell[ -]?cultures?|line)\s*$", re.I)
_STRAIN_WORDS = frozenset(
    {"strain", "strains", "str", "substr", "wild", "wildtype", "wt", "ecotype", "cultivar", "cv",
     "isolate", "clone", "mutant", "mutants", "transgenic", "knockout", "line", "lines", "background"}
)
_NON_ORGANISMS = frozenset(
    compact_key(text)
    for text in (
        "bead", "beads", "microspheres", "simulated", "simulated data", "simulation", "synthetic",
        "synthetic data", "none", "not applicable", "n/a", "na", "n.a.", "unknown", "unspecified",
        "not specified", "not available", "no organism", "in silico", "phantom", "calibration slide",
        "calibration", "null", "nan", "-", "other", "test", "artificial", "computer generated",
        "dna origami", "mixed", "not relevant", "no", "empty",
    )
)
_NON_ORGANISM_PATTERN = re.compile(
    r"^(?:simulated|synthetic|in silico|computer[- ]generated|artificial|calibration)\b"
    r"|\b(?:beads?|microspheres?|microbeads?|phantoms?|calibration slides?)\b",
    re.I,
)


@dataclass(frozen=True)
class Taxon:
    """One taxon of the curated table; ``taxon_id`` is a CURIE such as ``NCBITaxon:9606``."""

    taxon_id: str
    scientific_name: str
    rank: str
    common_names: tuple[str, ...]
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class _Tables:
    taxa: dict[str, Taxon]
    names: dict[str, str]  # compact key -> taxon CURIE
    abbreviations: dict[tuple[str, str], tuple[str, ...]]  # (genus initial, epithet) -> CURIEs
    cell_lines: dict[str, str]  # compact key -> taxon CURIE


def normalise_taxon_id(text: object) -> str | None:
    """Return ``NCBITaxon:<n>`` for a taxon id in any common form, else ``None``.

    Accepts ``9606``, ``NCBITaxon:9606``, ``NCBITaxon_9606``, ``ncbitaxon:9606``,
    ``NCBI:txid9606``, ``txid9606``, ``taxon:9606``, ``obo:NCBITaxon_9606``, the OBO PURL,
    identifiers.org and NCBI Taxonomy Browser URLs. Leading zeros are dropped.
    """
    if isinstance(text, bool):
        return None
    value = clean_text(text)
    if not value:
        return None
    for pattern in (_BARE_ID, _PREFIXED_ID):
        match = pattern.match(value)
        if match:
            return f"NCBITaxon:{int(match.group(1))}"
    if "://" in value:
        match = _URL_ID.search(unquote(value))
        if match:
            return f"NCBITaxon:{int(match.group(1))}"
    return None


def taxon(curie: str) -> Taxon | None:
    """The table's taxon for an id in any form :func:`normalise_taxon_id` accepts."""
    normalised = normalise_taxon_id(curie)
    return _tables().taxa.get(normalised) if normalised else None


def all_taxa() -> tuple[Taxon, ...]:
    """Every taxon of the curated table, in file order."""
    return tuple(_tables().taxa.values())


def cell_lines() -> dict[str, str]:
    """Cell-line names and synonyms (as written in the table) mapped to taxon CURIEs."""
    result: dict[str, str] = {}
    for row in read_tsv(_PACKAGE, "data/cell_lines.tsv"):
        curie = normalise_taxon_id(row[2])
        for name in (row[0], *split_list(row[1])):
            result[name] = curie or ""
    return result


def is_non_organism(text: object) -> bool:
    """True for values that say there is no organism: beads, simulated or synthetic data,
    phantoms, calibration slides, ``none``/``N/A``/``unknown`` and empty text."""
    value = clean_text(text)
    if not value:
        return True
    return compact_key(value) in _NON_ORGANISMS or bool(_NON_ORGANISM_PATTERN.search(fold(value)))


def lookup_taxon(text: object) -> Taxon | None:
    """Resolve an organism name, common name, synonym, taxon id or cell line to a taxon.

    Case, spacing and punctuation are ignored. ``"Homo sapiens (human)"`` tries the main
    name, then the parenthesis; ``"HeLa cells"`` resolves through the cell-line table;
    strain suffixes (``"Mus musculus C57BL/6"``, ``"Saccharomyces cerevisiae BY4741"``)
    fall back to the species; ``"S. pombe"``-style abbreviations resolve when exactly one
    species of the table fits. Lower-case trinomials that are not listed
    (``"Homo sapiens sapiens"``) do not resolve.
    """
    value = clean_text(text)
    if not value or compact_key(value) in _NON_ORGANISMS:
        return None
    curie = normalise_taxon_id(value)
    if curie is not None:
        return _tables().taxa.get(curie)
    for candidate in _candidates(value):
        found = _match(candidate)
        if found is not None:
            return found
    return None


def normalise_organism(
    name: str | None = None, taxon_id: str | None = None, common_name: str | None = None
) -> Organism | None:
    """Normalise an organism from its name, taxon id and/or common name.

    A taxon id found in the table wins (scientific name and first common name from the
    table). A valid id not in the table is kept with the given name, cleaned (its common
    name taken from a trailing parenthesis). Otherwise the name, then the common name, are
    looked up. Unresolved real-looking names are kept with ``taxon_id=None``; non-organisms
    (beads, simulated data, N/A) and empty input give ``None``.
    """
    tables = _tables()
    curie = normalise_taxon_id(taxon_id)
    main, paren = _split_name(name)
    common = clean_text(common_name) or paren or None
    if curie is not None and curie in tables.taxa:
        return _from_taxon(tables.taxa[curie], common)
    if curie is not None:
        return Organism(name=main or curie, taxon_id=curie, common_name=common)
    for text in (name, main, common):
        found = lookup_taxon(text)
        if found is not None:
            return _from_taxon(found, common)
    if main and not is_non_organism(main):
        return Organism(name=main, taxon_id=None, common_name=common)
    common_main, common_inner = _split_name(common)
    if common_main and not is_non_organism(common_main):
        return Organism(name=common_main, taxon_id=None, common_name=common_inner or None)
    return None


# -- internals -------------------------------------------------------------------------


def _from_taxon(found: Taxon, fallback_common: str | None) -> Organism:
    common = found.common_names[0] if found.common_names else fallback_common
    return Organism(name=found.scientific_name, taxon_id=found.taxon_id, common_name=common)


def _split_name(name: object) -> tuple[str, str]:
    """``"Homo sapiens (human)"`` -> ``("Homo sapiens", "human")``; nested and empty
    mains are unwrapped so that the result is stable when fed back in."""
    value = clean_text(name)
    parts = split_trailing_parenthesis(value)
    if parts is None:
        return value, ""
    main, inner = parts
    if not main:
        return _split_name(inner)
    return clean_text(main), clean_text(inner)


def _candidates(value: str) -> Iterator[str]:
    """Spellings to try for ``value``: itself, its parts, without a cell or strain suffix."""
    yield value
    parts = split_trailing_parenthesis(value)
    if parts is not None:
        main, inner = parts
        for part in (main, inner):
            if part:
                yield from _candidates(clean_text(part))
        return
    without_cells = _CELL_SUFFIX.sub("", value)
    if without_cells and without_cells != value:
        yield without_cells
    expanded = _expand_abbreviation(value)
    if expanded:
        yield expanded
    for base in (value, expanded):
        stripped = _strip_strain(base) if base else None
        if stripped:
            yield stripped
    if value.lower().endswith("ies") and len(value) > 4:
        yield value[:-3] + "y"
    elif value.lower().endswith("s") and len(value) > 3:
        yield value[:-1]


def _match(candidate: str) -> Taxon | None:
    tables = _tables()
    key = compact_key(candidate)
    if not key:
        return None
    curie = tables.names.get(key) or tables.cell_lines.get(key)
    if curie is None:
        curie = normalise_taxon_id(candidate)
    return tables.taxa.get(curie) if curie else None


def _expand_abbreviation(value: str) -> str | None:
    """``"S. pombe"`` -> ``"Schizosaccharomyces pombe"`` when only one table species fits."""
    match = _ABBREVIATED.match(value)
    if match is None:
        return None
    initial, epithet, rest = match.groups()
    curies = _tables().abbreviations.get((initial.lower(), epithet.lower()), ())
    if len(curies) != 1:
        return None
    genus = _tables().taxa[curies[0]].scientific_name.split()[0]
    return f"{genus} {epithet}{rest}"


def _strip_strain(value: str) -> str | None:
    """``"Mus musculus C57BL/6"`` -> ``"Mus musculus"``; ``None`` if nothing to strip.

    Only strips when the word after the binomial looks like a strain designation (has a
    capital, digit or symbol, or is a word such as ``strain``); a lower-case epithet marks
    a subspecies, which must be listed to resolve.
    """
    words = value.split()
    if len(words) < 3 or not words[0][:1].isupper():
        return None
    following = words[2]
    bare = following.strip(".,;:").lower()
    looks_like_strain = (
        bare in _STRAIN_WORDS
        or any(ch.isdigit() or ch.isupper() for ch in following)
        or not following.isalpha()
    )
    return " ".join(words[:2]) if looks_like_strain else None


@cache
def _tables() -> _Tables:
    taxa: dict[str, Taxon] = {}
    for row in read_tsv(_PACKAGE, "data/taxa.tsv"):
        row = row + [""] * (5 - len(row))
        curie = normalise_taxon_id(row[0])
        if curie is None:
            raise ValueError(f"bad taxon id {row[0]!r} in taxa.tsv")
        taxa[curie] = Taxon(curie, row[1], row[2], split_list(row[3]), split_list(row[4]))
    return _Tables(taxa, _name_index(taxa), _abbreviation_index(taxa), _cell_line_index(taxa))


def _name_index(taxa: dict[str, Taxon]) -> dict[str, str]:
    """Compact keys of scientific names, then synonyms, then common names (first wins)."""
    index: dict[str, str] = {}
    for field in ("scientific", "synonyms", "common"):
        for found in taxa.values():
            texts = {
                "scientific": (found.scientific_name,),
                "synonyms": found.synonyms,
                "common": found.common_names,
            }[field]
            for text in texts:
                index.setdefault(compact_key(text), found.taxon_id)
    return index


def _abbreviation_index(taxa: dict[str, Taxon]) -> dict[tuple[str, str], tuple[str, ...]]:
    index: dict[tuple[str, str], list[str]] = {}
    for found in taxa.values():
        words = found.scientific_name.split()
        if len(words) == 2 and words[1].islower() and words[0][:1].isupper():
            index.setdefault((words[0][0].lower(), words[1]), []).append(found.taxon_id)
    return {key: tuple(value) for key, value in index.items()}


def _cell_line_index(taxa: dict[str, Taxon]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, curie in cell_lines().items():
        if curie not in taxa:
            raise ValueError(f"cell line {name!r} points at {curie!r}, which is not in taxa.tsv")
        index.setdefault(compact_key(name), curie)
    return index
