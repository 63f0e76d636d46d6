"""The IDR JSON API harvester: projects and screens from the OMERO JSON API, study metadata
from their map annotations.

Listing: ``{base}/api/v0/m/projects/`` and ``{base}/api/v0/m/screens/`` paged by
``offset``/``limit`` (``{"data": [...], "meta": {"totalCount": …}}``). Every object whose
``Name`` starts with an IDR accession (``idr0001-graml-sysgro/screenA``) belongs to that
study; one record per accession.

Fetch: ``{base}/webclient/api/annotations/?type=map&screen=ID`` (or ``project=ID``) per
object of the study, keeping the annotations of the study namespaces
(``idr.openmicroscopy.org/study/info``, older ``openmicroscopy.org/idr/study``). The raw
payload is a sorted JSON bundle of the listed objects and their study annotations, so an
unchanged study hashes the same on every run.

Normalise: the key/value pairs (as IDR's own ``pyidr`` writes them from the study file:
``Publication Title``, ``PubMed ID 123 https://…``, ``License CC BY 4.0 https://…``…) are
turned back into study-file rows and mapped by :mod:`harvesters.idr_records`, so both IDR
sources share one normaliser. The top-level object (a name without ``/``), when there is one,
carries the study; otherwise the first component does. A study whose object disappears
between listing and fetch (HTTP 404/410) is an *errored* record (stage ``fetch``, the
annotation URL): it is kept this run, and a later full run whose listing lacks it deletes it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

import orjson

from harvesters.base import HarvestError, RawRecord, RecordRef
from harvesters.http import FetchError, HttpClient
from harvesters.idr_records import IdrHarvester
from harvesters.idr_study import Block, Line, StudyFile, accession_in_name, key_form

API_FORMAT = "idr-api-json"
STUDY_NAMESPACES = ("idr.openmicroscopy.org/study/info", "openmicroscopy.org/idr/study")
PAGE_SIZE = 200
_TRAILING_URL = re.compile(r"^(.+?)\s+((?:https?|ftp)://\S+)$")
_HEADER = re.compile(r"(?:^|\n)\s*(?:Study|Screen|Experiment|Project) Description\s*\n", re.I)
# Map-annotation keys -> study-file keys (compared in compact form).
STUDY_KEYS = {
    key_form(k): v
    for k, v in {
        "Study Title": "Study Title", "Study Description": "Study Description", "Study Type": "Study Type",
        "Study Key Words": "Study Key Words", "Keywords": "Study Key Words", "Key Words": "Study Key Words",
        "Release Date": "Study Public Release Date", "License": "Study License", "Licence": "Study License",
        "Copyright": "Study Copyright", "Data Publisher": "Study Data Publisher", "Data DOI": "Study Data DOI",
        "External URL": "Study External URL", "BioStudies Accession": "Study BioStudies Accession",
        "BioImage Archive Accession": "Study BioImage Archive Accession", "EMPIAR Accession": "Study EMPIAR Accession",
    }.items()
}
PUBLICATION_KEYS = {
    key_form(k): v
    for k, v in {
        "Publication Title": "Study Publication Title", "Publication Authors": "Study Author List",
        "PubMed ID": "Study PubMed ID", "PMC ID": "Study PMC ID", "Publication DOI": "Study DOI",
    }.items()
}
# Component-level keys; "{k}" is Screen or Experiment.
COMPONENT_KEYS = {
    key_form(k): v
    for k, v in {
        "Sample Type": "{k} Sample Type", "Organism": "{k} Organism", "Imaging Method": "{k} Imaging Method",
        "Screen Type": "Screen Type", "Screen Technology Type": "{k} Technology Type",
        "Technology Type": "{k} Technology Type", "Data DOI": "{k} Data DOI",
    }.items()
}


class ApiIdrHarvester(IdrHarvester):
    """Reads an IDR (OMERO) server's JSON API and webclient map annotations."""

    def __init__(
        self, base_url: str, client: HttpClient | None = None, page_size: int = PAGE_SIZE, study_ids: list[str] | None = None
    ):
        self.base = base_url.rstrip("/")
        self.location = self.base
        self.client = client or HttpClient()
        self.page_size = page_size
        self.study_ids = {accession_in_name(s) for s in study_ids} if study_ids else None
        self._objects: dict[str, list[dict]] = {}

    def close(self) -> None:
        self.client.close()

    def gather(self, since: str | None) -> Iterator[RecordRef]:
        """List every project and screen, grouped by study accession (no modification
        times in the API: unchanged studies are told apart by content hash)."""
        grouped: dict[str, list[dict]] = defaultdict(list)
        for kind in ("projects", "screens"):
            for obj in self._list(kind):
                grouped[accession_in_name(obj["name"])].append(obj)
        self._objects = dict(grouped)
        for accession in sorted(grouped):
            if self.study_ids is None or accession in self.study_ids:
                yield RecordRef(source_url=f"{self.base}/study/{accession}/", hint=accession)

    def _list(self, kind: str) -> Iterator[dict]:
        url, offset = f"{self.base}/api/v0/m/{kind}/", 0
        while True:
            try:
                body = self.client.get_json(url, params={"offset": offset, "limit": self.page_size})
            except FetchError as exc:
                raise HarvestError("gather", exc.message, f"{url}?offset={offset}&limit={self.page_size}") from exc
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise HarvestError("gather", f"{kind} page at offset {offset} has no 'data' list", url)
            yield from filter(None, (_listed(kind, item) for item in data))
            offset += len(data)
            total = (body.get("meta") or {}).get("totalCount") if isinstance(body.get("meta"), dict) else None
            if not data or (isinstance(total, int) and offset >= total) or (total is None and len(data) < self.page_size):
                return

    def fetch(self, ref: RecordRef) -> RawRecord:
        """GET the study annotations of every object of the study; bundle them."""
        objects = self._objects.get(ref.hint or "")
        if not objects:
            raise HarvestError("fetch", "study not in this run's listing", ref.source_url)
        bundle = {
            "accession": ref.hint,
            "objects": [{**obj, "annotations": self._annotations(obj)} for obj in sorted(objects, key=_object_order)],
        }
        return RawRecord(ref, orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS), API_FORMAT)

    def _annotations(self, obj: dict) -> list[dict]:
        url = f"{self.base}/webclient/api/annotations/?type=map&{obj['type']}={obj['id']}"
        try:
            body = self.client.get_json(url)
        except FetchError as exc:
            gone = f": the {obj['type']} {obj['name']!r} listed by gather is gone" if exc.status in (404, 410) else ""
            raise HarvestError("fetch", exc.message + gone, url) from exc
        annotations = body.get("annotations") if isinstance(body, dict) else None
        if not isinstance(annotations, list):
            raise HarvestError("fetch", "map annotation response has no 'annotations' list", url)
        return [_study_annotation(a) for a in annotations if isinstance(a, dict) and a.get("ns") in STUDY_NAMESPACES]

    def study_of(self, raw: RawRecord) -> StudyFile:
        try:
            bundle = orjson.loads(raw.payload)
        except orjson.JSONDecodeError as exc:
            raise HarvestError("normalise", f"invalid JSON bundle: {exc}", raw.ref.source_url) from exc
        return bundle_to_study(bundle, raw.ref.source_url)


def _listed(kind: str, item: object) -> dict | None:
    if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
        return None
    if not accession_in_name(item["Name"].split("/")[0]) or not isinstance(item.get("@id"), int):
        return None  # not an IDR study container
    description = item.get("Description")
    return {"type": kind[:-1], "id": item["@id"], "name": item["Name"], "description": description if isinstance(description, str) else ""}


def _study_annotation(annotation: dict) -> dict:
    values = annotation.get("values") if isinstance(annotation.get("values"), list) else []
    pairs = [[str(p[0]), str(p[1])] for p in values if isinstance(p, list | tuple) and len(p) == 2]
    return {"ns": annotation["ns"], "values": pairs}


def _object_order(obj: dict) -> tuple:
    """IDR's study page order: the shortest name (the top-level container) first."""
    return (len(obj["name"]), obj["id"])


# -- annotations -> study-file rows -------------------------------------------------------------


def bundle_to_study(bundle: object, source_url: str) -> StudyFile:
    """Rebuild study-file blocks from a fetched bundle of objects and their map annotations."""
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not objects or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in objects):
        raise HarvestError("normalise", "bundle holds no screen or project", source_url)
    objects = sorted(objects, key=lambda o: (len(o["name"]), str(o.get("id"))))
    top = objects[0] if "/" not in objects[0]["name"] else None
    parts = [o for o in objects if o is not top] or objects
    accession = accession_in_name(str(bundle.get("accession"))) or accession_in_name(objects[0]["name"])
    if not accession:
        raise HarvestError("normalise", f"no idrNNNN accession in {objects[0]['name']!r}", source_url)
    study = _study_block(top or parts[0], parts, accession, component_keys=top is not None)
    return StudyFile(accession, study, [_component_block(obj) for obj in parts])


def _pairs(obj: dict) -> list[tuple[str, str]]:
    """Key/value pairs of the newest study namespace present on the object."""
    annotations = [a for a in obj.get("annotations") or [] if isinstance(a, dict)]
    for namespace in STUDY_NAMESPACES:
        chosen = [a for a in annotations if a.get("ns") == namespace]
        if chosen:
            return [(str(k), str(v)) for a in chosen for k, v in a.get("values") or [] if str(v).strip()]
    return []


def _study_block(primary: dict, others: list[dict], accession: str, component_keys: bool) -> Block:
    """Study rows from the primary object; study keys it lacks (the top-level project of a
    multi-experiment study has no Study Type) are taken from the other objects."""
    rows: dict[str, list[str]] = defaultdict(list)
    rows["Comment[IDR Study Accession]"].append(accession)
    rows["Study Description"].append(object_description(primary.get("description")))
    pairs = _pairs(primary)
    for key, value in pairs:
        form = key_form(key)
        if form in STUDY_KEYS:
            _add(rows, STUDY_KEYS[form], value)
        elif component_keys and form in COMPONENT_KEYS:
            _add(rows, COMPONENT_KEYS[form].format(k="Study"), value)
        elif form.startswith("study") and form not in PUBLICATION_KEYS:
            _add(rows, key, value)
    own = set(rows)
    for key, value in (pair for obj in others for pair in _pairs(obj)):
        target = STUDY_KEYS.get(key_form(key))
        if target and target not in own and target != "Study Data DOI":
            _add(rows, target, value)
    _add_publications(rows, pairs)
    return Block("study", _lines(rows))


def _component_block(obj: dict) -> Block:
    name = obj["name"]
    kind = _component_kind(name, str(obj.get("type")))
    label = kind.title()
    rows: dict[str, list[str]] = defaultdict(list)
    rows[f"{label} Number"].append("")
    rows[f"Comment[IDR {label} Name]"].append(name)
    rows[f"{label} Description"].append(object_description(obj.get("description")))
    for key, value in _pairs(obj):
        target = COMPONENT_KEYS.get(key_form(key))
        if target:
            _add(rows, target.format(k=label), value)
    return Block(kind, _lines(rows))


def _component_kind(name: str, object_type: str) -> str:
    tail = name.rsplit("/", 1)[-1].lower()
    if tail.startswith(("screen", "experiment")):
        return "screen" if tail.startswith("screen") else "experiment"
    return "screen" if object_type == "screen" else "experiment"


def _add(rows: dict[str, list[str]], key: str, value: str) -> None:
    """One pair as a cell; ``"name https://url"`` puts the URL in the companion row for a
    licence and drops it elsewhere (it repeats the identifier)."""
    text, url = _split_url(value)
    rows[key].append(text)
    if url and key_form(key) == "studylicense":
        rows["Study License URL"].append(url)


def _split_url(value: str) -> tuple[str, str | None]:
    match = _TRAILING_URL.match(value.strip())
    return (match.group(1).strip(), match.group(2)) if match else (value.strip(), None)


def _add_publications(rows: dict[str, list[str]], pairs: list[tuple[str, str]]) -> None:
    """Publication pairs come in groups opened by ``Publication Title``; a missing member of
    a group (no PMC ID) becomes a blank cell so the columns stay aligned."""
    groups: list[dict[str, str]] = []
    for key, value in pairs:
        target = PUBLICATION_KEYS.get(key_form(key))
        if target is None:
            continue
        if not groups or target in groups[-1] or target == "Study Publication Title":
            groups.append({})
        groups[-1][target] = _split_url(value)[0]
    for target in PUBLICATION_KEYS.values():
        if any(target in group for group in groups):
            rows[target] = [group.get(target, "") for group in groups]


def _lines(rows: dict[str, list[str]]) -> list[Line]:
    return [Line(number, key, tuple(values)) for number, (key, values) in enumerate(rows.items(), 1)]


def object_description(text: object) -> str:
    """The description proper of an IDR container: IDR writes
    ``Publication Title\\n…\\n\\nScreen Description\\n…``; the text after the last
    ``… Description`` heading is kept (the whole text when there is none)."""
    text = text if isinstance(text, str) else ""
    parts = _HEADER.split(text)
    return " ".join(parts[-1].split())
