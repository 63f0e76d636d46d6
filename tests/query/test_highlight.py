"""``query.highlight.Highlighter`` returns what ``whoosh.highlight.highlight`` returns, for
titles (whole text) and snippets (context fragments), on generated texts and terms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import highlight as whoosh_highlight
from whoosh.analysis import StandardAnalyzer
from whoosh.fields import TEXT

from indexer.schema import build_schema, text_analyzer
from query.highlight import CHAR_LIMIT, Highlighter

SCHEMA = build_schema()
WORDS = ["cell", "cells", "Cells", "imaging", "image", "IMAGED", "mouse", "mice", "brain", "HeLa",
         "light-sheet", "3D", "d'Arcy", "St.", "x", "İstanbul", "naïve", "Ångström", "<b>", "&", "’s",
         "a" * 70, "microscopy", "EM", "fluorescent", "tissue"]
SEPARATORS = [" ", " ", " ", ", ", ". ", "; ", "\n", " (", ") ", " - ", "  ", "\t", "/"]


def whoosh_formatter():
    return whoosh_highlight.HtmlFormatter(tagname="mark", classname="match", termclass="t")


def expected_snippet(fieldobj, text, terms, maxchars, surround, top):
    fragmenter = whoosh_highlight.ContextFragmenter(maxchars=maxchars, surround=surround)
    return whoosh_highlight.highlight(text, terms, fieldobj.analyzer, fragmenter, whoosh_formatter(), top=top)


def expected_whole(fieldobj, text, terms):
    return whoosh_highlight.highlight(text, terms, fieldobj.analyzer, whoosh_highlight.WholeFragmenter(), whoosh_formatter(), top=1)


def index_terms(fieldobj, text):
    return [t.text for t in fieldobj.analyzer(text, mode="query")]


texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=120).map(
    lambda pairs: "".join(w + s for w, s in pairs))


@st.composite
def text_and_terms(draw):
    text = draw(texts)
    present = sorted(set(index_terms(SCHEMA["description"], text)))
    chosen = draw(st.lists(st.sampled_from(present), max_size=4)) if present else []
    extra = draw(st.lists(st.sampled_from(["cell", "imag", "absent", "mous", "x"]), max_size=2))
    return text, frozenset(chosen + extra)


@settings(max_examples=300, deadline=None)
@given(text_and_terms(), st.integers(1, 300), st.integers(0, 80), st.integers(1, 3))
def test_snippets_are_whooshs(case, maxchars, surround, top):
    text, terms = case
    field = SCHEMA["description"]
    assert Highlighter(field).snippet(text, terms, maxchars, surround, top) == expected_snippet(field, text, terms, maxchars, surround, top)


@settings(max_examples=200, deadline=None)
@given(text_and_terms())
def test_whole_texts_are_whooshs(case):
    text, terms = case
    field = SCHEMA["title"]
    assert Highlighter(field).whole(text, terms) == expected_whole(field, text, terms)


def test_a_snippet_marks_words_numbering_them_per_text():
    field = SCHEMA["description"]
    text = "Cells & cells of the mouse <brain>; more cells."
    got = Highlighter(field).snippet(text, frozenset({"cell", "brain"}), 240, 60, 2)
    assert got == ('<mark class="match t0">Cells</mark> &amp; <mark class="match t1">cells</mark> of the mouse '
                   '&lt;<mark class="match t2">brain</mark>&gt;; more <mark class="match t1">cells</mark>')
    assert got == expected_snippet(field, text, frozenset({"cell", "brain"}), 240, 60, 2)


def test_far_apart_matches_give_two_passages_joined_by_dots():
    field = SCHEMA["description"]
    text = "cell " + "word " * 200 + "cell " + "other " * 100 + "cell"
    got = Highlighter(field).snippet(text, frozenset({"cell"}), 60, 20, 2)
    assert got.count("...") == 1 and got.count("<mark") == 2
    assert got == expected_snippet(field, text, frozenset({"cell"}), 60, 20, 2)


def test_nothing_matching_gives_an_empty_string():
    field = SCHEMA["description"]
    assert Highlighter(field).snippet("no match here", frozenset({"cell"}), 240, 60, 2) == ""
    assert Highlighter(field).whole("no match here", frozenset({"cell"})) == ""


def test_words_past_whooshs_character_limit_are_not_marked():
    field = SCHEMA["description"]
    text = "cell " * (CHAR_LIMIT // 5 + 50)
    assert Highlighter(field).snippet(text, frozenset({"cell"}), 240, 60, 2) == expected_snippet(field, text, frozenset({"cell"}), 240, 60, 2)
    assert Highlighter(field).whole(text, frozenset({"cell"})) == expected_whole(field, text, frozenset({"cell"}))


@settings(max_examples=50, deadline=None)
@given(texts)
def test_a_field_with_another_analyzer_goes_through_whoosh(text):
    field = TEXT(analyzer=StandardAnalyzer())  # a stop filter: not one plan_for reproduces
    terms = frozenset(index_terms(field, text)[:2])
    assert Highlighter(field).snippet(text, terms, 100, 30, 2) == expected_snippet(field, text, terms, 100, 30, 2)
    assert Highlighter(TEXT(analyzer=text_analyzer())).whole(text, terms) == expected_whole(TEXT(analyzer=text_analyzer()), text, terms)


def finditer_spans(fieldobj, text, terms):
    """Every token by ``finditer``, with its index term when that is one of ``terms``."""
    highlighter = Highlighter(fieldobj)
    plan = highlighter._plan
    out = []
    for m in plan.pattern.finditer(text):
        word = plan.term(m.group(0))
        out.append((m.start(), m.end(), word if word in terms else None))
    return out


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text()), st.lists(st.sampled_from(["cell", "imag", "mous", "x", "ångström", "a"]), max_size=3))
def test_tokens_split_in_one_pass_are_the_tokenizers_matches(text, chosen):
    # The one-pass split must find the same tokens at the same offsets as the tokenizer,
    # on any text (not only the word list above).
    terms = frozenset(chosen)
    for name in ("title", "description"):
        field = SCHEMA[name]
        assert Highlighter(field)._spans(text, terms) == finditer_spans(field, text, terms)


def test_the_word_table_starts_afresh_when_full_and_still_marks_words(monkeypatch):
    monkeypatch.setattr("query.highlight.KNOWN_WORDS_LIMIT", 3)
    field = SCHEMA["description"]
    highlighter = Highlighter(field)
    texts_and_terms = [("Imaging of mouse cells", {"imag", "cell"}), ("HeLa cells imaged in 3D", {"cell"}),
                       ("Mice brain cells imaging", {"cell", "mice"})]
    for text, terms in texts_and_terms:
        assert highlighter.snippet(text, frozenset(terms), 240, 60, 2) == expected_snippet(field, text, frozenset(terms), 240, 60, 2)
        assert "<mark" in highlighter.snippet(text, frozenset(terms), 240, 60, 2)
    # Replaced when full: the table holds the last text's words, "cells" (seen before the
    # reset) among them, and it was marked above.
    assert set(highlighter._known[0]) == {"Mice", "brain", "cells", "imaging"}
