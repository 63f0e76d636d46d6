"""Licence normalisation: every spelling of a licence gives one canonical name and URL."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvesters.records import License
from harvesters.vocab.licenses import normalise_license

CC0 = License(name="CC0 1.0", url="https://creativecommons.org/publicdomain/zero/1.0/")
CC_BY_4 = License(name="CC BY 4.0", url="https://creativecommons.org/licenses/by/4.0/")

CODES = ("by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
VERSIONS = ("2.0", "2.5", "3.0", "4.0")


@pytest.mark.parametrize(
    ("text", "url"),
    [("CC0", None), ("CC0 1.0", None), ("CC-0", None), ("cc0", None), ("CC0-1.0", None), ("CC0 1.0 Universal", None),
     ("Public domain dedication", None), ("CC Zero", None),
     (None, "https://creativecommons.org/publicdomain/zero/1.0/legalcode"),
     (None, "http://creativecommons.org/publicdomain/zero/1.0/"),
     (None, "https://creativecommons.org/publicdomain/zero/1.0"),
     ("CC0", "https://creativecommons.org/publicdomain/zero/1.0/")],
)
def test_cc0(text, url) -> None:
    assert normalise_license(text, url) == CC0


@pytest.mark.parametrize(
    ("text", "url"),
    [("CC BY 4.0", None), ("CC-BY 4.0", None), ("CC-BY-4.0", None), ("cc by", None), ("CC BY", None),
     ("CC BY 4", None), ("CCBY 4.0", None), ("Attribution 4.0 International", None),
     ("Creative Commons Attribution 4.0 International", None),
     ("Creative Commons Attribution 4.0 International (CC BY 4.0)", None),
     ("Creative Commons Attribution 4.0 International License", None), (" CC BY 4.0 ", None),
     (None, "https://creativecommons.org/licenses/by/4.0/legalcode"),
     (None, "http://creativecommons.org/licenses/by/4.0"), (None, "https://creativecommons.org/licenses/by/4.0/deed.en"),
     (None, "creativecommons.org/licenses/by/4.0/"), ("https://creativecommons.org/licenses/by/4.0/", None),
     (None, "https://spdx.org/licenses/CC-BY-4.0.html"), ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")],
)
def test_cc_by_4(text, url) -> None:
    assert normalise_license(text, url) == CC_BY_4


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_cc_variant_and_version(code: str, version: str) -> None:
    expected = License(name=f"CC {code.upper()} {version}", url=f"https://creativecommons.org/licenses/{code}/{version}/")
    spellings = [
        (f"CC {code.upper()} {version}", None),
        (f"CC-{code.upper()}-{version}", None),
        (f"cc {code} {version}", None),
        (None, f"https://creativecommons.org/licenses/{code}/{version}/"),
        (None, f"http://creativecommons.org/licenses/{code}/{version}/legalcode"),
        (None, f"https://creativecommons.org/licenses/{code}/{version}"),
        ("whatever the submitter typed", f"http://www.creativecommons.org/licenses/{code}/{version}/deed.en"),
    ]
    for text, url in spellings:
        assert normalise_license(text, url) == expected, (text, url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Creative Commons Attribution-NonCommercial-ShareAlike 3.0 Unported", ("CC BY-NC-SA 3.0", "by-nc-sa/3.0")),
        ("Creative Commons Attribution-ShareAlike 4.0 International", ("CC BY-SA 4.0", "by-sa/4.0")),
        ("Attribution-NonCommercial-NoDerivatives 4.0 International", ("CC BY-NC-ND 4.0", "by-nc-nd/4.0")),
        ("Creative Commons Attribution-NoDerivs 2.5", ("CC BY-ND 2.5", "by-nd/2.5")),
        ("CC BY-NC", ("CC BY-NC 4.0", "by-nc/4.0")),
        ("CC-BY-NC-ND 4.0", ("CC BY-NC-ND 4.0", "by-nc-nd/4.0")),
        ("CC BY-NC-SA 3.0", ("CC BY-NC-SA 3.0", "by-nc-sa/3.0")),
        ("CC BY-SA 3.0", ("CC BY-SA 3.0", "by-sa/3.0")),
        ("CC BY 3.0", ("CC BY 3.0", "by/3.0")),
    ],
)
def test_long_and_idr_names(text: str, expected: tuple[str, str]) -> None:
    name, path = expected
    assert normalise_license(text) == License(name=name, url=f"https://creativecommons.org/licenses/{path}/")


def test_a_name_in_the_url_field_is_read_as_a_name() -> None:
    assert normalise_license(None, "CC BY 4.0") == CC_BY_4
    assert normalise_license(None, "Attribution") == CC_BY_4


def test_url_carries_the_version_over_unversioned_text() -> None:
    assert normalise_license("CC BY", "https://creativecommons.org/licenses/by/3.0/") == License(
        name="CC BY 3.0", url="https://creativecommons.org/licenses/by/3.0/"
    )


def test_ported_licences_keep_their_jurisdiction() -> None:
    assert normalise_license(None, "https://creativecommons.org/licenses/by-nc-nd/3.0/de/legalcode") == License(
        name="CC BY-NC-ND 3.0 DE", url="https://creativecommons.org/licenses/by-nc-nd/3.0/de/"
    )


def test_public_domain_mark() -> None:
    expected = License(name="Public Domain Mark 1.0", url="https://creativecommons.org/publicdomain/mark/1.0/")
    assert normalise_license("Public Domain Mark") == expected
    assert normalise_license(None, "http://creativecommons.org/publicdomain/mark/1.0/") == expected


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("MIT", None, License(name="MIT", url="https://opensource.org/licenses/MIT")),
        ("MIT License", None, License(name="MIT", url="https://opensource.org/licenses/MIT")),
        (None, "https://opensource.org/license/mit/", License(name="MIT", url="https://opensource.org/licenses/MIT")),
        ("Apache License, Version 2.0", None,
         License(name="Apache-2.0", url="https://www.apache.org/licenses/LICENSE-2.0")),
        ("apache-2.0", None, License(name="Apache-2.0", url="https://www.apache.org/licenses/LICENSE-2.0")),
        (None, "http://www.apache.org/licenses/LICENSE-2.0.txt",
         License(name="Apache-2.0", url="https://www.apache.org/licenses/LICENSE-2.0")),
        ("EMBL-EBI terms of use", None,
         License(name="EMBL-EBI terms of use", url="https://www.ebi.ac.uk/about/terms-of-use/")),
        ("BSD 3-Clause", None, License(name="BSD-3-Clause", url="https://opensource.org/licenses/BSD-3-Clause")),
    ],
)
def test_non_cc_licences(text, url, expected: License) -> None:
    assert normalise_license(text, url) == expected


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("Some custom licence", None, License(name="Some custom licence", url=None)),
        ("  Some   custom licence ", "https://example.org/licence",
         License(name="Some custom licence", url="https://example.org/licence")),
        (None, "https://v18.proteinatlas.org/about/licence",
         License(name="https://v18.proteinatlas.org/about/licence", url="https://v18.proteinatlas.org/about/licence")),
        ("CC BY 5.0", None, License(name="CC BY 5.0", url=None)),
        ("CC BY-SA-ND 4.0", None, License(name="CC BY-SA-ND 4.0", url=None)),
        ("by", None, License(name="by", url=None)),
        ("Custom terms", "see the paper", License(name="Custom terms", url=None)),
    ],
)
def test_unknown_licences_are_kept(text, url, expected: License) -> None:
    assert normalise_license(text, url) == expected


@pytest.mark.parametrize(("text", "url"), [(None, None), ("", None), ("   ", ""), (None, " ")])
def test_empty_gives_none(text, url) -> None:
    assert normalise_license(text, url) is None


@pytest.mark.parametrize(
    "url",
    ["https://creativecommons.org/licenses/by/4.0/", "https://creativecommons.org/publicdomain/zero/1.0/",
     "https://creativecommons.org/licenses/by-nc-sa/3.0/", "https://creativecommons.org/licenses/by/3.0/",
     "https://creativecommons.org/licenses/by-sa/3.0/", "https://creativecommons.org/licenses/by-nc-nd/4.0/"],
)
def test_gide_urls_are_canonical(url: str) -> None:
    # the "license" values of the GIDE RO-crates (BIA, IDR, EMPIAR) are already canonical
    licence = normalise_license(None, url)
    assert licence.url == url
    assert normalise_license(licence.name) == licence


# -- properties ------------------------------------------------------------------------------

_spellings = st.sampled_from(
    [f"CC {code.upper()} {version}" for code in CODES for version in VERSIONS]
    + ["CC0", "MIT", "Apache-2.0", "cc by", "Attribution 4.0 International", "EMBL-EBI terms of use"]
)
_urls = st.one_of(
    st.none(), st.text(max_size=40),
    st.builds(lambda code, version: f"https://creativecommons.org/licenses/{code}/{version}/legalcode",
              st.sampled_from(CODES + ("nc-sa", "foo")), st.sampled_from(VERSIONS + ("9.9", "1"))),
)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.none(), st.text(), _spellings), url=_urls)
def test_never_raises(text, url) -> None:
    licence = normalise_license(text, url)
    assert licence is None or isinstance(licence, License)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.none(), st.text(), _spellings), url=_urls)
def test_idempotent(text, url) -> None:
    licence = normalise_license(text, url)
    if licence is not None:
        assert normalise_license(licence.name, licence.url) == licence


@settings(max_examples=100, deadline=None)
@given(text=_spellings)
def test_canonical_names_are_fixed_points(text: str) -> None:
    licence = normalise_license(text)
    assert normalise_license(licence.name) == licence
    assert normalise_license(None, licence.url) == licence
