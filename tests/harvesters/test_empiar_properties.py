"""Property tests: the EMPIAR size parser and normaliser survive any mutation of real entries,
raising nothing but HarvestError (malformed) or RecordWithdrawn (obsolete)."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvesters.base import HarvestError, RawRecord, RecordRef, RecordWithdrawn
from harvesters.empiar import MirrorEmpiarHarvester
from harvesters.empiar_entry import parse_dataset_size
from harvesters.empiar_xml import EmpiarXmlError, parse_header

FIXTURES = Path(__file__).parent.parent / "fixtures" / "empiar"
ENTRIES = [
    orjson.loads(path.read_bytes())
    for folder in ("api-json-real", "empiar-api-json-testvariants", "api-json-older-variants")
    for path in sorted((FIXTURES / folder).glob("*.json"))
]
HARVESTER = MirrorEmpiarHarvester(FIXTURES)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6
)


def _paths(node, prefix=()):
    """Every (container path, key) in a JSON tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix, key
        yield from _paths(value, (*prefix, key))


def _container(tree, path):
    for key in path:
        tree = tree[key]
    return tree


@st.composite
def mutated_payloads(draw) -> bytes:
    tree = copy.deepcopy(draw(st.sampled_from(ENTRIES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [(path, key) for path, key in _paths(tree) if path]  # inside the entry
        if not paths:
            break
        path, key = draw(st.sampled_from(paths))
        container = _container(tree, path)
        if draw(st.booleans()):
            container[key] = draw(json_values)
        else:
            del container[key]
    return orjson.dumps(tree)


def _normalise(payload: bytes, fmt: str = "json") -> None:
    raw = RawRecord(RecordRef("file:///mirror/EMPIAR-10442.json", "EMPIAR-10442"), payload, fmt)
    try:
        HARVESTER.normalise(raw)
    except (HarvestError, RecordWithdrawn):
        pass


@SETTINGS
@given(mutated_payloads())
def test_normaliser_survives_mutated_entries(payload):
    _normalise(payload)


@SETTINGS
@given(json_values)
def test_normaliser_survives_any_json(value):
    _normalise(orjson.dumps(value))
    _normalise(orjson.dumps({"EMPIAR-10442": value}))


@SETTINGS
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_xml_parser_raises_only_its_own_error(payload):
    try:
        parse_header(payload)
    except EmpiarXmlError:
        pass
    _normalise(payload, "xml")


@SETTINGS
@given(scalars | st.from_regex(r"\s*-?\d{0,12}(\.\d{0,6})?\s*([kKmMgGtTpPeExX]?i?[bB]?|bytes)\s*", fullmatch=True))
def test_dataset_size_is_none_or_a_sane_int(value):
    size = parse_dataset_size(value)
    assert size is None or (isinstance(size, int) and 0 <= size < 2**63)
