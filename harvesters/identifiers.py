"""Normalisers for identifiers depositors type by hand: DOIs, ORCID iDs, PubMed and PMC ids,
and typing of cross-reference links (EMPIAR, EMDB, IDR, BioStudies, ENA, DOI, URL).

Each returns the canonical form or None; none of them raises on odd input.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from harvesters.records import Link

DOI_CORE = re.compile(r"(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
DOI_URL = re.compile(r"^(?:https?://)?(?:dx\.)?doi\.org/", re.IGNORECASE)
NATURE_ARTICLE = re.compile(r"nature\.com/articles/([a-z0-9.\-]+)", re.IGNORECASE)
ARXIV = re.compile(r"^(?:arxiv:\s*|https?://arxiv\.org/abs/)(\d{4}\.\d{4,5})(?:v\d+)?$", re.IGNORECASE)
BIORXIV_SUFFIX = re.compile(r"^(\d{4}\.\d{2}\.\d{2}\.\d{6})(?:v\d+)?$")
TRUNCATED_PREFIX = re.compile(r"^0\.(\d{4,9}/)")
ORCID_CORE = re.compile(r"(\d{4})-?(\d{4})-?(\d{4})-?(\d{3}[\dXx])")
PMC = re.compile(r"^(?:PMC)?\s*(\d{4,9})$", re.IGNORECASE)
PUBMED = re.compile(r"^(?:PMID:?\s*)?(\d{1,9})$", re.IGNORECASE)
EMPIAR = re.compile(r"\bEMPIAR[-_ ]?(\d{5})\b", re.IGNORECASE)
EMDB = re.compile(r"\bEMD[-_ ]?(\d{4,5})\b", re.IGNORECASE)
IDR_ACC = re.compile(r"\b(idr\d{4})\b", re.IGNORECASE)
BIOSTUDIES = re.compile(r"\b(S-[A-Z]{2,5}\d+)\b")
ENA = re.compile(r"^(?:PRJ[EDN][A-Z]\d+|[EDS]R[APRSXZ]\d{6,})$")
TRAILING_JUNK = ".,;)]}'\""


def normalise_doi(text: str | None) -> str | None:
    """A DOI without resolver prefix ("10.7554/eLife.55913"), or None. DOIs compare
    case-insensitively; the depositor's case is kept for display.

    Accepts resolver URLs, "doi:" prefixes, surrounding prose, arXiv identifiers (which
    have DataCite DOIs under 10.48550), nature.com article URLs (whose path is the DOI
    suffix under Springer Nature's 10.1038 prefix), bare bioRxiv/medRxiv suffixes
    (``2024.09.23.614351``, only ever issued under 10.1101) and a prefix that lost its
    leading "1" (every DOI starts "10.").
    """
    if not text:
        return None
    text = TRUNCATED_PREFIX.sub(r"10.\1", unquote(text.strip()))
    biorxiv = BIORXIV_SUFFIX.match(text)
    if biorxiv:
        return f"10.1101/{biorxiv.group(1)}"
    arxiv = ARXIV.match(text)
    if arxiv:
        return f"10.48550/arXiv.{arxiv.group(1)}"
    nature = NATURE_ARTICLE.search(text)
    if nature and not DOI_CORE.search(text):
        return f"10.1038/{nature.group(1)}"
    match = DOI_CORE.search(DOI_URL.sub("", text))
    if not match:
        return None
    doi = match.group(1).split()[0].rstrip(TRAILING_JUNK)
    return doi if "/" in doi and len(doi.split("/", 1)[1]) > 0 else None


def orcid_checksum_ok(digits: str) -> bool:
    """ISO 7064 11,2 check digit of an ORCID iD given as 16 characters without hyphens."""
    total = 0
    for ch in digits[:15]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    expected = "X" if check == 10 else str(check)
    return digits[15].upper() == expected


def normalise_orcid(text: str | None) -> str | None:
    """A bare ORCID iD ("0000-0002-1825-0097") with a valid check digit, or None."""
    if not text:
        return None
    match = ORCID_CORE.search(text.strip())
    if not match:
        return None
    digits = "".join(match.groups()).upper()
    if not orcid_checksum_ok(digits) or set(digits[:15]) == {"0"}:
        return None
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def normalise_pubmed_id(text: str | None) -> str | None:
    """Digits of a PubMed id, or None for anything else ("pending", titles…)."""
    match = PUBMED.match((text or "").strip())
    return match.group(1) if match else None


def normalise_pmc_id(text: str | None) -> str | None:
    """A PMC id as "PMC1234567", or None."""
    match = PMC.match((text or "").strip())
    return f"PMC{match.group(1)}" if match else None


def _typed_by_identifier(value: str) -> tuple[str, str] | None:
    """(type, canonical id) for a string that contains an archive accession."""
    for pattern, kind, fmt in (
        (EMPIAR, "empiar", "EMPIAR-{}"),
        (EMDB, "emdb", "EMD-{}"),
    ):
        match = pattern.search(value)
        if match:
            return kind, fmt.format(match.group(1))
    idr = IDR_ACC.search(value)
    if idr:
        return "idr", idr.group(1).lower()
    return None


def classify_link(url: str, type_hint: str | None = None, description: str | None = None) -> Link | None:
    """Type a link from a PageTab ``links`` entry (or any cross-reference string)."""
    url = (url or "").strip()
    if not url:
        return None
    hint = (type_hint or "").strip().lower()
    typed = _typed_by_identifier(url)
    if typed:
        return Link(type=typed[0], value=typed[1], url=_as_url(url), description=description)
    if "idr.openmicroscopy.org" in url or hint.startswith("image data resource") or hint == "idr":
        return Link(type="idr", value=url, url=_as_url(url), description=description)
    doi = normalise_doi(url) if (hint == "doi" or "doi" in url.lower() or url.startswith("10.")) else None
    if doi:
        return Link(type="doi", value=doi, url=f"https://doi.org/{doi}", description=description)
    bst = BIOSTUDIES.search(url)
    if bst and (hint in {"biostudies", "bioimages"} or "ebi.ac.uk/biostudies" in url or url == bst.group(1)):
        acc = bst.group(1)
        return Link(type="biostudies", value=acc, url=f"https://www.ebi.ac.uk/biostudies/studies/{acc}", description=description)
    if hint == "ena" or ENA.match(url):
        return Link(type="ena", value=url, url=f"https://www.ebi.ac.uk/ena/browser/view/{url}", description=description)
    if re.match(r"^(https?|ftp)://", url, re.IGNORECASE) or re.match(r"^[\w.-]+\.[a-z]{2,}/", url, re.IGNORECASE):
        return Link(type="url", value=_as_url(url), url=_as_url(url), description=description)
    return None


def _as_url(value: str) -> str | None:
    if re.match(r"^(https?|ftp)://", value, re.IGNORECASE):
        return value
    if re.match(r"^[\w.-]+\.[a-z]{2,}/", value, re.IGNORECASE):
        return "https://" + value
    return None
