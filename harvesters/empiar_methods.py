"""EMPIAR experiment types, image-set categories and title phrases → FBbi imaging methods and
study types.

EMPIAR does not name an imaging method: an entry has an ``experiment_type`` (``EMDB``,
``SBF-SEM``, ``FIB-SEM``, ``SXT``…), image sets with a ``category`` (``tilt series``,
``picked particles - …``) and a title. The table ``data/empiar_methods.tsv`` maps each of
them to FBbi terms and study-type labels; an experiment type missing from the table is tried
against the shared FBbi vocabulary (only a resolved term is kept, so that codes such as
``EMDB`` never become free-text method names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from harvesters.records import ImagingMethod
from harvesters.vocab._text import compact_key, fold, read_tsv, split_list
from harvesters.vocab.fbbi import fbbi, normalise_fbbi_id, normalise_imaging_method

FIELDS = ("experiment_type", "category", "title")
_NON_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Rule:
    """One row of the mapping table."""

    field: str
    value: str
    fbbi_ids: tuple[str, ...]
    study_types: tuple[str, ...]


def _words(text: str) -> str:
    """Folded text as space-separated words, padded so that phrases match whole words."""
    return f" {' '.join(_NON_WORD.sub(' ', fold(text)).split())} "


def _row_rule(row: list[str]) -> Rule:
    row = row + [""] * (4 - len(row))
    field, value, ids, types = row[:4]
    if field not in FIELDS or not value:
        raise ValueError(f"empiar_methods.tsv: bad row {row!r}")
    curies = []
    for text in split_list(ids):
        curie = normalise_fbbi_id(text)
        term = fbbi().term(curie) if curie else None
        if term is None or term.obsolete:
            raise ValueError(f"empiar_methods.tsv: {text!r} for {value!r} is not a live FBbi term")
        curies.append(term.id)
    return Rule(field, value, tuple(curies), split_list(types))


@cache
def rules() -> tuple[Rule, ...]:
    """Every rule of the packaged table, validated against FBbi, loaded once."""
    return tuple(_row_rule(row) for row in read_tsv("harvesters", "data/empiar_methods.tsv"))


@cache
def _by_key() -> dict[tuple[str, str], Rule]:
    return {(r.field, compact_key(r.value)): r for r in rules() if r.field != "title"}


def _title_rules(title: str) -> list[Rule]:
    words = _words(title)
    return [r for r in rules() if r.field == "title" and _words(r.value) in words]


def _experiment_rules(experiment_type: str) -> tuple[list[Rule], list[ImagingMethod]]:
    """The table's rule for an experiment type, else an FBbi term it resolves to."""
    if not experiment_type:
        return [], []
    rule = _by_key().get(("experiment_type", compact_key(experiment_type)))
    if rule:
        return [rule], []
    method = normalise_imaging_method(experiment_type)
    return [], [method] if method and method.fbbi_id else []


def classify(experiment_type: str, categories: Iterable[str], title: str) -> tuple[list[ImagingMethod], list[str]]:
    """Imaging methods (FBbi, most specific only) and study types of one EMPIAR entry."""
    matched, extra = _experiment_rules(experiment_type)
    for category in categories:
        rule = _by_key().get(("category", compact_key(category)))
        if rule:
            matched.append(rule)
    matched += _title_rules(title)
    curies = _unique(c for rule in matched for c in rule.fbbi_ids)
    methods = [normalise_imaging_method(None, curie) for curie in curies] + extra
    study_types = _unique(t for rule in matched for t in rule.study_types)
    return most_specific([m for m in methods if m is not None]), study_types


def most_specific(methods: list[ImagingMethod]) -> list[ImagingMethod]:
    """Drop repeats and any method that is an ``is_a`` ancestor of another one listed
    ("tomography" beside "X-ray tomography")."""
    ids = {m.fbbi_id for m in methods if m.fbbi_id}
    broader = set().union(*(fbbi().ancestors(i) for i in ids)) if ids else set()
    out: dict[str, ImagingMethod] = {}
    for method in methods:
        key = method.fbbi_id or method.name.lower()
        if key not in broader:
            out.setdefault(key, method)
    return list(out.values())


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
