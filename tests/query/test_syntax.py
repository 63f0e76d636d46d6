"""Parser tests: grammar -> AST, strict errors with positions, lenient repairs, properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from query.ast import (And, Compare, Fuzzy, MatchAll, Not, Or, Phrase, Range, Term, Wildcard,
                       from_json, to_json)
from query.errors import QuerySyntaxError
from query.syntax import ParseResult, parse_query


def T(text, field=None):
    return Term(field, text)


def strict(text: str):
    return parse_query(text, strict=True).node


# --------------------------------------------------------------------------- grammar

GRAMMAR = [
    ("", MatchAll()),
    ("   \t ", MatchAll()),
    ("*", MatchAll()),
    ("*:*", MatchAll()),
    ("cell", T("cell")),
    ("cell nucleus", And((T("cell"), T("nucleus")))),
    ("cell AND nucleus", And((T("cell"), T("nucleus")))),
    ("cell OR nucleus", Or((T("cell"), T("nucleus")))),
    ("a and b or not c", And((T("a"), T("and"), T("b"), T("or"), T("not"), T("c")))),
    # AND (explicit or implicit) binds tighter than OR
    ("a OR b c", Or((T("a"), And((T("b"), T("c")))))),
    ("a b OR c", Or((And((T("a"), T("b"))), T("c")))),
    ("a OR b AND c OR d", Or((T("a"), And((T("b"), T("c"))), T("d")))),
    ("(a OR b) c", And((Or((T("a"), T("b"))), T("c")))),
    ("((a))", T("a")),
    ("NOT x", Not(T("x"))),
    ("a NOT b", And((T("a"), Not(T("b"))))),
    ("a AND NOT b", And((T("a"), Not(T("b"))))),
    ("a OR NOT b", Or((T("a"), Not(T("b"))))),
    ("NOT NOT x", T("x")),
    ("-x", Not(T("x"))),
    ("+x -y", And((T("x"), Not(T("y"))))),
    ("-(a OR b)", Not(Or((T("a"), T("b"))))),
    ('"light sheet"', Phrase(None, "light sheet", 0)),
    ('"light sheet"~3', Phrase(None, "light sheet", 3)),
    ('title:"light sheet"', Phrase("title", "light sheet", 0)),
    ("title:cell", T("cell", "title")),
    ("Title:cell", T("cell", "title")),
    ("keyword:cell", T("cell", "keywords")),
    ("authors:smith", T("smith", "author")),
    ("method:confocal", T("confocal", "imaging_method")),
    ("licence:CC0", T("CC0", "license")),
    ("total_size_bytes:100", T("100", "size")),
    ("title:(a OR b)", Or((T("a", "title"), T("b", "title")))),
    ("title:(a description:b)", And((T("a", "title"), T("b", "description")))),
    ("-title:cell", Not(T("cell", "title"))),
    ("micro*", Wildcard(None, "micro*")),
    ("te?t", Wildcard(None, "te?t")),
    ("title:micro*scopy", Wildcard("title", "micro*scopy")),
    ("microscopy~", Fuzzy(None, "microscopy", 2)),
    ("microscopy~1", Fuzzy(None, "microscopy", 1)),
    ("title:cell~0", Fuzzy("title", "cell", 0)),
    ("release_date:[2020 TO 2021]", Range("release_date", "2020", "2021", True, True)),
    ("release_date:{2020 TO 2021}", Range("release_date", "2020", "2021", False, False)),
    ("release_date:[2020-01 TO 2021-06-30}", Range("release_date", "2020-01", "2021-06-30",
                                                   True, False)),
    ("file_count:[10 TO *]", Range("file_count", "10", None, True, True)),
    ("file_count:{* TO 10}", Range("file_count", None, "10", True, False)),
    ("size:[1 GB TO 2 GB]", Range("size", "1 GB", "2 GB")),
    ("release_year:[2019 TO 2021]", Range("release_year", "2019", "2021")),
    ("file_count:>1000", Compare("file_count", ">", "1000")),
    ("file_count:>=10", Compare("file_count", ">=", "10")),
    ("release_date:<2020-06", Compare("release_date", "<", "2020-06")),
    ("size:<=500MB", Compare("size", "<=", "500MB")),
    ("size:>1.5 TB", Compare("size", ">", "1.5 TB")),
    ("size:10 GB cell", And((T("10 GB", "size"), T("cell")))),
    ("release_date:2020", T("2020", "release_date")),
    # accessions, DOIs and CURIEs stay one term; only a leading '-' excludes
    ("S-BIAD1043", T("S-BIAD1043")),
    ("EMPIAR-10002 idr0001 EMD-1234", And((T("EMPIAR-10002"), T("idr0001"), T("EMD-1234")))),
    ("10.1038/s41598-024-66600-1", T("10.1038/s41598-024-66600-1")),
    ("doi:10.1038/s41598-024-66600-1", T("10.1038/s41598-024-66600-1", "doi")),
    ("-S-BIAD1043", Not(T("S-BIAD1043"))),
    ("accession:S-BIAD1043", T("S-BIAD1043", "accession")),
    ("organism:NCBITaxon:9606", T("NCBITaxon:9606", "organism")),
    ("imaging_method:FBbi:00000246", T("FBbi:00000246", "imaging_method")),
    ("title:AND", T("AND", "title")),
    # escapes
    (r"NCBITaxon\:9606", T("NCBITaxon:9606")),
    (r"\-x", T("-x")),
    (r"c\*d", T("c*d")),
    (r"ab\*c*", Wildcard(None, r"ab\*c*")),
    (r"\(a\)", T("(a)")),
    (r"\AND", T("AND")),
    (r'"say \"hi\""', Phrase(None, 'say "hi"', 0)),
    (r"foo\ bar", T("foo bar")),
]


@pytest.mark.parametrize(("text", "expected"), GRAMMAR, ids=[g[0] or "empty" for g in GRAMMAR])
def test_grammar(text, expected):
    result = parse_query(text)
    assert result.node == expected
    assert result.warnings == []
    # the lenient reading of a valid query is the same, without warnings
    assert parse_query(text, strict=False) == ParseResult(expected, [])


def test_positions_are_offsets_of_the_clause_value():
    node = strict('cell title:"a b" -x')
    assert [c.position for c in (node.children[0], node.children[1], node.children[2].child)] \
        == [0, 11, 18]


# --------------------------------------------------------------------------- strict errors

ERRORS = [
    ("(a OR b", 0, "unclosed '('"),
    ("a (b", 2, "unclosed '('"),
    ("a)", 1, "unmatched ')'"),
    ('"light sheet', 0, "unclosed '\"'"),
    ("x release_date:[2020 TO 2021", 15, "unclosed '['"),
    ("a AND", 2, "'AND' has nothing on its right"),
    ("AND a", 0, "'AND' has nothing on its left"),
    ("a OR", 2, "'OR' has nothing on its right"),
    ("OR a", 0, "'OR' has nothing on its left"),
    ("a NOT", 2, "'NOT' has nothing to apply to"),
    ("NOT", 0, "'NOT' has nothing to apply to"),
    ("a - b", 2, "'-' must be directly followed"),
    ("a ()", 2, "empty parentheses"),
    ("title:", 0, "field 'title:' has no value"),
    ("x title: cell", 2, "field 'title:' has no value"),
    ("foo:bar", 0, "unknown field 'foo'; allowed fields: accession, author"),
    ("file_count:[abc TO 5]", 12, "invalid number 'abc'"),
    ("file_count:[1 TO 5 TO 6]", 11, "a range must look like"),
    ("file_count:[1 5]", 11, "a range must look like"),
    ("file_count:[5 TO 1]", 11, "reversed range"),
    ("file_count:many", 11, "invalid number 'many'"),
    ("size:10parsecs", 5, "invalid number '10parsecs'"),
    ("release_date:2020-13-01", 13, "invalid date '2020-13-01'"),
    ("release_date:yesterday", 13, "invalid date 'yesterday'"),
    ("release_date:2021-02-29", 13, "invalid date"),
    ("release_date:[2021 TO 2020]", 13, "reversed range"),
    ("release_date:[2020 TO 2021-13]", 22, "invalid date '2021-13'"),
    ("release_date:>tomorrow", 13, "invalid date 'tomorrow'"),
    ("[a TO b]", 0, "range queries need a field"),
    ("title:[a TO b]", 6, "range queries are not supported on field 'title'"),
    ("title:>a", 6, "comparisons are not supported on field 'title'"),
    ("file_count:>", 11, "'>' needs a value"),
    ("cell~3", 4, "fuzzy distance '~3' is not allowed"),
    ("cell~1.5", 4, "fuzzy distance"),
    ("source:EMPIAR~1", 7, "fuzzy matching is not supported on field 'source'"),
    ("*scope", 0, "leading wildcard"),
    ("title:?ell", 6, "leading wildcard"),
    ("a*", 0, "too broad"),
    ("x m?cro", 2, "too broad"),
    ("file_count:1*", 11, "wildcards are not supported on field 'file_count'"),
    ("mi*~1", 3, "a wildcard term cannot also be fuzzy"),
    ('"a b"~x', 0, "invalid phrase slop"),
    ("a ]", 2, "unexpected ']'"),
]


@pytest.mark.parametrize(("text", "position", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_strict_errors(text, position, message):
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(text)
    assert info.value.position == position
    assert message in info.value.message
    assert info.value.param == "query"
    assert str(info.value) == f"{info.value.message} (at position {position})"


def test_too_long_query():
    with pytest.raises(QuerySyntaxError, match="longer than 10") as info:
        parse_query("a" * 11, max_length=10)
    assert info.value.position == 10
    result = parse_query("ab cd efgh", strict=False, max_length=5)
    assert result.node == And((T("ab"), T("cd")))
    assert len(result.warnings) == 1


def test_too_many_clauses():
    with pytest.raises(QuerySyntaxError, match="too many clauses") as info:
        parse_query("a b c d", max_clauses=3)
    assert info.value.position == 6
    result = parse_query("a b c d e", strict=False, max_clauses=3)
    assert result.node == And((T("a"), T("b"), T("c")))
    assert len(result.warnings) == 1


def test_nesting_is_bounded():
    deep = "(" * 40 + "a" + ")" * 40
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        parse_query(deep)
    assert parse_query("(" * 1000 + "a", strict=False).node == T("a")


# --------------------------------------------------------------------------- lenient repairs

REPAIRS = [
    ("(a OR b", Or((T("a"), T("b"))), "unclosed '('"),
    ("a) b", And((T("a"), T("b"))), "unmatched ')'"),
    ('cell "light sheet', And((T("cell"), Phrase(None, "light sheet", 0))), "unclosed '\"'"),
    ("a AND", T("a"), "'AND' has nothing on its right"),
    ("OR a", T("a"), "'OR' has nothing on its left"),
    ("a OR OR b", Or((T("a"), T("b"))), "'OR' has nothing on its right"),
    ("a NOT", T("a"), "'NOT' has nothing to apply to"),
    ("a - b", And((T("a"), T("b"))), "'-' must be directly followed"),
    ("a () b", And((T("a"), T("b"))), "empty parentheses"),
    ("title: cell", T("cell"), "has no value"),
    ("foo:bar", And((T("foo"), T("bar"))), "unknown field 'foo'"),
    ('foo:"x y"', And((T("foo"), Phrase(None, "x y", 0))), "unknown field 'foo'"),
    ("file_count:[abc TO 5] cell", T("cell"), "invalid number 'abc'"),
    ("release_date:[2021 TO 2020] cell", T("cell"), "reversed range"),
    ("release_date:[2020 TO 2021", Range("release_date", "2020", "2021"), "unclosed '['"),
    ("release_date:2020-13-01 cell", T("cell"), "invalid date"),
    ("[a TO b] cell", T("cell"), "range queries need a field"),
    ("cell~5", Fuzzy(None, "cell", 2), "fuzzy distance"),
    ("*scope", T("scope"), "leading wildcard"),
    ("a* b", And((T("a"), T("b"))), "too broad"),
    ("file_count:1* cell", T("cell"), "wildcards are not supported"),
    ("title:>cell x", T("x"), "comparisons are not supported"),
    ("a ] b", And((T("a"), T("b"))), "unexpected ']'"),
    ("NOT", MatchAll(), "'NOT' has nothing to apply to"),
    ("()", MatchAll(), "empty parentheses"),
]


@pytest.mark.parametrize(("text", "expected", "warning"), REPAIRS, ids=[r[0] for r in REPAIRS])
def test_lenient_repairs(text, expected, warning):
    result = parse_query(text, strict=False)
    assert result.node == expected
    assert len(result.warnings) == 1, result.warnings
    assert warning in result.warnings[0]
    assert "position" in result.warnings[0]


# --------------------------------------------------------------------------- JSON form

def test_json_shape():
    node = strict('title:"a b"~1 -cell file_count:[1 TO 5} release_date:>=2020 mi*')
    assert to_json(node) == {"and": [
        {"phrase": {"field": "title", "value": "a b", "slop": 1}},
        {"not": {"term": {"field": None, "value": "cell"}}},
        {"range": {"field": "file_count", "gte": "1", "lt": "5"}},
        {"compare": {"field": "release_date", "op": ">=", "value": "2020"}},
        {"wildcard": {"field": None, "value": "mi*"}},
    ]}
    assert to_json(MatchAll()) == {"match_all": {}}


def test_from_json_canonicalises_aliases():
    assert from_json({"term": {"field": "licence", "value": "CC0"}}) == T("CC0", "license")
    assert from_json({"or": [{"fuzzy": {"field": None, "value": "x", "distance": 1}},
                             {"range": {"field": "size", "gt": "1GB"}}]}) \
        == Or((Fuzzy(None, "x", 1), Range("size", "1GB", None, False, True)))


BAD_JSON = [
    ([], "exactly one key"),
    ({"and": []}, "non-empty list"),
    ({"term": {"field": "foo", "value": "x"}}, "unknown field 'foo'"),
    ({"term": {"field": "title"}}, "'value' must be a string"),
    ({"term": {"field": "title", "value": "x", "boost": 2}}, "unknown key(s)"),
    ({"range": {"field": "release_date", "gte": "2021", "lte": "2020"}}, "reversed range"),
    ({"range": {"field": "release_date", "gte": "x", "gt": "y"}}, "at most one"),
    ({"fuzzy": {"field": None, "value": "x", "distance": 3}}, "fuzzy distance"),
    ({"wildcard": {"field": None, "value": "*x"}}, "leading wildcard"),
    ({"compare": {"field": "file_count", "op": "!=", "value": "1"}}, "operator"),
    ({"bogus": {}}, "unknown query node"),
    ({"match_all": {"x": 1}}, "empty object"),
    ({"not": {"not": {"not": {}}}}, "exactly one key"),
]


@pytest.mark.parametrize(("obj", "message"), BAD_JSON, ids=[str(b[0])[:40] for b in BAD_JSON])
def test_from_json_errors(obj, message):
    with pytest.raises(QuerySyntaxError) as info:
        from_json(obj)
    assert message in info.value.message
    assert info.value.param == "query" and info.value.position is None


def test_from_json_depth_is_bounded():
    obj: dict = {"term": {"field": None, "value": "x"}}
    for _ in range(100):
        obj = {"not": obj}
    with pytest.raises(QuerySyntaxError, match="nested deeper"):
        from_json(obj)


# --------------------------------------------------------------------------- properties

TOKENS = ["(", ")", '"', ":", "*", "?", "~", "AND", "OR", "NOT", "+", "-", "[", "]", "{", "}",
          "TO", "title:", "foo", "2020", "release_date:", "file_count:", "\\", ">", "=", "2",
          "S-BIAD1", "size:", "GB", "<"]
query_like = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from(["", " ", " ", "  "])),
    max_size=14,
).map(lambda parts: "".join(t + sep for t, sep in parts))
any_query = st.one_of(st.text(max_size=60), query_like)
PROPS = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(any_query)
def test_strict_parse_returns_or_raises_syntax_error(text):
    try:
        result = parse_query(text)
    except QuerySyntaxError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text)
    else:
        assert result.warnings == []


@PROPS
@given(any_query)
def test_lenient_parse_never_raises_and_roundtrips_through_json(text):
    result = parse_query(text, strict=False)
    assert isinstance(result, ParseResult)
    assert from_json(to_json(result.node)) == result.node
    # a lenient reading is itself a valid strict tree
    assert from_json(to_json(result.node)) is not None


@PROPS
@given(query_like)
def test_strict_success_means_no_lenient_repairs(text):
    try:
        node = parse_query(text).node
    except QuerySyntaxError:
        return
    assert parse_query(text, strict=False) == ParseResult(node, [])
