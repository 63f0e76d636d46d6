"""Organism normalisation: taxon ids in every form, names as depositors write them, cell lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvesters.records import TAXON_CURIE, Organism
from harvesters.vocab._text import compact_key
from harvesters.vocab.taxonomy import (
    Taxon,
    all_taxa,
    cell_lines,
    is_non_organism,
    lookup_taxon,
    normalise_organism,
    normalise_taxon_id,
    taxon,
)

HUMAN = "NCBITaxon:9606"
MOUSE = "NCBITaxon:10090"


# -- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["NCBI:txid9606", "txid9606", "NCBITaxon_9606", "NCBITaxon:9606", "ncbitaxon:9606", "9606", " 9606 ",
     "http://purl.obolibrary.org/obo/NCBITaxon_9606", "obo:NCBITaxon_9606", "taxon:9606",
     "https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id=9606",
     "https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?mode=Info&id=9606",
     "https://identifiers.org/taxonomy:9606", "http://identifiers.org/ncbitaxon/9606", "NCBI Taxonomy: 9606",
     9606],
)
def test_taxon_id_forms(text) -> None:
    assert normalise_taxon_id(text) == HUMAN


@pytest.mark.parametrize("text", [None, "", "Homo sapiens", "0", "NCBITaxon:", "NCBITaxon:96x", "FBbi:00000251",
                                  "http://www.ebi.ac.uk/ols/ontologies/fbbi", "-9606", "96 06", True])
def test_bad_taxon_ids(text) -> None:
    assert normalise_taxon_id(text) is None


def test_leading_zeros_are_dropped() -> None:
    # a GIDE crate writes http://purl.obolibrary.org/obo/NCBITaxon_07227
    assert normalise_taxon_id("http://purl.obolibrary.org/obo/NCBITaxon_07227") == "NCBITaxon:7227"


# -- lookups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "curie"),
    [
        ("Homo sapiens (human)", HUMAN), ("Mus musculus (mouse)", MOUSE), ("Bos Taurus (cow)", "NCBITaxon:9913"),
        ("homo sapiens", HUMAN), ("HOMO SAPIENS", HUMAN), ("Homo Sapiens", HUMAN), ("human", HUMAN),
        ("Homo sapiens (Human bone osteosarcoma cell line (U-2 OS cells)).", HUMAN),
        ("HeLa cells", HUMAN), ("HeLa", HUMAN), ("U2OS cells", HUMAN), ("U-2 OS", HUMAN), ("hTERT RPE-1", HUMAN),
        ("A375P Cells", HUMAN), ("HEK 293T cells", HUMAN), ("hiPSCs", HUMAN),
        ("Mus musculus C57BL/6", MOUSE), ("Mus musculus strain C57BL/6J", MOUSE), ("mice", MOUSE),
        ("Saccharomyces cerevisiae BY4741", "NCBITaxon:4932"), ("S. cerevisiae", "NCBITaxon:4932"),
        ("E. coli K-12", "NCBITaxon:562"), ("E. coli", "NCBITaxon:562"), ("S. pombe", "NCBITaxon:4896"),
        ("C. elegans", "NCBITaxon:6239"), ("D. melanogaster", "NCBITaxon:7227"),
        ("Arabidopsis thaliana Col-0", "NCBITaxon:3702"), ("Arabidopsis thaliana (thale cress)", "NCBITaxon:3702"),
        ("Canis familiaris (dog)", "NCBITaxon:9615"), ("Glycine max (soybean)", "NCBITaxon:3847"),
        ("Rattus norvegicus (brown rat)", "NCBITaxon:10116"), ("Danio rerio (Zebrafish)", "NCBITaxon:7955"),
        ("Drosophila melanogaster (fruit fly)", "NCBITaxon:7227"), ("fruit flies", "NCBITaxon:7227"),
        ("Schizosaccharomyces pombe (fission yeast)", "NCBITaxon:4896"),
        ("African green monkey", "NCBITaxon:9534"), ("starlet sea anemone", "NCBITaxon:45351"),
        ("pine", "NCBITaxon:3337"), ("Caulobacter crescentus", "NCBITaxon:155892"),
        ("Physcomitrella patens", "NCBITaxon:3218"), ("SARS-CoV-2", "NCBITaxon:2697049"),
        ("COS-7 cells", "NCBITaxon:9534"), ("Vero E6", "NCBITaxon:60711"), ("CHO-K1", "NCBITaxon:10029"),
        ("NIH 3T3", MOUSE), ("MDCK", "NCBITaxon:9615"), ("Mammalia", "NCBITaxon:40674"),
        ("Vertebrata", "NCBITaxon:7742"), ("Bacteria", "NCBITaxon:2"), ("Viruses", "NCBITaxon:10239"),
        ("Fungi", "NCBITaxon:4751"), ("Metazoa", "NCBITaxon:33208"), ("Eukaryota", "NCBITaxon:2759"),
        ("Mus", "NCBITaxon:10088"), ("Drosophila", "NCBITaxon:7215"), ("NCBI:txid5811", "NCBITaxon:5811"),
    ],
)
def test_lookup_taxon(text: str, curie: str) -> None:
    found = lookup_taxon(text)
    assert found is not None and found.taxon_id == curie


@pytest.mark.parametrize(
    "text",
    ["Homo sapiens sapiens", "Some sort of organism", "Beads", "simulated data", "", None, "mouse-like thing",
     "NCBITaxon:999999999", "yeast", "X. y"],
)
def test_lookup_taxon_does_not_guess(text) -> None:
    assert lookup_taxon(text) is None


# -- normalise_organism ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"name": "Homo sapiens (human)"}, Organism(name="Homo sapiens", taxon_id=HUMAN, common_name="human")),
        ({"name": "Homo sapiens", "taxon_id": "NCBITaxon_9606"},
         Organism(name="Homo sapiens", taxon_id=HUMAN, common_name="human")),
        ({"name": "Mus musculus", "taxon_id": "10090", "common_name": "house mouse"},
         Organism(name="Mus musculus", taxon_id=MOUSE, common_name="mouse")),
        ({"name": "Toxoplasma gondii", "taxon_id": "NCBI:txid5811", "common_name": "Toxoplasma"},
         Organism(name="Toxoplasma gondii", taxon_id="NCBITaxon:5811", common_name="Toxoplasma")),
        ({"name": "mus musculus (mouse)"}, Organism(name="Mus musculus", taxon_id=MOUSE, common_name="mouse")),
        ({"name": "Bos Taurus (cow)"}, Organism(name="Bos taurus", taxon_id="NCBITaxon:9913", common_name="cattle")),
        ({"name": "HeLa cells"}, Organism(name="Homo sapiens", taxon_id=HUMAN, common_name="human")),
        ({"common_name": "Zebrafish"},
         Organism(name="Danio rerio", taxon_id="NCBITaxon:7955", common_name="zebrafish")),
        # a valid id that is not in the table is kept with the given name
        ({"name": "Scapania degenii", "taxon_id": "http://purl.obolibrary.org/obo/NCBITaxon_537848"},
         Organism(name="Scapania degenii", taxon_id="NCBITaxon:537848", common_name=None)),
        ({"name": "Tuwongella immobilis (a planctomycete)", "taxon_id": "obo:NCBITaxon_692036"},
         Organism(name="Tuwongella immobilis", taxon_id="NCBITaxon:692036", common_name="a planctomycete")),
        ({"name": "mixed sample", "taxon_id": "NCBITaxon_1427524"},
         Organism(name="mixed sample", taxon_id="NCBITaxon:1427524", common_name=None)),
        # the id wins over a conflicting name
        ({"name": "Mus musculus", "taxon_id": "9606"}, Organism(name="Homo sapiens", taxon_id=HUMAN, common_name="human")),
        # unresolved real-looking names are kept
        ({"name": "Some sort of organism"}, Organism(name="Some sort of organism", taxon_id=None, common_name=None)),
        ({"name": "Strangeus organismus (weird critter)"},
         Organism(name="Strangeus organismus", taxon_id=None, common_name="weird critter")),
        ({"name": "  Strangeus   organismus ", "taxon_id": "not an id", "common_name": "critter"},
         Organism(name="Strangeus organismus", taxon_id=None, common_name="critter")),
    ],
)
def test_normalise_organism(kwargs: dict, expected: Organism) -> None:
    assert normalise_organism(**kwargs) == expected


@pytest.mark.parametrize("name", ["Beads", "simulated data", "synthetic", "none", "not applicable", "N/A",
                                  "unknown", "in silico", "phantom", "calibration slide", "", None, "   "])
def test_non_organisms_give_none(name) -> None:
    assert normalise_organism(name) is None
    assert is_non_organism(name)


@pytest.mark.parametrize("text", ["Homo sapiens", "HeLa", "mouse", "Scapania degenii", "Beadlet anemone"])
def test_real_organisms_are_not_non_organisms(text: str) -> None:
    assert not is_non_organism(text)


# -- the tables ----------------------------------------------------------------------------------

# Taxon ids and scientific names as the shared fixtures (IDR study files, GIDE RO-crates,
# BioStudies PageTab) carry them; our table must agree with every one it lists.
FIXTURE_TAXA = {
    9606: "Homo sapiens", 10090: "Mus musculus", 4932: "Saccharomyces cerevisiae", 7227: "Drosophila melanogaster",
    4896: "Schizosaccharomyces pombe", 3702: "Arabidopsis thaliana", 7955: "Danio rerio", 6359: "Platynereis dumerilii",
    6239: "Caenorhabditis elegans", 45351: "Nematostella vectensis", 5811: "Toxoplasma gondii",
    5833: "Plasmodium falciparum", 562: "Escherichia coli", 9615: "Canis lupus familiaris", 9031: "Gallus gallus",
    3055: "Chlamydomonas reinhardtii", 3337: "Pinus", 114: "Gemmata obscuriglobus", 2864: "Dinophyceae",
    33630: "Alveolata", 184585: "Engraulis encrasicolus", 9534: "Chlorocebus aethiops",
}


def test_table_agrees_with_fixture_ids() -> None:
    for number, name in FIXTURE_TAXA.items():
        found = taxon(f"NCBITaxon:{number}")
        assert found is not None and found.scientific_name == name, number


def test_table_rows_are_well_formed() -> None:
    taxa = all_taxa()
    assert len(taxa) >= 200
    ids = [found.taxon_id for found in taxa]
    assert len(ids) == len(set(ids))
    names = [found.scientific_name for found in taxa]
    assert len(names) == len(set(names))
    for found in taxa:
        assert isinstance(found, Taxon)
        assert TAXON_CURIE.match(found.taxon_id), found
        assert found.rank and found.scientific_name == found.scientific_name.strip(), found
        assert taxon(found.taxon_id) is found


def test_every_scientific_name_looks_up_to_itself() -> None:
    for found in all_taxa():
        assert lookup_taxon(found.scientific_name) is found, found.scientific_name
        assert lookup_taxon(found.scientific_name.upper()) is found, found.scientific_name


def test_names_do_not_collide_across_rows() -> None:
    owners: dict[str, str] = {}
    for found in all_taxa():
        for text in (found.scientific_name, *found.synonyms, *found.common_names):
            key = compact_key(text)
            assert owners.setdefault(key, found.taxon_id) == found.taxon_id, (text, owners[key], found.taxon_id)
    for found in all_taxa():
        for text in (*found.synonyms, *found.common_names):
            assert lookup_taxon(text) is found, text


def test_every_cell_line_resolves_to_a_table_taxon() -> None:
    lines = cell_lines()
    assert len(lines) >= 40
    for name, curie in lines.items():
        assert taxon(curie) is not None, name
        assert lookup_taxon(name) == taxon(curie), name
        assert lookup_taxon(f"{name} cells") == taxon(curie), name


# -- properties --------------------------------------------------------------------------------

_names = st.sampled_from([found.scientific_name for found in all_taxa()] + ["HeLa", "Beads", "Some organism"])
_texty = st.one_of(st.none(), st.text(), _names, st.builds(lambda a, b: f"{a} ({b})", _names, st.text(max_size=12)))


@settings(max_examples=200, deadline=None)
@given(name=_texty, taxon_id=st.one_of(st.none(), st.text(max_size=30), st.integers(-5, 10**10).map(str)),
       common_name=st.one_of(st.none(), st.text(max_size=20)))
def test_never_raises(name, taxon_id, common_name) -> None:
    organism = normalise_organism(name, taxon_id, common_name)
    assert organism is None or isinstance(organism, Organism)
    lookup_taxon(name)
    is_non_organism(name)
    normalise_taxon_id(name)


@settings(max_examples=200, deadline=None)
@given(name=_texty, taxon_id=st.one_of(st.none(), st.sampled_from(["9606", "537848", "txid4932", "x"])),
       common_name=st.one_of(st.none(), st.text(max_size=20)))
def test_idempotent(name, taxon_id, common_name) -> None:
    organism = normalise_organism(name, taxon_id, common_name)
    if organism is not None:
        again = normalise_organism(organism.name, organism.taxon_id, organism.common_name)
        assert again == organism


@settings(max_examples=200, deadline=None)
@given(number=st.integers(min_value=1, max_value=10**8), form=st.sampled_from(
    ["{}", "NCBITaxon:{}", "NCBITaxon_{}", "ncbitaxon:{}", "NCBI:txid{}", "txid{}", "obo:NCBITaxon_{}",
     "http://purl.obolibrary.org/obo/NCBITaxon_{}", "https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id={}"]
))
def test_id_forms_round_trip(number: int, form: str) -> None:
    curie = f"NCBITaxon:{number}"
    assert normalise_taxon_id(form.format(number)) == curie
    assert normalise_taxon_id(curie) == curie
