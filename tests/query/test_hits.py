"""A result-list entry: the matched words of title and description marked, the terms
numbered per text (not by what earlier requests highlighted)."""

from __future__ import annotations

from indexer.schema import build_schema
from query.hits import render_hit

SCHEMA = build_schema()


def test_a_hit_marks_the_matched_words_of_title_and_description():
    stored = {"summary": b'{"accession": "S-X"}', "title": "Imaging of mouse cells",
              "description": "Light-sheet imaging of whole mouse brains; the cells are marked."}
    hit = render_hit(stored, {"title": {"cell"}, "description": {"cell", "brain"}}, SCHEMA, 1.23456, None)
    assert hit["title_html"] == 'Imaging of mouse <mark class="match t0">cells</mark>'
    again = render_hit(stored, {"title": {"mous", "cell"}}, SCHEMA, None, None)
    assert again["title_html"] == 'Imaging of <mark class="match t0">mouse</mark> <mark class="match t1">cells</mark>'
    assert '<mark class="match' in hit["snippet"] and "brains</mark>" in hit["snippet"] and "cells</mark>" in hit["snippet"]
    assert hit["score"] == 1.2346
