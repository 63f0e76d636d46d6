"""People of an EMPIAR entry: the author list ("Surname Initials" names, kept as given), the
principal investigators and the corresponding author (detailed records with first and last
names, ORCID and organisation), merged into one author list with roles and affiliations.
"""

from __future__ import annotations

import re

from harvesters.identifiers import normalise_orcid
from harvesters.records import Author, Organisation
from harvesters.vocab._text import clean_text, compact_key

PI_ROLE = "principal investigator"
CORRESPONDING_ROLE = "corresponding author"
_TUPLE_NAME = re.compile(r"^\(\s*u?['\"](.*?)['\"]\s*,\s*u?['\"](.*?)['\"]\s*\)$")
_INITIALS = re.compile(r"^[A-Z]{1,4}$")
_ADDRESS_FIELDS = ("street", "town_or_city", "state_or_province", "post_or_zip", "country")


def text(value: object) -> str:
    """Cleaned text of a scalar JSON value; "" for None, booleans, lists and objects."""
    if value is None or isinstance(value, (bool, dict, list)):
        return ""
    return " ".join(str(value).split())


def as_dict(value: object) -> dict:
    """The value if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def person_name(value: object) -> str:
    """A name as given; the deposition system's tuple form "('Smith', 'JW')" becomes "Smith JW"."""
    name = text(value)
    match = _TUPLE_NAME.match(name)
    if match:
        name = " ".join(part for part in match.groups() if part.strip())
    return clean_text(name)


def orcid_of(value: object) -> str | None:
    """An ORCID iD from a string or an object holding ``author_orcid``."""
    if isinstance(value, dict):
        value = value.get("author_orcid")
    return normalise_orcid(text(value))


def _initials(*names: object) -> str:
    parts = re.split(r"[\s\-.]+", " ".join(text(n) for n in names))
    return "".join(part[0].upper() for part in parts if part and part[0].isalpha())


def _unwrap(value: object) -> dict:
    person = as_dict(value)
    return as_dict(person["author"]) if isinstance(person.get("author"), dict) else person


def entry_authors(entry: dict) -> list[Author]:
    """The entry's author list in order, repeats (same name and ORCID) dropped."""
    authors: dict[tuple[str, str | None], Author] = {}
    for item in as_list(entry.get("authors")):
        person = _unwrap(item) if isinstance(item, dict) else {"name": item}
        name = person_name(person.get("name"))
        if name:
            orcid = orcid_of(person.get("author_orcid"))
            authors.setdefault((name, orcid), Author(name=name, orcid=orcid))
    return list(authors.values())


def detailed_person(value: object) -> tuple[Author, Organisation | None] | None:
    """A PI or corresponding author as an Author named "Surname Initials" (matching the
    author list), plus their organisation; e-mail addresses are not kept."""
    person = _unwrap(value)
    surname = text(person.get("last_name"))
    name = person_name(person.get("name")) or " ".join(
        p for p in (surname, _initials(person.get("first_name"), person.get("middle_name"))) if p
    )
    if not name:
        return None
    org_name = clean_text(text(person.get("organization")))
    address = ", ".join(dict.fromkeys(a for a in (text(person.get(f)) for f in _ADDRESS_FIELDS) if a)) or None
    org = Organisation(name=org_name, address=address) if org_name else None
    author = Author(name=name, orcid=orcid_of(person.get("author_orcid")), affiliations=[org_name] if org_name else [])
    return author, org


def _split(name: str) -> tuple[str, str]:
    tokens = name.split()
    if len(tokens) > 1 and _INITIALS.match(tokens[-1]):
        return " ".join(tokens[:-1]), tokens[-1]
    return name, ""


def _find(authors: list[Author], person: Author) -> Author | None:
    """The listed author this person is: same ORCID, same name, or else the only author
    with the same surname and first initial ("Hamdan S" is "Hamdan SM")."""
    if person.orcid:
        for author in authors:
            if author.orcid == person.orcid:
                return author
    key = compact_key(person.name)
    for author in authors:
        if compact_key(author.name) == key:
            return author
    surname, initials = _split(person.name)
    if not initials:
        return None
    similar = [
        a for a in authors
        if compact_key(_split(a.name)[0]) == compact_key(surname) and _split(a.name)[1][:1] == initials[:1]
    ]
    return similar[0] if len(similar) == 1 else None


def _merge(authors: list[Author], person: Author, role: str) -> None:
    match = _find(authors, person)
    if match is None:
        person.roles = [role]
        authors.append(person)
        return
    match.roles = list(dict.fromkeys([*match.roles, role]))
    match.orcid = match.orcid or person.orcid
    match.affiliations = list(dict.fromkeys([*match.affiliations, *person.affiliations]))


def people(entry: dict) -> tuple[list[Author], list[Organisation]]:
    """Authors (with PI and corresponding-author roles merged in) and their organisations."""
    authors = entry_authors(entry)
    orgs: dict[str, Organisation] = {}
    roles = [(p, PI_ROLE) for p in as_list(entry.get("principal_investigator"))]
    roles.append((entry.get("corresponding_author"), CORRESPONDING_ROLE))
    for value, role in roles:
        found = detailed_person(value)
        if found is None:
            continue
        author, org = found
        _merge(authors, author, role)
        if org is not None:
            orgs.setdefault(compact_key(org.name), org)
    return authors, list(orgs.values())
