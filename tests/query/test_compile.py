"""Compiler tests: Whoosh query structure, Whoosh traps, and results on a real tiny index."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from whoosh import query as wq
from whoosh.index import create_in

from indexer.schema import DEFAULT_FIELDS, build_schema
from query import ast
from query.compile import (MAX_WILDCARD_TERMS, compile_query, looks_like_identifier,
                           make_wildcard_expander)
from query.errors import QuerySyntaxError
from query.syntax import parse_query
from tests.query.test_syntax import any_query

SCHEMA = build_schema()
FACET_KEYS = {
    "source": {"bia": "BIA", "bioimage archive": "BIA", "empiar": "EMPIAR", "idr": "IDR"},
    "license": {"cc0": "CC0", "cc-by-4.0": "CC-BY-4.0", "cc by 4.0": "CC-BY-4.0"},
}
RESOLVERS = {"organism": lambda v: ["NCBITaxon:9606"] if v.lower() == "human" else [],
             "imaging_method": lambda v: ["FBbi:00000369"] if v.lower() == "confocal" else []}

DOCS = [
    dict(accession="S-BIAD1", identifiers="S-BIAD1", title="Light sheet microscopy of zebrafish embryos",
         description="Developing embryos imaged with a light sheet", organism="Danio rerio",
         f_organism_tree="NCBITaxon:7955,NCBITaxon:7742", f_source="BIA", f_license="CC0",
         release_date=datetime(2020, 3, 15), file_count=5, total_size_bytes=2 * 10**9,
         f_release_year="2020", author="Jane Smith"),
    dict(accession="S-BIAD2", identifiers="S-BIAD2,10.1038/s41598-024-66600-1",
         doi="10.1038/s41598-024-66600-1", title="Sheet of light: confocal images of human cells",
         description="Confocal microscopy of HeLa cells", organism="Homo sapiens",
         f_organism_tree="NCBITaxon:9606,NCBITaxon:9605", f_source="BIA", f_license="CC-BY-4.0",
         imaging_method="confocal microscopy", f_imaging_method_tree="FBbi:00000369",
         release_date=datetime(2021, 1, 1), file_count=50, total_size_bytes=5 * 10**11,
         f_release_year="2021"),
    dict(accession="EMPIAR-10002", identifiers="EMPIAR-10002,EMD-1234", title="Cryo-EM of ribosomes",
         description="Electron microscopy of the ribosome", f_organism_tree="NCBITaxon:562",
         f_source="EMPIAR", release_date=datetime(2019, 12, 31, 23, 59), file_count=1200,
         total_size_bytes=2 * 10**12, f_release_year="2019"),
    dict(accession="idr0001", identifiers="idr0001", title="Mitosis screen in human cells",
         description="High content screening", f_organism_tree="NCBITaxon:9606", f_source="IDR",
         release_date=datetime(2020, 12, 31, 12), file_count=9, f_release_year="2020"),
    dict(accession="S-BIAD3", identifiers="S-BIAD3", title="Microtubule dynamics",
         description="Light microscopy time lapse of microtubules",
         f_organism_tree="NCBITaxon:10090", f_source="BIA", release_date=datetime(2022, 6, 1),
         file_count=10, f_release_year="2022"),
    dict(accession="EMPIAR-10003", identifiers="EMPIAR-10003", title="Tomography of cells",
         description="cryo electron tomography", f_source="EMPIAR",
         release_date=datetime(2020, 1, 1), file_count=0, f_release_year="2020"),
]
ALL = {d["accession"] for d in DOCS}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    ix = create_in(str(tmp_path_factory.mktemp("ix")), SCHEMA)
    with ix.writer() as writer:
        for doc in DOCS:
            writer.add_document(**doc)
    return ix


@pytest.fixture(scope="module")
def searcher(index):
    with index.searcher() as searcher:
        yield searcher


def run(searcher, query: wq.Query) -> set[str]:
    return {hit["accession"] for hit in searcher.search(query, limit=None)}


def compiled(text: str, **kwargs) -> wq.Query:
    options = dict(schema=SCHEMA, resolvers=RESOLVERS, facet_keys=FACET_KEYS)
    return compile_query(parse_query(text).node, **(options | kwargs))


# --------------------------------------------------------------------------- results

RESULTS = [
    ("*", ALL),
    ("", ALL),
    ('"light sheet"', {"S-BIAD1"}),
    ("light sheet", {"S-BIAD1", "S-BIAD2"}),
    ('"light microscopy"', {"S-BIAD3"}),
    ('"light microscopy"~1', {"S-BIAD1", "S-BIAD3"}),
    ("cells", {"S-BIAD2", "idr0001", "EMPIAR-10003"}),
    ("NOT cells", {"S-BIAD1", "EMPIAR-10002", "S-BIAD3"}),
    ("-cells", {"S-BIAD1", "EMPIAR-10002", "S-BIAD3"}),
    ("* -cells", {"S-BIAD1", "EMPIAR-10002", "S-BIAD3"}),
    ("NOT title:cells", {"S-BIAD1", "EMPIAR-10002", "S-BIAD3"}),
    ("microscopy -title:light", {"EMPIAR-10002", "S-BIAD3"}),
    ("NOT cells NOT ribosome", {"S-BIAD1", "S-BIAD3"}),
    ("ribosome OR mitosis", {"EMPIAR-10002", "idr0001"}),
    ("human cells OR ribosome", {"S-BIAD2", "idr0001", "EMPIAR-10002"}),
    ("release_date:2020", {"S-BIAD1", "idr0001", "EMPIAR-10003"}),
    ("release_date:2020-12", {"idr0001"}),
    ("release_date:2020-01-01", {"EMPIAR-10003"}),
    ("release_date:[2020-06 TO 2021]", {"idr0001", "S-BIAD2"}),
    ("release_date:{2019-12-31 TO 2020-01-01]", {"EMPIAR-10003"}),
    ("release_date:<2020", {"EMPIAR-10002"}),
    ("release_date:>=2021", {"S-BIAD2", "S-BIAD3"}),
    ("release_date:>2021-01-01", {"S-BIAD3"}),
    ("release_date:[* TO 2019]", {"EMPIAR-10002"}),
    ("file_count:<10", {"S-BIAD1", "idr0001", "EMPIAR-10003"}),
    ("file_count:<=10", {"S-BIAD1", "idr0001", "EMPIAR-10003", "S-BIAD3"}),
    ("file_count:[10 TO 50]", {"S-BIAD2", "S-BIAD3"}),
    ("file_count:{10 TO *]", {"S-BIAD2", "EMPIAR-10002"}),
    ("file_count:>1000", {"EMPIAR-10002"}),
    ("file_count:10", {"S-BIAD3"}),
    ("size:>1 TB", {"EMPIAR-10002"}),
    ("size:[1GB TO 600 GB]", {"S-BIAD1", "S-BIAD2"}),
    ("size:2000000000", {"S-BIAD1"}),
    ("release_year:[2021 TO 2022]", {"S-BIAD2", "S-BIAD3"}),
    ("micro*", {"S-BIAD1", "S-BIAD2", "EMPIAR-10002", "S-BIAD3"}),
    ("title:micro*", {"S-BIAD1", "S-BIAD3"}),
    ("title:tomo?raph*", {"EMPIAR-10003"}),
    ("title:tomo?raphy", set()),  # wildcards match the stemmed index form "tomographi"
    ("accession:s-biad*", {"S-BIAD1", "S-BIAD2", "S-BIAD3"}),
    ("EMPIAR-1000?", {"EMPIAR-10002", "EMPIAR-10003"}),
    ("ribosme~1", {"EMPIAR-10002"}),
    ("ribosme", set()),
    ("title:mitosys~", {"idr0001"}),
    ("source:empiar", {"EMPIAR-10002", "EMPIAR-10003"}),
    ("source:EmPiAr", {"EMPIAR-10002", "EMPIAR-10003"}),
    ('source:"BioImage Archive"', {"S-BIAD1", "S-BIAD2", "S-BIAD3"}),
    ("source:emp*", {"EMPIAR-10002", "EMPIAR-10003"}),
    ("source:nope", set()),
    ("source:nope cells", set()),
    ("source:nope OR title:mitosis", {"idr0001"}),
    ("licence:cc-by-4.0", {"S-BIAD2"}),
    ("license:cc*", {"S-BIAD1", "S-BIAD2"}),
    ("organism:human", {"S-BIAD2", "idr0001"}),
    ("organism:zebrafish", set()),
    ('organism:"danio rerio"', {"S-BIAD1"}),
    ("method:confocal", {"S-BIAD2"}),
    ("S-BIAD1", {"S-BIAD1"}),
    ("s-biad2", {"S-BIAD2"}),
    ("EMD-1234", {"EMPIAR-10002"}),
    ("idr0001", {"idr0001"}),
    ("10.1038/s41598-024-66600-1", {"S-BIAD2"}),
    ("doi:10.1038/S41598-024-66600-1", {"S-BIAD2"}),
    ("author:smith", {"S-BIAD1"}),
    ("!!!", set()),
    ("cells !!!", {"S-BIAD2", "idr0001", "EMPIAR-10003"}),
]


@pytest.mark.parametrize(("text", "expected"), RESULTS, ids=[r[0] or "empty" for r in RESULTS])
def test_results(searcher, text, expected):
    query = compiled(text)
    assert run(searcher, query) == expected
    # Whoosh's normalize() must not change the meaning (NullQuery / Every traps)
    assert run(searcher, query.normalize()) == expected


def test_organism_without_resolver_is_text_only(searcher):
    query = compile_query(parse_query("organism:human").node, schema=SCHEMA)
    assert run(searcher, query) == set()


# --------------------------------------------------------------------------- structure


def test_unfielded_term_uses_default_fields_with_boosts_and_analyzers():
    query = compiled("Cells")
    assert isinstance(query, wq.Or)
    by_field = {q.fieldname: q for q in query.subqueries}
    assert set(by_field) == set(DEFAULT_FIELDS)
    assert {f: q.boost for f, q in by_field.items()} == DEFAULT_FIELDS
    assert by_field["title"].text == "cell"  # stemmed like the index
    assert by_field["author"].text == "cells"  # name analyzer: not stemmed
    assert by_field["identifiers"].text == "cells"


def test_multi_token_term_becomes_phrase_and_identifier_stays_whole():
    by_field = {q.fieldname: q for q in compiled("S-BIAD1043").subqueries}
    assert by_field["title"] == wq.Phrase("title", ["s", "biad1043"], boost=4.0)
    assert by_field["identifiers"] == wq.Term("identifiers", "s-biad1043", boost=3.0)


@pytest.mark.parametrize(("text", "expected"), [
    ("S-BIAD1043", True), ("EMPIAR-10002", True), ("idr0001", True), ("EMD-1234", True),
    ("10.1038/s41598-024-66600-1", True), ("cell", False), ("light-sheet", False)])
def test_looks_like_identifier(text, expected):
    assert looks_like_identifier(text) is expected


def test_identifier_terms_hit_identifiers_even_outside_default_fields(monkeypatch):
    monkeypatch.setattr("query.compile.DEFAULT_FIELDS", {"title": 4.0})
    fields = {q.fieldname for q in compiled("EMPIAR-10002").subqueries}
    assert fields == {"title", "identifiers"}
    assert compiled("cell") == wq.Term("title", "cell", boost=4.0)


def test_phrase_slop_counts_intervening_words():
    assert compiled('title:"a b"~2') == wq.Phrase("title", ["a", "b"], slop=3)


def test_punctuation_only_compiles_to_null_query():
    assert compiled("!!!") is wq.NullQuery
    assert compiled('"..."') is wq.NullQuery


def test_match_all_and_not_alone():
    assert compiled("*:*") == wq.Every()
    assert isinstance(compiled("NOT cells"), wq.Not)
    assert compiled("-*") is wq.NullQuery


def test_and_with_every_and_not_avoids_whoosh_normalize_trap():
    # whoosh: And([Every(), Not(x)]).normalize() == Every() -- we never build that
    assert wq.And([wq.Every(), wq.Not(wq.Term("title", "x"))]).normalize() == wq.Every()
    assert isinstance(compiled("* -title:x"), wq.Not)


def test_unknown_facet_value_is_null_and_absorbs_and():
    assert compiled("source:nope") is wq.NullQuery
    assert compiled("source:nope cells") is wq.NullQuery
    assert compiled("source:EMPIAR", facet_keys={}) == wq.Term("f_source", "EMPIAR")


def test_vocabulary_is_text_or_tree_terms():
    assert compiled("organism:human") == wq.Or([
        wq.Term("organism", "human"), wq.Term("f_organism_tree", "NCBITaxon:9606")])


def test_dates_and_numbers():
    assert compiled("release_date:2020-02") == wq.DateRange(
        "release_date", datetime(2020, 2, 1), datetime(2020, 3, 1), endexcl=True)
    assert compiled("file_count:<10") == wq.NumericRange("file_count", None, 10, False, True)
    assert compiled("size:1.5 KiB") == wq.NumericRange("total_size_bytes", 1536, 1536)
    assert compiled("release_date:{2020 TO 2021}") is wq.NullQuery  # empty, not an error


# --------------------------------------------------------------------------- traps


@pytest.mark.parametrize("node", [
    ast.Term("foo", "x"),  # unknown field: never silently free text
    ast.Range("release_date", "2021", "2020"),  # reversed: Whoosh would quietly match nothing
    ast.Range("release_date", "2020-13", None),  # bad date: not a ValueError from deep inside
    ast.Compare("release_date", ">", "yesterday"),
    ast.Term("size", "99999999 PB"),  # Whoosh raises ValueError at search time for this
    ast.Term("file_count", "-5"),
    ast.Wildcard(None, "*x"),
    ast.Range("title", "a", "b"),
])
def test_invalid_nodes_raise_query_syntax_error(node):
    with pytest.raises(QuerySyntaxError):
        compile_query(node, schema=SCHEMA)


def test_bad_dates_raise_instead_of_dateparser_null_query():
    # Whoosh's DateParserPlugin turns a bad date into a NullQuery with an .error; we raise.
    for text in ("release_date:2020-13-01", "release_date:[2021 TO 2020]",
                 "release_date:yesterday"):
        with pytest.raises(QuerySyntaxError):
            compiled(text)


def test_unbalanced_parentheses_are_not_parsed_silently():
    with pytest.raises(QuerySyntaxError, match="unclosed"):
        compiled("(cells OR ribosome")


def test_wildcard_expansion_is_capped():
    many = [f"ab{i:05d}" for i in range(MAX_WILDCARD_TERMS + 10)]
    node = parse_query("title:ab*").node
    with pytest.raises(QuerySyntaxError, match="'ab\\*' matches too many terms") as info:
        compile_query(node, schema=SCHEMA, expand_wildcard=lambda f, p: iter(many))
    assert info.value.position == 6
    warnings: list[str] = []
    query = compile_query(node, schema=SCHEMA, expand_wildcard=lambda f, p: iter(many),
                          strict=False, warnings=warnings)
    assert isinstance(query, wq.Or) and len(query.subqueries) == MAX_WILDCARD_TERMS
    assert len(warnings) == 1 and "too many terms" in warnings[0]
    few = compile_query(node, schema=SCHEMA, expand_wildcard=lambda f, p: iter(many[:3]))
    assert few == wq.Prefix("title", "ab")


def test_reader_expander_lists_matching_terms(index):
    with index.reader() as reader:
        expand = make_wildcard_expander(reader)
        assert sorted(expand("title", "micro*")) == ["microscopi", "microtubul"]
        assert list(expand("identifiers", "empiar-1000?")) == ["empiar-10002", "empiar-10003"]
        assert list(expand("nope", "a*")) == []


# --------------------------------------------------------------------------- properties


def _no_nested_null_or_every(query: wq.Query) -> bool:
    for child in query.children():
        if child is wq.NullQuery or (isinstance(child, wq.Every) and child.fieldname is None):
            return False
        if not _no_nested_null_or_every(child):
            return False
    return True


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_query)
def test_any_lenient_result_compiles_and_searches(searcher, text):
    result = parse_query(text, strict=False)
    query = compile_query(result.node, schema=SCHEMA, resolvers=RESOLVERS,
                          facet_keys=FACET_KEYS, strict=False, warnings=[])
    assert isinstance(query, wq.Query)
    assert _no_nested_null_or_every(query)
    assert run(searcher, query) <= ALL
    assert compile_query(ast.from_json(ast.to_json(result.node)), schema=SCHEMA) == \
        compile_query(result.node, schema=SCHEMA)
