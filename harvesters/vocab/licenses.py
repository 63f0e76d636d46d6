"""Licences: one canonical name and URL for every spelling of the common data licences.

Creative Commons licences are recognised by rule: CC0, the Public Domain Mark and every
Attribution variant (BY, BY-SA, BY-ND, BY-NC, BY-NC-SA, BY-NC-ND) in versions 1.0, 2.0,
2.5, 3.0 and 4.0, named like ``"CC BY-NC-SA 3.0"`` with the URL form GIDE and BioStudies use
(``https://creativecommons.org/licenses/by-nc-sa/3.0/``: https, trailing slash, no
``legalcode``). Other licences (MIT, Apache-2.0, EMBL-EBI terms of use…) come from
``data/licenses.tsv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from harvesters.records import License
from harvesters.vocab._text import clean_text, compact_key, fold, read_tsv, split_list

_CC0 = License(name="CC0 1.0", url="https://creativecommons.org/publicdomain/zero/1.0/")
_PDM = License(name="Public Domain Mark 1.0", url="https://creativecommons.org/publicdomain/mark/1.0/")
_VERSIONS = frozenset({"1.0", "2.0", "2.5", "3.0", "4.0"})
_DEFAULT_VERSION = "4.0"
_ELEMENTS = ("by", "nc", "nd", "sa")
_FILLER = frozenset(
    {"license", "licence", "licensed", "licenses", "licences", "international", "unported",
     "generic", "legalcode", "legal", "code", "deed", "the", "under", "a", "of", "version",
     "v", "cc", "ported", "en", "spdx", "and", "with", "universal"}
)
_PHRASES = (
    (re.compile(r"creative[\s_-]*commons"), " cc "),
    (re.compile(r"attribution"), " by attribution "),
    (re.compile(r"non[\s_-]*commercial"), " nc "),
    (re.compile(r"no[\s_-]*deriv(?:ative|ed)?s?(?:[\s_-]*works)?"), " nd "),
    (re.compile(r"share[\s_-]*alike"), " sa "),
    (re.compile(r"\bcc(?=by)"), "cc "),
)
_CC_URL = re.compile(
    r"creativecommons\.org/licen[sc]es/([a-z-]+)/(\d(?:\.\d)?)(?:/([a-z]{2,3})(?=/|$|\.|\?|#))?"
)
_PD_URL = re.compile(r"creativecommons\.org/publicdomain/(zero|mark)/1\.0")
_SPDX_URL = re.compile(r"spdx\.org/licenses/([a-z0-9.+-]+?)(?:\.html|\.json)?/?$")
_URL_LIKE = re.compile(r"^(?:https?://|www\.)", re.I)
_HOST_PATH = re.compile(r"^[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:[/?#]\S*)?$", re.I)


@dataclass(frozen=True)
class _Known:
    by_key: dict[str, License]
    by_url: dict[str, License]


def normalise_license(text: str | None, url: str | None = None) -> License | None:
    """Map a licence name and/or URL to ``License(canonical name, canonical URL)``.

    A recognised URL wins over the text (it carries the version). Names are matched in any
    spelling: ``"CC-BY 4.0"``, ``"CC-BY-4.0"``, ``"Attribution 4.0 International"``,
    ``"Creative Commons Attribution-NonCommercial 3.0 Unported"``, ``"CC0"``, ``"CC-0"``,
    ``"Public domain dedication"``. A Creative Commons licence written without a version
    maps to its 4.0 form: BioStudies' submission templates only offer 4.0, so an unversioned
    ``"CC BY"`` there means CC BY 4.0. Unknown text is kept, cleaned, with the given URL;
    empty input gives ``None``.
    """
    name = clean_text(text)
    link = clean_text(url)
    if link and not _looks_like_url(link):
        name, link = name or link, ""  # a licence name given where a URL belongs
    if name and not link and _looks_like_url(name):
        link = name
    for candidate in (_from_url(link), _from_url(name), _from_name(name), _from_name(link)):
        if candidate is not None:
            return candidate
    if not name and not link:
        return None
    return License(name=name or link, url=link or None)


def _looks_like_url(text: str) -> bool:
    return bool(_URL_LIKE.match(text) or _HOST_PATH.match(text))


# -- names -------------------------------------------------------------------------------


def _from_name(name: str) -> License | None:
    if not name or _URL_LIKE.match(name):
        return None
    known = _known().by_key.get(compact_key(name))
    if known is not None:
        return known
    return _creative_commons(fold(name))


def _creative_commons(text: str) -> License | None:
    """Recognise a Creative Commons licence in folded free text."""
    if re.search(r"public\s*domain\s*mark", text):
        return _PDM
    text = re.sub(r"public\s*domain(?:\s*dedication)?|\bcc[\s_-]*(?:0|zero)\b", " cc0 ", text)
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    tokens = re.findall(r"cc0|\d+(?:\.\d+)?|[a-z]+", text)
    if not tokens or any(t not in _FILLER and t not in _ELEMENTS and t not in {"cc0", "attribution"}
                         and not t[0].isdigit() for t in tokens):
        return None
    versions = {_version(t) for t in tokens if t[0].isdigit()}
    if len(versions) > 1:
        return None
    version = versions.pop() if versions else None
    elements = {t for t in tokens if t in _ELEMENTS}
    if "cc0" in tokens:
        return _CC0 if not elements and version in (None, "1.0") else None
    explicit = bool({"cc", "attribution"} & set(tokens)) or len(elements) > 1 or version is not None
    if not elements or not explicit or not ({"cc", "attribution"} & set(tokens) or "by" in elements):
        return None
    return _cc_license(elements | {"by"}, version or _DEFAULT_VERSION, None)


def _version(token: str) -> str:
    return token if "." in token else f"{token}.0"


def _cc_license(elements: set[str], version: str, jurisdiction: str | None) -> License | None:
    if version not in _VERSIONS or {"nd", "sa"} <= elements or not elements <= set(_ELEMENTS):
        return None
    parts = ["by"] + [part for part in ("nc", "nd", "sa") if part in elements]
    code = "-".join(parts)
    path_code = "by-nd-nc" if code == "by-nc-nd" and version == "1.0" else code
    name = f"CC {code.upper()} {version}"
    path = f"{path_code}/{version}/"
    if jurisdiction:
        name += f" {jurisdiction.upper()}"
        path += f"{jurisdiction}/"
    return License(name=name, url=f"https://creativecommons.org/licenses/{path}")


# -- URLs ----------------------------------------------------------------------------------


def _from_url(link: str) -> License | None:
    if not link or not _URL_LIKE.match(link) and "creativecommons.org" not in link.lower():
        return None
    lowered = link.lower()
    match = _PD_URL.search(lowered)
    if match:
        return _CC0 if match.group(1) == "zero" else _PDM
    match = _CC_URL.search(lowered)
    if match:
        code, version, jurisdiction = match.groups()
        elements = set(code.split("-"))
        return _cc_license(elements, _version(version), jurisdiction) if "by" in elements else None
    match = _SPDX_URL.search(lowered)
    if match:
        return _from_name(match.group(1))
    return _known().by_url.get(_url_key(link))


def _url_key(link: str) -> str:
    key = re.sub(r"^(?:https?://)?(?:www\.)?", "", link.strip().lower())
    key = key.replace("opensource.org/license/", "opensource.org/licenses/")
    key = re.sub(r"(?:\.html?|\.txt|\.php)?/*$", "", key)
    return key


@cache
def _known() -> _Known:
    by_key: dict[str, License] = {}
    by_url: dict[str, License] = {}
    for row in read_tsv("harvesters.vocab", "data/licenses.tsv"):
        row = row + [""] * (3 - len(row))
        licence = License(name=row[0], url=row[1] or None)
        for spelling in (row[0], *split_list(row[2])):
            by_key.setdefault(compact_key(spelling), licence)
        if row[1]:
            by_url[_url_key(row[1])] = licence
    return _Known(by_key, by_url)
