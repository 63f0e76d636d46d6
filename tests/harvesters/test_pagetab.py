"""Tests for harvesters.pagetab: PageTab JSON/XML/TSV submissions and streaming file lists.

Fixtures live in tests/fixtures/pagetab (see PROVENANCE.md there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from harvesters.pagetab import (
    Attribute,
    FileEntry,
    LinkEntry,
    PageTabError,
    Section,
    Submission,
    file_list_format,
    iter_file_list,
    parse_json,
    parse_submission,
    parse_tsv,
    parse_xml,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pagetab"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def without_format(submission: Submission) -> Submission:
    return dataclasses.replace(submission, format="")


def all_references(submission: Submission) -> list[Attribute]:
    return [a for s in submission.section.walk() for a in s.attributes if a.reference]


# --- real PageTab JSON submissions ------------------------------------------------------------

# accno (file json/{accno}_original.json), author sections, organisation sections, references,
# (attribute names, expected first value) in the study section
# fmt: off
REAL = [
    ("S-BIAD1043", 9, 1, 9, (("Keywords",), "Microscopy")),
    ("S-BIAD1076", 5, 2, 5, (("Keyword", "Keywords"), "COVID-19")),
    ("S-BIAD1135", 4, 3, 5, (("Keywords",), "calcium")),
    ("S-BIAD1201", 1, 1, 1, (("License",), "CC BY 4.0")),
    ("S-BIAD1223", 2, 2, 2, (("Keywords",), "Nuclear localisation")),
    ("S-BIAD1344", 6, 3, 6, (("License",), "CC BY 4.0")),
    ("S-BIAD1388", 1, 1, 1, (("Keywords",), "CD68")),
    ("S-BIAD1500", 8, 1, 8, (("License",), "CC0")),
    ("S-BIAD15", 1, 1, 1, (("Organism",), "Saccharomyces cerevisiae")),
    ("S-BIAD1752", 8, 1, 8, (("Keywords",), "cell cycle")),
    ("S-BIAD1763", 4, 2, 4, (("Keywords",), "Flicker Spectroscopy")),
    ("S-BIAD1926", 3, 1, 3, (("Keywords",), "HCR")),
    ("S-BIAD1982", 10, 6, 10, (("Keywords",), "fluorescence microscopy")),
    ("S-BIAD2225", 7, 2, 7, (("Keywords",), "S. pombe")),
    ("S-BIAD2235", 1, 1, 1, (("Keywords",), "silicon")),
    ("S-BIAD2324", 1, 1, 1, (("Keywords",), "PARS")),
    # the raw value ends in a no-break space, which the parser strips
    ("S-BIAD590", 7, 4, 7, (("Keyword", "Keywords"), "heart failure")),
    ("S-BIAD599", 5, 4, 5, (("License",), "CC BY 4.0")),
    ("S-BIAD628", 7, 2, 7, (("Keyword",), "oblique plane microscope (OPM)")),
    ("S-BIAD661", 1, 1, 1, (("Keywords",), "data source file, FAM3C/ILEI, psoriasis")),
    ("S-BIAD677", 6, 2, 6, (("License",), "CC0")),
    ("S-BIAD954", 7, 3, 8, (("Keywords",), "zebrafish")),
    ("S-BIAD978", 1, 1, 1, (("License",), "CC0")),
    ("S-BSMS4", 6, 1, 0, (("Study variable",), "Sample name")),
    ("S-BSST592", 1, 1, 1, (("Organism",), "Mus musculus (mouse)")),
    ("S-BSST651", 3, 1, 3, (("Organism",), "Mus musculus (mouse)")),
    ("S-BSST744", 11, 5, 11, (("Organism",), "Mus musculus (mouse)")),
]
# fmt: on


def test_every_real_submission_is_listed() -> None:
    names = sorted(p.name for p in (FIXTURES / "json").glob("*.json"))
    assert names == sorted(f"{r[0]}_original.json" for r in REAL)


@pytest.mark.parametrize(("accno", "authors", "orgs", "refs", "known"), REAL)
def test_real_submission(accno, authors, orgs, refs, known) -> None:
    submission = parse_submission(fixture(f"json/{accno}_original.json"))
    assert submission.format == "json"
    assert submission.accno == accno
    study = submission.section
    assert study.type == "Study"
    assert len(study.of_type("author")) == authors
    assert len(study.of_type("organisation", "organization")) == orgs
    assert len(all_references(submission)) == refs
    names, expected = known
    assert study.value(*names) == expected


@pytest.mark.parametrize(("accno", "authors", "orgs", "refs", "known"), REAL)
def test_real_references_point_at_organisations(accno, authors, orgs, refs, known) -> None:
    submission = parse_submission(fixture(f"json/{accno}_original.json"))
    org_accnos = {s.accno for s in submission.section.of_type("organisation", "organization")}
    dangling = [a.value for a in all_references(submission) if a.value not in org_accnos]
    # S-BIAD15's author points at "o1", but its organisation section has no accno (a real quirk)
    assert dangling == (["o1"] if accno == "S-BIAD15" else [])


def test_real_release_date_and_valqual() -> None:
    submission = parse_submission(fixture("json/S-BIAD1043_original.json"))
    assert submission.value("ReleaseDate") == "2024-03-01"
    assert submission.section.values("Keywords") == [
        "Microscopy",
        "Image Analysis",
        "High-throughput imaging",
    ]
    (licence,) = submission.section.attributes_named("license")
    assert licence.value == "CC BY 4.0"
    assert licence.value_qualifiers == [
        Attribute("URL", "https://creativecommons.org/licenses/by/4.0/legalcode")
    ]


def test_real_ontology_qualifiers() -> None:
    study = parse_submission(fixture("json/S-BIAD15_original.json")).section
    (organism,) = study.attributes_named("Organism")
    assert organism.value_qualifiers == [
        Attribute("Ontology", "NCBITaxon"),
        Attribute("TermId", "4932"),
    ]


def test_real_tables_are_flattened() -> None:
    study = parse_submission(fixture("json/S-BIAD954_original.json")).section
    (analysis,) = study.of_type("Image analysis")
    assert [s.type for s in analysis.subsections] == ["Software Informations"] * 2
    files = parse_submission(fixture("json/S-BSMS4_original.json")).section
    (organisation,) = files.of_type("Organization")
    assert len(organisation.files) == 60
    assert all(isinstance(f, FileEntry) and f.path for f in organisation.files)


def test_real_files_and_table_links_directly_in_section() -> None:
    submission = parse_submission(fixture("testdata/S-BSSTTEST_files_direct.json"))
    study = submission.section
    assert [f.path for f in study.files] == ["path1.czi", "path2.csv", "path3.czi"]
    assert {f.size for f in study.files} == {1222831936}
    assert study.files[1].value("Description") == "Description 2"
    # links were a list of lists
    assert study.links == [
        LinkEntry(
            "https://www.testLink.com",
            [Attribute("Type", "DOI"), Attribute("Title", "Test link")],
        )
    ]
    author = study.of_type("author")[0]
    assert [a.value for a in author.attributes_named("affiliation")] == ["o1", "o2"]
    assert all(a.reference for a in author.attributes_named("affiliation"))


def test_s_biad1492_and_its_real_file_lists() -> None:
    submission = parse_submission(fixture("testdata/S-BIAD1492.json"))
    assert submission.accno == "S-BIAD1492"
    study = submission.section
    assert study.accno is None
    assert len(study.of_type("author")) == 5
    assert [o.accno for o in study.of_type("organization")] == ["o1", "o2", "o3"]
    lists = {s.type: s.value("File List") for s in study.walk() if s.value("File List")}
    assert lists == {"Annotations": "bbc024_masks.json", "Study Component": "bbc024_images.json"}

    with open(FIXTURES / "testdata" / lists["Study Component"], "rb") as stream:
        images = list(iter_file_list(stream, file_list_format(lists["Study Component"])))
    assert len(images) == 7
    assert sum(f.size for f in images) == 398904432
    assert images[-1].path == "BBBC024/BBBC024_v1_c00_highSNR_images_TIFF/image-final_0012.tif"
    assert images[-1].value("clustering probability") == "0%"
    assert images[-1].value("snr") == "high"

    with open(FIXTURES / "testdata" / lists["Annotations"], "rb") as stream:
        masks = list(iter_file_list(stream, "json"))
    assert (len(masks), sum(f.size for f in masks)) == (6, 19158920)
    assert masks[-1].value("Source image") == images[-1].path


@pytest.mark.parametrize(
    ("name", "count", "total", "types"),
    [
        ("file_list_annotations_1.json", 2, 23, {"directory", "file"}),
        ("file_list_study_component_1.json", 2, 126, {"file"}),
        ("file_list_default.json", 5, 42265734, {"file"}),
    ],
)
def test_real_test_file_lists(name, count, total, types) -> None:
    with open(FIXTURES / "testdata" / name, "rb") as stream:
        entries = list(iter_file_list(stream, "json"))
    assert (len(entries), sum(e.size for e in entries), {e.type for e in entries}) == (
        count,
        total,
        types,
    )


def test_biadtest_submission() -> None:
    submission = parse_submission(fixture("testdata/S-BIADTEST.json"))
    assert submission.accno == "S-BIADTEST"
    assert len(submission.section.of_type("Author")) == 2


# --- extended submissions (BioStudies index service input) -------------------------------------


def test_extended_submission_spellings() -> None:
    submission = parse_submission(fixture("extended/S-BIAD34.json"))
    assert submission.accno == "S-BIAD34"
    study = submission.section
    assert study.value("Keyword").startswith("Proteogenomics")
    (experiment,) = study.of_type("Experiment")
    assert experiment.accno == "experimentB"
    # fileList objects become the PageTab "File List" attribute
    assert experiment.value("File List") == "experimentB"
    (method,) = experiment.attributes_named("Imaging Method")
    assert method.value_qualifiers == [
        Attribute("Ontology", "Fbbi"),
        Attribute("TermId", "FBbi_00000246"),
    ]
    assert experiment.files[0] == FileEntry(
        "experimentB-processed.txt",
        158385,
        "file",
        [Attribute("Type", "processed data"), Attribute("Format", "tab-delimited text")],
    )


def test_extended_file_table_objects() -> None:
    submission = parse_submission(fixture("extended/submission-with-files.json"))
    assert submission.accno == "S-BSST1432"
    study = submission.section
    assert [f.path for f in study.files] == ["root1.txt", "root-table-1.txt", "root-table-2.txt"]
    (sample,) = study.of_type("Sample")
    assert sample.accno == "a-sub-section"
    assert sample.files[0].value("Type") == "IDF File"


# --- the same submission in three formats ---------------------------------------------------------


def test_s_acc_test_tsv_xml_json_are_equivalent() -> None:
    tsv = parse_submission(fixture("formats/S-ACC-TEST.pagetab.tsv"))
    xml = parse_submission(fixture("formats/S-ACC-TEST.xml"))
    jsn = parse_submission(fixture("formats/S-ACC-TEST.json"))
    assert (tsv.format, xml.format, jsn.format) == ("tsv", "xml", "json")
    assert without_format(tsv) == without_format(xml) == without_format(jsn)

    assert tsv.accno == "${SUB_ACC_NO}"
    assert tsv.value("Title") == "Submission title"
    study = tsv.section
    assert (study.type, study.accno) == ("Study", "$$$1")
    assert [s.type for s in study.subsections] == ["Author", "Organization", "Sub Section 1"]
    author, organisation, _ = study.subsections
    assert author.accno is None
    assert author.attributes[0] == Attribute("affiliation", "ref1", reference=True)
    assert author.value("email") == "john.smith@email.com"
    assert organisation.accno == "ref1"


def test_constructed_tsv_xml_json_are_equivalent() -> None:
    tsv = parse_tsv(fixture("constructed/features.pagetab.tsv"))
    xml = parse_xml(fixture("constructed/features.xml"))
    jsn = parse_json(fixture("constructed/features.json"))
    assert without_format(tsv) == without_format(xml) == without_format(jsn)


def test_constructed_tsv_tree() -> None:
    submission = parse_tsv(fixture("constructed/features.pagetab.tsv"))
    assert submission.accno == "S-TEST1"
    assert [a.name for a in submission.attributes] == ["Title", "ReleaseDate", "AttachTo"]
    study = submission.section
    assert study.value("Description") == "First line of the description\nsecond line, with a\ttab"
    assert study.value("Note") == 'The "quoted" word stays literal'
    assert study.attributes_named("Empty") == [Attribute("Empty", None)]
    (organism,) = study.attributes_named("Organism")
    assert organism.name_qualifiers == [Attribute("Role", "model")]
    assert organism.value_qualifiers == [
        Attribute("Ontology", "NCBITaxon"),
        Attribute("TermId", "NCBITaxon:7955"),
    ]
    assert [f.path for f in study.files] == [
        "images/overview.tif",
        "images/a.tif",
        "images/b.tif",
        "images/c.tif",
    ]
    b_tif = study.files[2]
    assert b_tif.attributes[0] == Attribute("Description", None)
    assert b_tif.attributes[1] == Attribute(
        "Channel", "561", value_qualifiers=[Attribute("Unit", "nm")]
    )
    assert [link.url for link in study.links] == [
        "https://example.org/paper",
        "EMPIAR-10001",
        "10.1000/xyz",
    ]
    assert [(s.type, s.accno) for s in study.walk()] == [
        ("Study", "STUDY-1"),
        ("organisation", "o1"),
        ("Author", "a1"),
        ("author", None),
        ("Study Component", "SC-1"),
        ("Image Acquisition", "IA-1"),
        ("Specimen", "SP-1"),
        ("Specimen", "SP-2"),
        ("Funding", None),
        ("Funding", None),
    ]
    (acquisition,) = study.of_type("image acquisition")
    assert [f.path for f in acquisition.files] == ["sc1/img1.tif"]
    assert study.of_type("organisation")[0].value("Address") == "1 Road\nTown"
    assert [a.value for a in all_references(submission)] == ["o1", "o1"]


def test_submissions_wrapper_and_valqual_string() -> None:
    submission = parse_submission(fixture("formats/full.json"))
    assert submission.accno == "S-EPMC2873748"  # the first of three
    assert submission.value("Title") is None  # "" counts as no value
    (publication,) = submission.section.of_type("Publication")
    (journal,) = publication.attributes_named("Journal")
    assert journal.value_qualifiers == [Attribute("Type", "Magazine"), Attribute("Awarded", None)]
    # "path": null with "name" present
    assert submission.section.files == [
        FileEntry("02-0168_appT-s1.pdf", 34984, "file", [Attribute("Type", "application(pdf)")])
    ]


def test_bare_submission_root_and_pmdocument_wrapper() -> None:
    bare = b'<submission acc="S-X"><section type="Study"/></submission>'
    wrapped = b"<pmdocument><submissions>" + bare + b"</submissions></pmdocument>"
    assert parse_submission(bare) == parse_submission(wrapped)
    assert parse_submission(bare).section == Section("Study")


def test_sniffing_bom_crlf_and_utf16() -> None:
    tsv = fixture("formats/S-ACC-TEST.pagetab.tsv")
    expected = parse_submission(tsv)
    assert parse_submission(b"\xef\xbb\xbf" + tsv.replace(b"\n", b"\r\n")) == expected
    assert parse_submission(tsv.decode().encode("utf-16")) == expected
    assert parse_submission(tsv.decode()) == expected  # text is accepted too
    jsn = fixture("formats/S-ACC-TEST.json")
    assert parse_submission(b"\xef\xbb\xbf \n" + jsn).format == "json"
    assert parse_submission(b"\xef\xbb\xbf" + fixture("formats/S-ACC-TEST.xml")).format == "xml"
    assert parse_submission(jsn, fmt="JSON").format == "json"


def test_accession_comes_from_the_record() -> None:
    assert parse_submission(fixture("formats/full.json")).accno == "S-EPMC2873748"
    renamed = fixture("json/S-BIAD661_original.json")
    assert parse_json(renamed).accno == "S-BIAD661"


# --- TSV details -----------------------------------------------------------------------------


def tsv(*lines: str) -> bytes:
    return "\n".join(lines).encode()


BASE = ("Submission\tS-1", "Title\tT", "", "Study\tROOT", "Title\tRoot")


def test_tsv_subsection_nesting_and_current_section() -> None:
    submission = parse_tsv(
        tsv(
            *BASE,
            "",
            "Funding\tF-1",
            "Agency\tA",
            "",
            "Expense\tE-1\tF-1",
            "Description\tTravel",
            "",
            "Link\thttp://a.example",
            "",
            "Funding\tF-2\t",
            "Agency\tB",
            "",
            "Sample[E-1]\tTitle",
            "SMP-1\tone",
        )
    )
    root = submission.section
    assert [(s.type, s.accno) for s in root.subsections] == [("Funding", "F-1"), ("Funding", "F-2")]
    expense = root.subsections[0].subsections[0]
    assert expense.accno == "E-1"
    assert expense.links == [LinkEntry("http://a.example")]  # attached to the latest section
    assert expense.subsections == [Section("Sample", "SMP-1", [Attribute("Title", "one")])]


def test_tsv_keywords_are_case_insensitive_and_tables_keep_empty_cells() -> None:
    submission = parse_tsv(
        tsv(
            *BASE,
            "",
            "links\tType\t(TermId)\t[Ontology]\tNull",
            "L1\t\tEFO_1\tEFO",
            "",
            "FILE\ta.txt",
        )
    )
    (link,) = submission.section.links
    assert link.attributes == [
        Attribute(
            "Type",
            None,
            name_qualifiers=[Attribute("TermId", "EFO_1")],
            value_qualifiers=[Attribute("Ontology", "EFO")],
        ),
        Attribute("Null", None),
    ]
    assert submission.section.files == [FileEntry("a.txt")]


def test_tsv_quoted_cells_and_comments() -> None:
    data = tsv(
        "# leading comment",
        "Submission\tS-1",
        'Title\t"multi',
        "# not a comment: inside a quoted cell",
        'line with ""escaped"" quotes"',
        'Short\t"just quoted"',
        "",
        "Study",
    )
    submission = parse_tsv(data)
    assert (
        submission.value("Title")
        == 'multi\n# not a comment: inside a quoted cell\nline with "escaped" quotes'
    )
    assert submission.value("Short") == '"just quoted"'
    assert submission.section == Section("Study")


def test_tsv_quoted_words_stay_literal() -> None:
    data = tsv(
        "Submission\tS-1",
        'Note\t"word" at the start',
        'Other\tends with "hello"',
        'Both\t"one value" OR "the other"',
        'Multi\t"two',
        'lines with a "quoted" word"\t',
        'Unclosed\t"no end',
        "",
        "Study",
    )
    submission = parse_tsv(data)
    assert [(a.name, a.value) for a in submission.attributes] == [
        ("Note", '"word" at the start'),
        ("Other", 'ends with "hello"'),
        ("Both", '"one value" OR "the other"'),
        ("Multi", 'two\nlines with a "quoted" word'),
        ("Unclosed", '"no end'),
    ]


def test_tsv_blank_and_whitespace_only_rows_separate_blocks() -> None:
    data = tsv("Submission\tS-1", "\t  ", "", "Study\tR", "Title\t  x  ")
    assert parse_tsv(data).section.value("Title") == "x"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("Study\tS-1",), "line 1: a PageTab TSV document must start with 'Submission'"),
        (("# c", "Submission", "", "Study"), "line 2: Submission has no accession"),
        (("Submission\tS-1", "Title\tT"), "no root section"),
        (("Submission\tS-1", "", "Files\tA", "a.txt\t1"), "line 3: expected the root section"),
        ((*BASE, "", "Expense\tE-1\tNOPE"), "line 7: parent section 'NOPE' is not defined above"),
        ((*BASE, "", "Data[NOPE]\tTitle", "D1\tx"), "line 7: parent section 'NOPE'"),
        (("Submission\tS-1", "[Ontology]\tEFO"), "line 2: qualifier '[Ontology]' has no attribute"),
        ((*BASE, "\tvalue"), "line 6: attribute value without a name"),
        ((*BASE, "", "Links\tType", "L1\tx\textra"), "line 8: row has more values than the header"),
        ((*BASE, "", "Files\tType", "\tx"), "line 8: table row without a path"),
        ((*BASE, "", "Files\t(Q)\tType", "a\tx\ty"), "line 7: table starts with qualifier column"),
        ((*BASE, "", "Files\tA\t\tB", "a\tx\ty\tz"), "line 7: table column without a name"),
        ((*BASE, "", "Link"), "line 7: Link without a url"),
    ],
)
def test_tsv_errors_name_the_line(lines, message) -> None:
    with pytest.raises(PageTabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_tsv(tsv(*lines))


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"\x00\xff\xfe garbage \x9c", None, "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, "UTF-8"),
        (b'{"accno": "S-1", "section": {"type": "Stu', None, "not valid JSON"),
        (b"[]", None, "holds no submission"),
        (b'{"submissions": []}', None, "holds no submission"),
        (b'{"section": {"type": "Study"}}', None, "no accession"),
        (b'{"accno": "S-1"}', None, "S-1 has no section"),
        (b'{"accno": "S-1", "section": []}', None, "S-1 has no section"),
        (b'{"accno": "S-1", "section": {"attributes": {}}}', None, "attributes must be a list"),
        (b'{"accno": "S-1", "section": {"attributes": [{"value": "x"}]}}', None, "no name"),
        (b'{"accno": "S-1", "section": {"files": [{"size": 3}]}}', None, "file has no path"),
        (b'{"accno": "S-1", "section": {"links": [["x"]]}}', None, "link must be an object"),
        (
            b'{"accno": "S-1", "section": {"attributes": [{"name": "a", "value": {}}]}}',
            None,
            "string",
        ),
        (b"[" * 100_000, None, "not valid JSON"),
        (b"<submission acc='S-1'><section>", None, "not well-formed XML"),
        (b"<submission><section type='Study'/></submission>", None, "no accession"),
        (b"<submission acc='S-1'/>", None, "S-1 has no section"),
        (b"<html><body/></html>", None, "no <submission> element"),
        (b"Title\tNo submission line", None, "must start with 'Submission'"),
        (b"", None, "must start with 'Submission'"),
        (b"{}", "yaml", "unknown PageTab format"),
    ],
)
def test_bad_documents_raise_pagetab_error(data, fmt, message) -> None:
    with pytest.raises(PageTabError, match=message):
        parse_submission(data, fmt)


def test_xml_external_entity_is_refused_and_not_read(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE submission [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        '<submission acc="S-1"><attributes><attribute><name>Title</name><value>&xxe;</value>'
        '</attribute></attributes><section type="Study"/></submission>'
    ).encode()
    with pytest.raises(PageTabError, match="entity") as caught:
        parse_submission(xxe)
    assert "TOP-SECRET" not in str(caught.value)
    with pytest.raises(PageTabError, match="entity"):
        list(iter_file_list(io.BytesIO(xxe.replace(b"submission", b"files")), "xml"))


def test_xml_billion_laughs_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><submission acc="&b;"/>'
    )
    with pytest.raises(PageTabError, match="entity"):
        parse_xml(bomb)


# --- file lists -------------------------------------------------------------------------------


def read_list(name: str, fmt: str | None = None) -> list[FileEntry]:
    with open(FIXTURES / "constructed" / name, "rb") as stream:
        return list(iter_file_list(stream, fmt or file_list_format(name)))


def test_tsv_file_list() -> None:
    entries = read_list("file_list.tsv")
    assert [e.path for e in entries] == [
        "plate1/A01.tif",
        "plate1/A02.tif",
        "plate2/B01.tif",
        "plate2/sub dir/B02.tif",
    ]
    first = entries[0]
    assert first == FileEntry(
        "plate1/A01.tif",
        None,  # the TSV format carries no size: "Size" is an ordinary attribute column
        "file",
        [
            Attribute("Description", "Well A01"),
            Attribute("Channel", "488", value_qualifiers=[Attribute("Unit", "nm")]),
            Attribute("Size", "1024"),
        ],
    )
    assert entries[1].attributes[1] == Attribute(
        "Channel", None, value_qualifiers=[Attribute("Unit", None)]
    )
    assert entries[2].value("Description") == '"quotes stay"'  # no quoting in file lists
    assert [a.name for a in entries[2].attributes] == ["Description", "Channel", "Size"]
    assert entries[3].value("Channel") == "640"


def test_tsv_file_list_with_bom_and_crlf() -> None:
    raw = (FIXTURES / "constructed" / "file_list.tsv").read_bytes()
    crlf = b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n")
    assert list(iter_file_list(io.BytesIO(crlf), "tsv")) == read_list("file_list.tsv")


def test_xml_file_list() -> None:
    entries = read_list("file_list.xml")
    assert entries == [
        FileEntry(
            "plate1/A01.tif",
            1024,
            "file",
            [
                Attribute("Description", "Well A01"),
                Attribute("Channel", "488", value_qualifiers=[Attribute("Unit", "nm")]),
            ],
        ),
        FileEntry("plate1/raw", 4096, "directory", []),
        FileEntry("plate2/B01.tif", None, "file", [Attribute("Description", "Well B01 & more")]),
    ]


def test_json_file_list() -> None:
    entries = read_list("file_list.json")
    assert [(e.path, e.size, e.type) for e in entries] == [
        ("plate1/A01.tif", 1024, "file"),
        ("plate1/raw", 4096, "directory"),
        ("plate2/B01.tif", None, "file"),
    ]
    assert entries[0].attributes[1] == Attribute(
        "Channel", "488", value_qualifiers=[Attribute("Unit", "nm")]
    )
    assert entries[2].attributes == [
        Attribute("Channel", "561", value_qualifiers=[Attribute("Unit", "nm")])
    ]


def test_file_list_formats_agree() -> None:
    by_path = {e.path: e for e in read_list("file_list.json")}
    for entry in read_list("file_list.xml"):
        if entry.path in by_path and entry.path != "plate2/B01.tif":
            assert entry == by_path[entry.path]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.json", "json"),
        ("dir/B.TSV", "tsv"),
        ("x.txt", "tsv"),
        ("x.tab", "tsv"),
        ("l.Xml", "xml"),
    ],
)
def test_file_list_format(name, fmt) -> None:
    assert file_list_format(name) == fmt


@pytest.mark.parametrize("name", ["experimentB", "list.xlsx", "archive.json.gz", ""])
def test_file_list_format_unknown(name) -> None:
    with pytest.raises(PageTabError, match="cannot tell the format"):
        file_list_format(name)


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b'{"files": []}', "json", "must be an array"),
        (b"", "json", "empty JSON file list"),
        (b'[{"path": "a", "size": 1}, {"path": ', "json", "not a valid JSON file list"),
        (b'[{"path": "a"}, 3]', "json", "file must be an object"),
        (b'[{"size": 3}]', "json", "file has no path"),
        (b"Path\tType\na\tb\n", "tsv", "line 1: a TSV file list must start with a 'Files' header"),
        (b"Files\tA\n\tb\n", "tsv", "line 2: file list row without a path"),
        (b"Files\tA\na\t\xff\n", "tsv", "line 2: not valid UTF-8"),
        (b"", "tsv", "empty file list"),
        (b"<files><file><path>a</path></file>", "xml", "not well-formed"),
        (b"<files><file><size>3</size></file></files>", "xml", "file has no path"),
        (b"[]", "csv", "unknown file list format"),
    ],
)
def test_bad_file_lists_raise_pagetab_error(data, fmt, message) -> None:
    with pytest.raises(PageTabError, match=message):
        list(iter_file_list(io.BytesIO(data), fmt))


def test_file_lists_are_lazy() -> None:
    """Entries come out before the end of the stream is read (the tail here is broken)."""
    for fmt, data in [
        ("json", b'[{"path": "a"}, {"path": "b"}, {"path": '),
        ("tsv", b"Files\tA\na\t1\nb\t2\n\tbroken\n"),
        ("xml", b"<files><file><path>a</path></file><file><path>b</path></file><file>"),
    ]:
        entries = iter_file_list(io.BytesIO(data), fmt)
        assert [next(entries).path, next(entries).path] == ["a", "b"]
        with pytest.raises(PageTabError):
            next(entries)


def test_json_file_list_streams_in_bounded_memory(tmp_path) -> None:
    """200,000 entries (~25 MB of JSON) must stream without holding the list in memory."""
    count = 200_000
    prefix = b"screens/a-rather-long-directory-name-for-this-screen/another/level"
    path = tmp_path / "big.json"
    with open(path, "wb") as out:
        out.write(b"[")
        for i in range(count):
            sep = b"," if i else b""
            out.write(
                b'%s{"path":"%s/plate%03d/image_%08d.ome.tif","size":%d}'
                % (sep, prefix, i % 1000, i, i)
            )
        out.write(b"]")
    seen, total = 0, 0
    tracemalloc.start()
    try:
        with open(path, "rb") as stream:
            for entry in iter_file_list(stream, "json"):
                seen += 1
                total += entry.size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size > 24_000_000  # more than the limit below, even as raw bytes
    assert (seen, total) == (count, count * (count - 1) // 2)
    assert peak < 20 * 1024 * 1024, f"peak traced memory {peak / 1e6:.1f} MB"


def test_tsv_file_list_streams_in_bounded_memory() -> None:
    rows = 10_000
    data = b"Files\tChannel\n" + b"".join(b"d/f%06d.tif\t%d\n" % (i, i % 4) for i in range(rows))
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_file_list(io.BytesIO(data), "tsv"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    # reading all lines first would take ~0.6 MB, keeping the entries ~5 MB
    assert peak < 256 * 1024, f"peak traced memory {peak / 1e6:.2f} MB"


def test_xml_file_list_prunes_parsed_elements(monkeypatch) -> None:
    """libxml2 memory is invisible to tracemalloc, so check the tree itself stays small."""
    roots = []

    def spy(*args, **kwargs):
        for event, element in real_iterparse(*args, **kwargs):
            if not roots:
                roots.append(element)
            yield event, element

    real_iterparse = etree.iterparse
    monkeypatch.setattr(etree, "iterparse", spy)
    files = b"".join(
        b"<file size='%d'><path>d/f%04d.tif</path></file>" % (i, i) for i in range(2000)
    )
    data = b"<files>" + files + b"<table>" + files + b"</table>" + files + b"</files>"
    sizes = []
    for entry in iter_file_list(io.BytesIO(data), "xml"):
        sizes.append(sum(1 for _ in roots[0].iter()))
        assert entry.path.startswith("d/f")
    assert len(sizes) == 6000
    # lxml parses ahead by a buffer's worth; without pruning the tree would reach 12,002 nodes
    assert max(sizes) < 3000, f"the tree reached {max(sizes)} elements"
    assert sizes[-1] <= 4


# --- Section helpers --------------------------------------------------------------------------


def test_values_match_names_tolerantly_but_not_plurals() -> None:
    section = Section(
        "Author",
        attributes=[
            Attribute("E-mail", "a@example.org"),
            Attribute("Keywords", "x"),
            Attribute("keyword", "y"),
            Attribute("E_mail", ""),
            Attribute("Email", None),
            Attribute("email ", "b@example.org"),
        ],
    )
    assert section.values("Email") == ["a@example.org", "b@example.org"]
    assert section.values("e-mail") == section.values("E MAIL")
    assert section.values("Keyword") == ["y"]
    assert section.values("Keywords") == ["x"]
    assert section.values("Keyword", "Keywords") == ["x", "y"]
    assert section.value("missing") is None
    assert len(section.attributes_named("email")) == 4


def test_walk_and_of_type() -> None:
    leaf = Section("organization", "o1")
    inner = Section("Study Component", "sc", subsections=[leaf])
    root = Section("Study", subsections=[inner, Section("Organisation", "o2")])
    assert [s.accno for s in root.walk()] == [None, "sc", "o1", "o2"]
    assert [s.accno for s in root.of_type("organisation", "organization")] == ["o1", "o2"]
    assert [s.accno for s in root.of_type("study_component")] == ["sc"]
    assert root.of_type("study") == []  # not self


# --- property tests ---------------------------------------------------------------------------

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(FAST, max_examples=50)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_pagetab_error(data: bytes) -> None:
    for fmt in (None, "json", "xml", "tsv"):
        with contextlib.suppress(PageTabError):
            parse_submission(data, fmt)


LIST_TOKENS = st.sampled_from(
    [b"[", b"]", b"{", b"}", b'"path"', b":", b",", b'"a"', b"1", b"null", b'"size"', b"<files>",
     b"</files>", b"<file>", b"</file>", b"<path>", b"</path>", b"Files\t", b"\t", b"\n", b"\xff"]
)  # fmt: skip


@FAST
@given(st.binary(max_size=200) | st.lists(LIST_TOKENS, max_size=30).map(b"".join))
def test_arbitrary_file_lists_raise_only_pagetab_error(data: bytes) -> None:
    for fmt in ("json", "tsv", "xml"):
        with contextlib.suppress(PageTabError):
            for entry in iter_file_list(io.BytesIO(data), fmt):
                assert entry.path and entry.type in ("file", "directory")


TOKENS = st.sampled_from(
    ["Submission", "S-1", "Study", "Files", "File", "Links", "Link", "Data[S-1]", "Data[]", "[Q]",
     "(Q)", "<R>", "#", '"', '""', "x", " ", "\t", "\n", "\n\n", "\r\n", "Sec\tA1\tS-1", "\ufeff"]
)  # fmt: skip


@FAST
@given(st.lists(TOKENS, max_size=40).map("".join) | st.text(max_size=200))
def test_tsv_like_text_raises_only_pagetab_error(text: str) -> None:
    try:
        submission = parse_submission(text.encode("utf-8", "surrogatepass"), "tsv")
    except PageTabError:
        return
    assert submission.accno and isinstance(submission.section, Section)


JSON_KEYS = st.sampled_from(
    ["accno", "accNo", "section", "type", "attributes", "subsections", "sections", "files", "links",
     "name", "value", "path", "size", "url", "reference", "valqual", "nmqual", "submissions",
     "extType", "fileList", "fileName"]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_KEYS, inner, max_size=5),
    max_leaves=25,
)


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
SECTION_KEYS = st.sampled_from(
    [
        "type",
        "accno",
        "attributes",
        "subsections",
        "sections",
        "files",
        "links",
        "fileList",
        "extType",
    ]
)
ITEM_KEYS = st.sampled_from(
    ["name", "value", "path", "url", "size", "valqual", "reference", "attributes"]
)
ITEM_LIKE = st.dictionaries(
    ITEM_KEYS, SCALARS | st.lists(st.dictionaries(ITEM_KEYS, SCALARS)), max_size=4
)
SECTION_LIKE = st.recursive(
    st.dictionaries(SECTION_KEYS, SCALARS | st.lists(ITEM_LIKE | SCALARS, max_size=3), max_size=4),
    lambda inner: st.dictionaries(
        SECTION_KEYS,
        SCALARS | st.lists(inner | ITEM_LIKE | st.lists(inner | ITEM_LIKE), max_size=3),
        max_size=5,
    ),
    max_leaves=10,
)
ONE_KEY_SECTION = st.dictionaries(
    SECTION_KEYS, SCALARS | st.lists(ITEM_LIKE | SCALARS, max_size=2), max_size=1
)
SUBMISSION_LIKE = st.fixed_dictionaries(
    {"accno": st.just("S-1"), "section": ONE_KEY_SECTION | SECTION_LIKE},
    optional={"attributes": JSON_VALUES},
)


@FAST
@given(JSON_VALUES | SUBMISSION_LIKE)
def test_json_like_structures_raise_only_pagetab_error(document) -> None:
    data = json.dumps(document).encode()
    with contextlib.suppress(PageTabError):
        parse_submission(data, "json")
    with contextlib.suppress(PageTabError):
        list(iter_file_list(io.BytesIO(data), "json"))


# Round trips: generated submissions are written as TSV and as JSON and read back.

NAME = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=8)
# No quotes (a cell starting with one is ambiguous in PageTab TSV), no CR, nothing to strip.
VALUE = st.none() | st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters='"\r')
    | st.sampled_from(["\t", "\n"]),
    min_size=1,
    max_size=12,
).filter(lambda v: v == v.strip())
QUALIFIER = st.builds(Attribute, NAME, VALUE)
ATTRIBUTE = st.builds(
    Attribute,
    NAME,
    VALUE,
    st.booleans(),
    st.lists(QUALIFIER, max_size=2),
    st.lists(QUALIFIER, max_size=2),
)
FILE = st.builds(
    FileEntry, NAME.map(lambda n: f"dir/{n}.tif"), attributes=st.lists(ATTRIBUTE, max_size=2)
)
LINK = st.builds(
    LinkEntry,
    NAME.map(lambda n: f"https://example.org/{n}"),
    attributes=st.lists(ATTRIBUTE, max_size=2),
)


@st.composite
def sections(draw, depth: int = 0) -> Section:
    children = draw(st.lists(sections(depth + 1), max_size=2)) if depth < 2 else []
    return Section(
        type=draw(NAME.map(lambda n: f"T{n}")),
        accno=None,
        attributes=draw(st.lists(ATTRIBUTE, max_size=3)),
        subsections=children,
        files=draw(st.lists(FILE, max_size=2)),
        links=draw(st.lists(LINK, max_size=2)),
    )


def with_accnos(section: Section, counter: list[int], leaf_accno: bool) -> Section:
    """Sections with children need an accno in TSV (children name their parent)."""
    counter[0] += 1
    accno = f"S{counter[0]}" if section.subsections or leaf_accno else None
    children = [with_accnos(s, counter, leaf_accno) for s in section.subsections]
    return dataclasses.replace(section, accno=accno, subsections=children)


SUBMISSIONS = st.builds(
    lambda attrs, section, leaf: Submission("S-GEN", attrs, with_accnos(section, [0], leaf), ""),
    st.lists(ATTRIBUTE, max_size=3),
    sections(),
    st.booleans(),
)


def tsv_cell(text: str | None) -> str:
    text = text or ""
    return f'"{text}"' if ("\t" in text or "\n" in text) else text


def tsv_attributes(attributes: list[Attribute]) -> list[str]:
    lines = []
    for a in attributes:
        lines.append(f"{f'<{a.name}>' if a.reference else a.name}\t{tsv_cell(a.value)}")
        lines += [f"({q.name})\t{tsv_cell(q.value)}" for q in a.name_qualifiers]
        lines += [f"[{q.name}]\t{tsv_cell(q.value)}" for q in a.value_qualifiers]
    return lines


def tsv_section(section: Section, parent: str | None) -> list[str]:
    header = [section.type, section.accno or ""] + ([parent] if parent else [])
    lines = ["", "\t".join(header).rstrip("\t"), *tsv_attributes(section.attributes)]
    for f in section.files:
        lines += ["", f"File\t{f.path}", *tsv_attributes(f.attributes)]
    for link in section.links:
        lines += ["", f"Link\t{link.url}", *tsv_attributes(link.attributes)]
    for child in section.subsections:
        lines += tsv_section(child, section.accno)
    return lines


def to_tsv(submission: Submission) -> bytes:
    lines = [f"Submission\t{submission.accno}", *tsv_attributes(submission.attributes)]
    root = submission.section
    lines += ["", f"{root.type}\t{root.accno or ''}", *tsv_attributes(root.attributes)]
    for f in root.files:
        lines += ["", f"File\t{f.path}", *tsv_attributes(f.attributes)]
    for link in root.links:
        lines += ["", f"Link\t{link.url}", *tsv_attributes(link.attributes)]
    for child in root.subsections:
        lines += tsv_section(child, None)
    return "\n".join(lines).encode()


def json_attribute(a: Attribute) -> dict:
    return {
        "name": a.name,
        "value": a.value,
        "reference": a.reference,
        "nmqual": [{"name": q.name, "value": q.value} for q in a.name_qualifiers],
        "valqual": [{"name": q.name, "value": q.value} for q in a.value_qualifiers],
    }


def json_section(s: Section) -> dict:
    return {
        "type": s.type,
        "accno": s.accno,
        "attributes": [json_attribute(a) for a in s.attributes],
        "files": [
            {"path": f.path, "attributes": [json_attribute(a) for a in f.attributes]}
            for f in s.files
        ],
        "links": [
            [
                {"url": x.url, "attributes": [json_attribute(a) for a in x.attributes]}
                for x in s.links
            ]
        ],
        "subsections": [json_section(c) for c in s.subsections],
    }


@ROUND_TRIP
@given(SUBMISSIONS)
def test_tsv_round_trip(submission: Submission) -> None:
    parsed = parse_tsv(to_tsv(submission))
    assert without_format(parsed) == without_format(submission)


@ROUND_TRIP
@given(SUBMISSIONS)
def test_json_round_trip(submission: Submission) -> None:
    document = {
        "accno": submission.accno,
        "attributes": [json_attribute(a) for a in submission.attributes],
        "section": json_section(submission.section),
    }
    assert without_format(parse_json(json.dumps(document).encode())) == without_format(submission)
