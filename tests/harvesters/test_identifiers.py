"""Identifier normalisers: real depositor spellings seen in PageTab records, and properties."""

import pytest
from hypothesis import given, strategies as st

from harvesters.file_formats import file_format
from harvesters.identifiers import (
    classify_link,
    normalise_doi,
    normalise_orcid,
    normalise_pmc_id,
    normalise_pubmed_id,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("https://doi.org/10.1364/OE.471845", "10.1364/OE.471845"),
        ("10.1073/pnas.2202370119", "10.1073/pnas.2202370119"),
        ("https://doi.org/10.1101/2025.04.08.647723 Funding", "10.1101/2025.04.08.647723"),
        ("https://doi.org/DOI: 10.26508/lsa.202403067", "10.26508/lsa.202403067"),
        ("doi: 10.3389/fcell.2024.1430728", "10.3389/fcell.2024.1430728"),
        ("DOI: https://doi.org/10.7554/eLife.93764.", "10.7554/eLife.93764"),
        ("http://dx.doi.org/10.1083/jcb.201508028", "10.1083/jcb.201508028"),
        ("https://www.nature.com/articles/s41598-024-66600-1#Abs1", "10.1038/s41598-024-66600-1"),
        ("arXiv:2504.18737v1 ", "10.48550/arXiv.2504.18737"),
        ("TBD", None),
        ("2024.09.23.614351", "10.1101/2024.09.23.614351"),
        ("2024.09.23.614351v2", "10.1101/2024.09.23.614351"),
        ("0.1101/2025.03.24.645013", "10.1101/2025.03.24.645013"),
        ("2024.09.23", None),
        ("", None),
        (None, None),
    ],
)
def test_doi_spellings(raw, expected):
    assert normalise_doi(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("0000-0002-1825-0097", "0000-0002-1825-0097"),
        ("https://orcid.org/0000-0001-7613-090X", "0000-0001-7613-090X"),
        ("http://orcid.org/0000-0002-5741-0399", "0000-0002-5741-0399"),
        ("0000000218250097", "0000-0002-1825-0097"),
        ("0000-0002-1825-0098", None),  # wrong check digit
        ("0000-0000-0000-0000", None),  # placeholder
        ("1111-1111-1111-1111", None),
        ("not an orcid", None),
    ],
)
def test_orcid(raw, expected):
    assert normalise_orcid(raw) == expected


def test_pubmed_and_pmc():
    assert normalise_pubmed_id("32004455") == "32004455"
    assert normalise_pubmed_id("PMID: 32004455") == "32004455"
    assert normalise_pubmed_id("pending") is None
    assert normalise_pubmed_id("High-throughput image processing software") is None
    assert normalise_pmc_id("PMC2873748") == "PMC2873748"
    assert normalise_pmc_id("2873748") == "PMC2873748"
    assert normalise_pmc_id("BIO ") is None


@pytest.mark.parametrize(
    "url, hint, kind, value",
    [
        ("EMPIAR-11380", "empiar", "empiar", "EMPIAR-11380"),
        ("https://www.ebi.ac.uk/empiar/EMPIAR-10002/", None, "empiar", "EMPIAR-10002"),
        ("EMD-1234", None, "emdb", "EMD-1234"),
        ("https://idr.openmicroscopy.org/webclient/?show=project-1105", "Image Data Resource", "idr", "https://idr.openmicroscopy.org/webclient/?show=project-1105"),
        ("idr0042", None, "idr", "idr0042"),
        ("https://dx.doi.org/10.5281/zenodo.6352550", None, "doi", "10.5281/zenodo.6352550"),
        ("10.3389/fcell.2024.1430728", None, "doi", "10.3389/fcell.2024.1430728"),
        ("ERP116793", "ENA", "ena", "ERP116793"),
        ("S-BIAD1043", "BioStudies", "biostudies", "S-BIAD1043"),
        ("https://github.com/FlickerPrint/FlickerPrint", None, "url", "https://github.com/FlickerPrint/FlickerPrint"),
        ("doi.org/10.17632/8gcncg6zkt.3", None, "doi", "10.17632/8gcncg6zkt.3"),
    ],
)
def test_classify_link(url, hint, kind, value):
    link = classify_link(url, hint)
    assert (link.type, link.value) == (kind, value)


def test_free_text_is_not_a_link():
    assert classify_link("LC3 and p62 ") is None
    assert classify_link("") is None


@pytest.mark.parametrize(
    "path, fmt",
    [
        ("a/b/image.ome.tif", "OME-TIFF"),
        ("IMAGE.TIFF", "TIFF"),
        ("x/plate.ome.zarr/", "OME-Zarr"),
        ("scan.svs", "SVS"),
        ("vol.nii.gz", "NIfTI"),
        ("data.weird", "WEIRD"),
        ("fig 8", None),
        (".hidden", None),
    ],
)
def test_file_format(path, fmt):
    assert file_format(path) == fmt


@given(st.text())
def test_normalisers_never_raise(text):
    for fn in (normalise_doi, normalise_orcid, normalise_pubmed_id, normalise_pmc_id, file_format):
        fn(text)
    classify_link(text, text)


@given(st.text())
def test_doi_is_idempotent(text):
    doi = normalise_doi(text)
    if doi is not None:
        assert normalise_doi(doi) == doi
        assert doi.startswith("10.")


@given(st.from_regex(r"\d{15}", fullmatch=True))
def test_every_15_digits_have_exactly_one_valid_check_digit(prefix):
    valid = [c for c in "0123456789X" if normalise_orcid(prefix + c) is not None]
    assert len(valid) == (0 if set(prefix) == {"0"} else 1)
