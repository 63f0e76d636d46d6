"""Imaging methods: the Biological Imaging Methods Ontology (FBbi).

The ontology ships with the package (``data/fbbi.obo``, release 2020-11-06) together with a
small curated alias table (``data/fbbi_aliases.tsv``) for abbreviations and phrasings
depositors use that the ontology lacks. :func:`fbbi` loads both once;
:func:`normalise_imaging_method` turns a free-text method (and/or an accession in any form)
into an :class:`~harvesters.records.ImagingMethod`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Callable, Iterable, Iterator
from urllib.parse import unquote

from harvesters.records import ImagingMethod
from harvesters.vocab._text import clean_text, compact_key, read_tsv, split_trailing_parenthesis

_PACKAGE = "harvesters.vocab"
_OBO = "data/fbbi.obo"
_ALIASES = "data/fbbi_aliases.tsv"

# Match priorities: lower wins. A live term always beats an obsolete one.
_NAME, _ALIAS, _EXACT, _NAME_PART, _RELATED, _OTHER_SYNONYM = range(6)
_SCOPE_PRIORITY = {"EXACT": _EXACT, "RELATED": _RELATED, "NARROW": _OTHER_SYNONYM, "BROAD": _OTHER_SYNONYM}

_ID_BODY = re.compile(r"^(?:(?:https?://purl\.obolibrary\.org/obo/|obo:)?fbbi[:_ ]?)?(\d{8})$", re.I)
_ID_IN_URL = re.compile(r"fbbi[:_](\d{8})(?!\d)", re.I)
_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|NARROW|BROAD)\b')
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_METHOD_NOUNS = re.compile(r"\b(imaging|microscope|microscopic)\b", re.I)
# Branches whose terms are imaging methods in the broad sense (see Ontology.is_imaging_method).
_METHOD_ROOTS = frozenset(
    {"FBbi:00000222", "FBbi:00000268", "FBbi:00000269", "FBbi:00000270", "FBbi:00000271", "FBbi:00000321"}
)


@dataclass(frozen=True)
class Term:
    """One FBbi term: CURIE id, label, synonyms, ``is_a`` parents and obsolescence."""

    id: str
    name: str
    synonyms: tuple[str, ...]
    parents: tuple[str, ...]
    obsolete: bool


def normalise_fbbi_id(text: str | None) -> str | None:
    """Return the FBbi CURIE (``FBbi:00000251``) for an accession in any common form.

    Accepts ``FBbi:00000251``, ``FBbi_00000251``, ``fbbi:00000251``, ``obo:FBbi_00000251``,
    PURLs (``http://purl.obolibrary.org/obo/FBbi_00000251``), OLS URLs that embed one, and
    the bare eight digits ``00000251``. Anything else gives ``None``.
    """
    value = clean_text(text)
    if not value:
        return None
    match = _ID_BODY.match(value)
    if match is None and "://" in value:
        found = _ID_IN_URL.findall(unquote(value))
        match_digits = found[-1] if found else None
    else:
        match_digits = match.group(1) if match else None
    return f"FBbi:{match_digits}" if match_digits else None


class Ontology:
    """The FBbi terms with a text index for :meth:`lookup` and ``is_a`` navigation."""

    def __init__(
        self,
        terms: Iterable[Term],
        aliases: Iterable[tuple[str, str]] = (),
        scopes: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Index ``terms``; ``aliases`` are ``(text, curie)`` pairs, ``scopes`` maps
        ``curie -> synonym -> EXACT|RELATED|NARROW|BROAD`` (RELATED when missing)."""
        self._terms: dict[str, Term] = {term.id: term for term in terms}
        self._children: dict[str, set[str]] = defaultdict(set)
        for term in self._terms.values():
            for parent in term.parents:
                self._children[parent].add(term.id)
        self._scopes = scopes or {}
        self._aliases = tuple(aliases)
        self._index: dict[str, list[tuple[bool, int, str]]] = defaultdict(list)
        self._method_ids: dict[str, bool] = {}
        self._build_index()

    # -- construction ---------------------------------------------------------------

    def _add(self, text: str, priority: int, term: Term) -> None:
        key = compact_key(text)
        if key:
            self._index[key].append((term.obsolete, priority, term.id))

    def _build_index(self) -> None:
        for term in self._terms.values():
            self._add(term.name, _NAME, term)
            parts = split_trailing_parenthesis(term.name)
            if parts:
                self._add(parts[0], _NAME_PART, term)
                self._add(parts[1], _NAME_PART, term)
            for synonym in term.synonyms:
                scope = self._scopes.get(term.id, {}).get(synonym, "RELATED")
                self._add(synonym, _SCOPE_PRIORITY[scope], term)
        for alias, curie in self._aliases:
            term = self._terms.get(curie)
            if term is None:
                raise ValueError(f"FBbi alias {alias!r} points at unknown term {curie}")
            self._add(alias, _ALIAS, term)
        for matches in self._index.values():
            matches.sort()

    @classmethod
    def from_obo(cls, text: str, aliases: Iterable[tuple[str, str]] = ()) -> "Ontology":
        """Parse OBO 1.2 text (its FBbi ``[Term]`` stanzas) plus ``(alias, curie)`` pairs."""
        terms: list[Term] = []
        scopes: dict[str, dict[str, str]] = {}
        for stanza in _term_stanzas(text):
            term, term_scopes = _parse_stanza(stanza)
            if term is not None:
                terms.append(term)
                scopes[term.id] = term_scopes
        return cls(terms, aliases, scopes)

    # -- access ------------------------------------------------------------------------

    def term(self, curie_or_any_id_form: str) -> Term | None:
        """The term for an id in any form :func:`normalise_fbbi_id` accepts, else ``None``."""
        curie = normalise_fbbi_id(curie_or_any_id_form)
        return self._terms.get(curie) if curie else None

    def label(self, curie: str) -> str | None:
        """The term's name, or ``None`` for an unknown id."""
        term = self.term(curie)
        return term.name if term else None

    def all_terms(self) -> Iterable[Term]:
        """Every FBbi term of the file, obsolete ones included, in id order."""
        return [self._terms[curie] for curie in sorted(self._terms)]

    def aliases(self) -> tuple[tuple[str, str], ...]:
        """The curated ``(alias, curie)`` pairs the index was built with."""
        return self._aliases

    def descendants(self, curie: str) -> set[str]:
        """All narrower terms (transitive ``is_a`` children), excluding the term itself."""
        return self._walk(curie, lambda node: self._children.get(node, ()))

    def ancestors(self, curie: str) -> set[str]:
        """All broader terms (transitive ``is_a`` parents), excluding the term itself."""
        return self._walk(curie, lambda node: self._terms[node].parents if node in self._terms else ())

    def _walk(self, curie: str, step: Callable[[str], Iterable[str]]) -> set[str]:
        start = normalise_fbbi_id(curie)
        if start is None or start not in self._terms:
            return set()
        seen: set[str] = set()
        stack = list(step(start))
        while stack:
            node = stack.pop()
            if node not in seen and node != start:
                seen.add(node)
                stack.extend(step(node))
        return seen

    # -- free text ---------------------------------------------------------------------

    def lookup(self, text: str | None) -> Term | None:
        """Resolve free text (a method name, synonym, alias or id) to a term.

        Matching ignores case, accents, whitespace, hyphens and punctuation. A trailing
        parenthesis is tried as an id (``"confocal microscopy (Fbbi:00000251)"``), then
        dropped (``"transmission electron microscopy (TEM)"``), then on its own. Cheap
        variants follow: plural words made singular and ``imaging``/``microscope`` read as
        ``microscopy``. Term names beat curated aliases, which beat EXACT synonyms,
        abbreviations inside names, RELATED and then other synonyms; a live term always
        beats an obsolete one, which is only returned when nothing live matches.
        """
        return self._resolve(text, lambda curie: True)

    def is_imaging_method(self, curie: str) -> bool:
        """True for terms in the method branches (imaging, illumination, detection,
        contrast- and resolution-enhancing methods, imaged parameter); False for sample
        preparation, visualisation reagents (dyes, fluorescent proteins) and sources of
        contrast."""
        curie = normalise_fbbi_id(curie) or ""
        if curie not in self._method_ids:
            self._method_ids[curie] = curie in self._terms and bool(
                (self.ancestors(curie) | {curie}) & _METHOD_ROOTS
            )
        return self._method_ids[curie]

    def lookup_method(self, text: str | None) -> Term | None:
        """Like :meth:`lookup` but only considers :meth:`is_imaging_method` terms, so that
        ``"live-cell imaging"`` does not become the sample-preparation term
        ``living tissue`` nor ``"GFP"`` the reagent ``EGFP``."""
        return self._resolve(text, self.is_imaging_method)

    def _resolve(self, text: str | None, accept: Callable[[str], bool]) -> Term | None:
        cleaned = clean_text(text)
        if not cleaned:
            return None
        by_id = self.term(cleaned)
        if by_id is not None:
            return by_id if accept(by_id.id) else None
        best: tuple[bool, int, str] | None = None
        for candidate in _candidates(cleaned):
            by_id = self.term(candidate)
            if by_id is not None and not by_id.obsolete and accept(by_id.id):
                return by_id
            for match in self._index.get(compact_key(candidate), ()):
                if accept(match[2]):
                    if best is None or match < best:
                        best = match
                    break
            if best is not None and not best[0]:
                break
        return self._terms[best[2]] if best else None


def _candidates(text: str) -> Iterator[str]:
    """Spellings of ``text`` to try, most faithful first."""
    yield text
    parts = split_trailing_parenthesis(text)
    bases = [text]
    if parts:
        main, inner = parts
        if normalise_fbbi_id(inner):
            yield inner  # "confocal microscopy (Fbbi:00000251)"
        if main:
            yield main
            bases.append(main)
    for base in bases:
        singular = _singular(base)
        for variant in (singular, _METHOD_NOUNS.sub("microscopy", base), _METHOD_NOUNS.sub("microscopy", singular)):
            if variant != base:
                yield variant
    if parts and parts[1]:
        yield parts[1]


def _singular(text: str) -> str:
    """Make plural English words singular (``microscopies`` -> ``microscopy``)."""

    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        lower = word.lower()
        if len(word) > 4 and lower.endswith("ies"):
            return word[:-3] + "y"
        if len(word) > 3 and lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
            return word[:-1]
        return word

    return _WORD.sub(one, text)


def _term_stanzas(text: str) -> Iterator[list[str]]:
    stanza: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            if stanza is not None:
                yield stanza
            stanza = [] if line == "[Term]" else None
        elif stanza is not None and line:
            stanza.append(line)
    if stanza is not None:
        yield stanza


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _parse_stanza(lines: list[str]) -> tuple[Term | None, dict[str, str]]:
    fields: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        tag, _, value = line.partition(":")
        fields[tag.strip()].append(value.strip())
    curie = (fields.get("id") or [""])[0]
    if not re.fullmatch(r"FBbi:\d{8}", curie):
        return None, {}
    synonyms: list[str] = []
    scopes: dict[str, str] = {}
    for value in fields.get("synonym", []):
        match = _SYNONYM.match(value)
        if match:
            synonym = _unescape(match.group(1))
            synonyms.append(synonym)
            scopes.setdefault(synonym, match.group(2))
    parents = tuple(
        parent
        for parent in (value.split("!")[0].strip() for value in fields.get("is_a", []))
        if re.fullmatch(r"FBbi:\d{8}", parent)
    )
    term = Term(
        id=curie,
        name=_unescape((fields.get("name") or [curie])[0]),
        synonyms=tuple(synonyms),
        parents=parents,
        obsolete=(fields.get("is_obsolete") or ["false"])[0].lower() == "true",
    )
    return term, scopes


def _load_aliases() -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for row in read_tsv(_PACKAGE, _ALIASES):
        if len(row) >= 2 and row[0]:
            curie = normalise_fbbi_id(row[1])
            if curie is None:
                raise ValueError(f"bad FBbi id {row[1]!r} for alias {row[0]!r}")
            pairs.append((row[0], curie))
    return pairs


@cache
def fbbi() -> Ontology:
    """The packaged FBbi ontology with the curated aliases, loaded once."""
    text = resources.files(_PACKAGE).joinpath(_OBO).read_text(encoding="utf-8")
    return Ontology.from_obo(text, _load_aliases())


def normalise_imaging_method(text: str | None, term_id: str | None = None) -> ImagingMethod | None:
    """Normalise an imaging method given as free text and/or an FBbi accession.

    A ``term_id`` that resolves to a live term wins (the name becomes the term's label).
    Otherwise the text is looked up; a live match gives ``ImagingMethod(term.name, term.id)``.
    Text that does not resolve (``"single cell"``, ``"PARS"``) is kept, cleaned, with
    ``fbbi_id=None``. Empty input gives ``None``.
    """
    ontology = fbbi()
    if term_id is not None:
        by_id = ontology.term(term_id)
        if by_id is not None and not by_id.obsolete:
            return ImagingMethod(name=by_id.name, fbbi_id=by_id.id)
    cleaned = clean_text(text)
    if not cleaned:
        return None
    term = ontology.lookup_method(cleaned)
    if term is not None and not term.obsolete:
        return ImagingMethod(name=term.name, fbbi_id=term.id)
    return ImagingMethod(name=cleaned, fbbi_id=None)
