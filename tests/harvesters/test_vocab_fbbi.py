"""FBbi imaging-method normalisation: real depositor values, id forms, hierarchy, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvesters.records import FBBI_CURIE, ImagingMethod
from harvesters.vocab._text import compact_key
from harvesters.vocab.fbbi import Term, fbbi, normalise_fbbi_id, normalise_imaging_method

FLUORESCENCE = "FBbi:00000246"
CONFOCAL = "FBbi:00000251"


@pytest.fixture(scope="module")
def ontology():
    return fbbi()


# -- values seen in our records ------------------------------------------------------------

RESOLVED = [
    ("spinning disk confocal microscopy", "spinning disk confocal microscopy", "FBbi:00000253"),
    ("fluorescence microscopy", "fluorescence microscopy", FLUORESCENCE),
    ("bright-field microscopy", "bright-field microscopy", "FBbi:00000243"),
    ("confocal microscopy", "confocal microscopy", CONFOCAL),
    ("FLIP", "FLIP", "FBbi:00000365"),
    ("FRAP", "FRAP", "FBbi:00000366"),
    ("TIRF", "evanescent wave microscopy", "FBbi:00000617"),
    ("microscopy", "microscopy", "FBbi:00000241"),
    ("Light Sheet Imaging", "SPIM", "FBbi:00000369"),
    ("Fluorescence imaging", "fluorescence microscopy", FLUORESCENCE),
    ("SPIM", "SPIM", "FBbi:00000369"),
    ("array-scan confocal microscopy", "array-scan confocal microscopy", "FBbi:00000393"),
    ("transmission electron microscopy (TEM)", "transmission electron microscopy (TEM)", "FBbi:00000258"),
    ("transmission electron microscopy", "transmission electron microscopy (TEM)", "FBbi:00000258"),
    # IDR study files and GIDE RO-crates (text -> accession pairs as published)
    ("Fluorescent microscopy", "fluorescence microscopy", FLUORESCENCE),
    ("wide-field epi-fluorescence microscopy", "fluorescence microscopy", FLUORESCENCE),
    ("differential interference contrast microscopy", "differential interference contrast microscopy", "FBbi:00000245"),
    ("differential interphase contrast microscopy", "differential interference contrast microscopy", "FBbi:00000245"),
    ("phase contrast microscopy", "phase contrast microscopy", "FBbi:00000247"),
    ("multi-photon microscopy", "multi-photon microscopy", "FBbi:00000255"),
    ("two-photon laser scanning microscopy", "two-photon laser scanning microscopy", "FBbi:00000254"),
    ("structured illumination microscopy (SIM)", "structured illumination microscopy (SIM)", "FBbi:00000332"),
    ("STORM (stochastic optical reconstruction microscopy)", "STORM (stochastic optical reconstruction microscopy)", "FBbi:00000336"),
    ("macroscopy", "macroscopy", "FBbi:00000240"),
    ("time lapse microscopy", "time lapse microscopy", "FBbi:00000249"),
    ("electron microscopy", "electron microscopy", "FBbi:00000256"),
    ("scanning electron microscopy (SEM)", "scanning electron microscopy (SEM)", "FBbi:00000257"),
    ("serial block face SEM (SBFSEM)", "serial block face SEM (SBFSEM)", "FBbi:00000585"),
    ("Serial Block-Face Scanning Electron Microscopy", "serial block face SEM (SBFSEM)", "FBbi:00000585"),
    ("FIB-SEM", "focussed ion beam scanning electron microscopy (FIB-SEM)", "FBbi:00050000"),
    ("Focused Ion Beam Scanning Electron Microscopy", "focussed ion beam scanning electron microscopy (FIB-SEM)", "FBbi:00050000"),
    ("light sheet fluorescence microscopy", "SPIM", "FBbi:00000369"),
    ("confocal microscopy (Fbbi:00000251)", "confocal microscopy", CONFOCAL),
]


@pytest.mark.parametrize(("text", "name", "curie"), RESOLVED)
def test_real_values_resolve(text: str, name: str, curie: str) -> None:
    assert normalise_imaging_method(text) == ImagingMethod(name=name, fbbi_id=curie)


@pytest.mark.parametrize(
    "text",
    ["single cell", "spatial transcriptomic", "PARS", "simulated fluorescence microscopy",
     "imaging mass cytometry", "image stitching", "multi-focus image fusion", "live-cell imaging",
     "GFP", "DAPI", "Cy3", "expansion microscopy", "CLEM"],
)
def test_non_methods_keep_text_without_id(text: str) -> None:
    assert normalise_imaging_method(f"  {text} ") == ImagingMethod(name=text, fbbi_id=None)


@pytest.mark.parametrize(
    ("alias", "curie"),
    [
        ("SPIM", "FBbi:00000369"), ("light sheet imaging", "FBbi:00000369"), ("lightsheet", "FBbi:00000369"),
        ("TIRF", "FBbi:00000617"), ("TIRFM", "FBbi:00000617"), ("FRAP", "FBbi:00000366"),
        ("FLIP", "FBbi:00000365"), ("FRET", "FBbi:00000367"), ("FLIM", "FBbi:00000368"),
        ("SIM", "FBbi:00000332"), ("STED", "FBbi:00000334"), ("STORM", "FBbi:00000336"),
        ("dSTORM", "FBbi:00000336"), ("PALM", "FBbi:00000335"), ("SMLM", "FBbi:00000333"),
        ("cryo-EM", "FBbi:00000258"), ("cryo-ET", "FBbi:00000258"),
        ("cryo electron tomography", "FBbi:00000258"), ("SEM", "FBbi:00000257"), ("TEM", "FBbi:00000258"),
        ("FIB-SEM", "FBbi:00050000"), ("FIB SEM", "FBbi:00050000"), ("SBF-SEM", "FBbi:00000585"),
        ("serial block face", "FBbi:00000585"), ("AFM", "FBbi:00000259"), ("micro-CT", "FBbi:00001002"),
        ("X-ray tomography", "FBbi:00001003"), ("widefield", "FBbi:00000345"),
        ("epifluorescence", FLUORESCENCE), ("fluorescence imaging", FLUORESCENCE),
        ("two-photon", "FBbi:00000254"), ("multiphoton", "FBbi:00000255"),
        ("spinning disk", "FBbi:00000253"), ("phase contrast", "FBbi:00000247"), ("DIC", "FBbi:00000245"),
        ("light microscopy", "FBbi:00000345"), ("electron microscopy", "FBbi:00000256"),
        ("super-resolution", "FBbi:00000321"), ("CLSM", "FBbi:00000252"),
    ],
)
def test_aliases(alias: str, curie: str) -> None:
    method = normalise_imaging_method(alias)
    assert method is not None and method.fbbi_id == curie


@pytest.mark.parametrize(
    "text",
    ["bright-field microscopy", "brightfield microscopy", "Bright Field Microscopy", "BRIGHT-FIELD  MICROSCOPY",
     "bright field microscopy.", '"bright-field microscopy"', "bright-field microscope", "brightfield imaging"],
)
def test_lookup_ignores_case_punctuation_and_spacing(ontology, text: str) -> None:
    assert ontology.lookup(text).id == "FBbi:00000243"


def test_lookup_handles_plurals_and_trailing_abbreviations(ontology) -> None:
    assert ontology.lookup("confocal microscopies").id == CONFOCAL
    assert ontology.lookup("fluorescence microscopes").id == FLUORESCENCE
    assert ontology.lookup("spinning disk confocal microscopy (SDCM)").id == "FBbi:00000253"


def test_lookup_prefers_live_terms_and_names(ontology) -> None:
    # "DIC" is only a RELATED synonym but still resolves; a name beats a RELATED synonym.
    assert ontology.lookup("black and white graphic").id == "FBbi:00000225"
    assert ontology.lookup("wide field light micrograph").obsolete  # only an obsolete term matches
    assert normalise_imaging_method("wide field light micrograph").fbbi_id is None


# -- ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "curie"),
    [
        ("FBbi:00000251", CONFOCAL), ("FBbi_00000251", CONFOCAL), ("fbbi:00000251", CONFOCAL),
        ("Fbbi_00000243", "FBbi:00000243"), ("http://purl.obolibrary.org/obo/FBbi_00000253", "FBbi:00000253"),
        ("https://purl.obolibrary.org/obo/FBbi_00000253", "FBbi:00000253"), ("obo:FBbi_00000253", "FBbi:00000253"),
        ("00000251", CONFOCAL), (" FBbi:00000251 ", CONFOCAL),
        ("https://www.ebi.ac.uk/ols4/ontologies/fbbi/classes/http%253A%252F%252Fpurl.obolibrary.org%252Fobo%252FFBbi_00000246",
         FLUORESCENCE),
        ("http://www.ebi.ac.uk/ols/ontologies/fbbi", None), ("251", None), ("FBbi:251", None),
        ("GO:00000251", None), ("", None), (None, None), ("confocal microscopy", None),
    ],
)
def test_normalise_fbbi_id(text, curie) -> None:
    assert normalise_fbbi_id(text) == curie


def test_term_id_wins_over_text() -> None:
    assert normalise_imaging_method("light sheet fluorescence microscopy", "FBbi_00000364") == ImagingMethod(
        name="light-sheet illumination", fbbi_id="FBbi:00000364"
    )
    assert normalise_imaging_method(None, "obo:FBbi_00000246") == ImagingMethod(
        name="fluorescence microscopy", fbbi_id=FLUORESCENCE
    )


def test_bad_or_obsolete_term_id_falls_back_to_text() -> None:
    expected = ImagingMethod(name="confocal microscopy", fbbi_id=CONFOCAL)
    assert normalise_imaging_method("confocal microscopy", "http://www.ebi.ac.uk/ols/ontologies/fbbi") == expected
    assert normalise_imaging_method("confocal microscopy", "FBbi:00000242") == expected  # obsolete
    assert normalise_imaging_method("confocal microscopy", "FBbi:99999999") == expected


@pytest.mark.parametrize("text", [None, "", "   ", '""', "."])
def test_empty_gives_none(text) -> None:
    assert normalise_imaging_method(text) is None
    assert normalise_imaging_method(text, "not an id") is None


# -- the ontology and the alias table --------------------------------------------------------


def test_ontology_loads_once_with_all_terms(ontology) -> None:
    assert fbbi() is ontology
    terms = list(ontology.all_terms())
    assert len(terms) > 600
    assert all(isinstance(term, Term) and FBBI_CURIE.match(term.id) for term in terms)
    assert ontology.term("FBbi_00000251") == ontology.term(CONFOCAL)
    assert ontology.label(CONFOCAL) == "confocal microscopy"
    assert ontology.label("FBbi:99999999") is None and ontology.term("nonsense") is None
    assert ontology.term("FBbi:00000617").synonyms == ("total internal reflection fluorescence  TIRF",)


def test_every_alias_points_at_a_live_method_term(ontology) -> None:
    assert len(ontology.aliases()) > 50
    for alias, curie in ontology.aliases():
        term = ontology.term(curie)
        assert term is not None and not term.obsolete, (alias, curie)
        assert ontology.is_imaging_method(curie), (alias, curie)
        assert normalise_imaging_method(alias).fbbi_id == curie, alias


def test_aliases_do_not_shadow_term_names(ontology) -> None:
    names = {compact_key(term.name): term.id for term in ontology.all_terms() if not term.obsolete}
    for alias, curie in ontology.aliases():
        assert names.get(compact_key(alias), curie) == curie, alias


def test_every_live_method_name_normalises_to_itself(ontology) -> None:
    for term in ontology.all_terms():
        if not term.obsolete and ontology.is_imaging_method(term.id):
            method = normalise_imaging_method(term.name)
            assert method.name == term.name, term
            assert ontology.label(method.fbbi_id) == term.name


def test_descendants_of_fluorescence_microscopy(ontology) -> None:
    narrower = ontology.descendants(FLUORESCENCE)
    assert {CONFOCAL, "FBbi:00000253", "FBbi:00000369", "FBbi:00000366", "FBbi:00000617"} <= narrower
    assert FLUORESCENCE not in narrower
    assert "FBbi:00000243" not in narrower  # bright-field is a sibling
    assert ontology.descendants("FBbi_00000246") == narrower
    assert ontology.descendants("FBbi:99999999") == set()


def test_ancestors(ontology) -> None:
    assert ontology.ancestors("FBbi:00000253") == {
        CONFOCAL, FLUORESCENCE, "FBbi:00000345", "FBbi:00000343", "FBbi:00000241", "FBbi:00000265", "FBbi:00000222"
    }
    assert ontology.ancestors("FBbi:00000222") == set()


def test_ancestors_and_descendants_are_consistent(ontology) -> None:
    terms = [term.id for term in ontology.all_terms()]
    descendants = {curie: ontology.descendants(curie) for curie in terms}
    for curie in terms:
        ancestors = ontology.ancestors(curie)
        assert curie not in ancestors
        for ancestor in ancestors:
            assert curie in descendants[ancestor]
        for child in descendants[curie]:
            assert curie in ontology.ancestors(child)


# -- properties ---------------------------------------------------------------------------------

_method_names = st.sampled_from([text for text, _, _ in RESOLVED] + ["single cell", "PARS", "TIRF", "cryo-ET"])
_texty = st.one_of(st.text(), _method_names, st.builds(lambda a, b: f"{a} ({b})", _method_names, st.text(max_size=12)))


@settings(max_examples=200, deadline=None)
@given(text=_texty, term_id=st.one_of(st.none(), st.text(max_size=40)))
def test_never_raises(text: str, term_id: str | None) -> None:
    method = normalise_imaging_method(text, term_id)
    assert method is None or isinstance(method, ImagingMethod)
    fbbi().lookup(text)
    normalise_fbbi_id(text)


@settings(max_examples=200, deadline=None)
@given(text=_texty)
def test_idempotent(text: str) -> None:
    method = normalise_imaging_method(text)
    if method is not None:
        assert normalise_imaging_method(method.name) == method
        assert normalise_imaging_method(method.name, method.fbbi_id) == method


@settings(max_examples=200, deadline=None)
@given(number=st.integers(min_value=0, max_value=99_999_999), form=st.sampled_from(
    ["FBbi:{}", "FBbi_{}", "fbbi:{}", "obo:FBbi_{}", "http://purl.obolibrary.org/obo/FBbi_{}", "{}", " FBBI:{} "]
))
def test_id_forms_round_trip(number: int, form: str) -> None:
    curie = f"FBbi:{number:08d}"
    assert normalise_fbbi_id(form.format(f"{number:08d}")) == curie
    assert normalise_fbbi_id(curie) == curie
