"""An OAI-PMH 2.0 repository over the record store: the six verbs, ``from``/``until`` at day
and second granularity, sets (:mod:`query.oai_sets`), signed keyset resumption tokens
(:mod:`query.oai_tokens`), persistent deleted records, and every protocol error as an
``<error code="…">`` element (the web layer sends it with status 200).

A record's datestamp is the time it last changed in the store (``changed_at``): saved with
new content, or marked deleted. Flask-free: arguments come in as a mapping of name → list of
values and the response goes out as XML bytes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from lxml import etree

from harvesters.store import ChangeRow
from query import oai_tokens
from query.catalogue import Catalogue
from query.oai_formats import FORMATS, XSI
from query.oai_sets import in_set, list_sets, record_sets, source_of, valid_spec
from query.site import Site

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
LIST_VERBS = ("ListIdentifiers", "ListRecords")
ARGUMENTS: dict[str, tuple[set[str], set[str]]] = {  # verb -> (required, optional)
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
}
DAY, SECONDS = "%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # echoed into the response, lxml refuses them


class OaiError(Exception):
    """A protocol error: its OAI-PMH code and a message for the harvester's operator."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class OaiConfig:
    """What the repository says about itself and how it pages."""

    repository_name: str
    admin_email: str
    identifier_namespace: str
    list_size: int
    token_ttl_seconds: int
    secret: bytes
    min_set_records: int = 1


class OaiRepository:
    """Answers OAI-PMH requests from the store behind ``catalogue``; ``facets`` gives the
    search service's facet buckets (for ListSets), or raises if there is no index."""

    def __init__(self, catalogue: Catalogue, config: OaiConfig, facets: Callable[[], list[dict]] | None = None):
        self.catalogue = catalogue
        self.config = config
        self.facets = facets or (lambda: [])

    # -- entry point ------------------------------------------------------------------------

    def handle(self, args: Mapping[str, Sequence[str]], base_url: str, site: Site, now: float | None = None) -> bytes:
        """The response document to one request."""
        now = time.time() if now is None else now
        root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={None: OAI, "xsi": XSI})
        root.set(f"{{{XSI}}}schemaLocation", f"{OAI} {OAI_SCHEMA}")
        _sub(root, "responseDate", _stamp(now))
        request = _sub(root, "request", base_url)
        try:
            verb = self._check_arguments(args)
            for name, values in sorted(args.items()):
                request.set(name, values[0])
            root.append(getattr(self, f"_{verb}")({k: v[0] for k, v in args.items() if k != "verb"}, site, now))
        except OaiError as exc:
            if exc.code in ("badVerb", "badArgument"):
                request.attrib.clear()  # the protocol: echo no arguments of a bad request
            _sub(root, "error", exc.message).set("code", exc.code)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _check_arguments(self, args: Mapping[str, Sequence[str]]) -> str:
        if any(_NOT_XML.search(text) for name, values in args.items() for text in (name, *values)):
            raise OaiError("badArgument", "arguments may not hold characters XML cannot carry (control characters)")
        verbs = list(args.get("verb") or [])
        if len(verbs) != 1 or verbs[0] not in ARGUMENTS:
            raise OaiError("badVerb", "the verb argument is missing, repeated or not an OAI-PMH verb" if len(verbs) != 1 else f"{verbs[0]!r} is not an OAI-PMH verb")
        verb = verbs[0]
        required, optional = ARGUMENTS[verb]
        names = set(args) - {"verb"}
        for name in sorted(names):
            if len(args[name]) != 1:
                raise OaiError("badArgument", f"argument {name} is repeated")
        unknown = names - required - optional
        if unknown:
            raise OaiError("badArgument", f"{verb} does not take {', '.join(sorted(unknown))}")
        if "resumptionToken" in names and names != {"resumptionToken"}:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument")
        missing = required - names
        if missing and "resumptionToken" not in names:
            raise OaiError("badArgument", f"{verb} needs {', '.join(sorted(missing))}")
        return verb

    # -- verbs ---------------------------------------------------------------------------

    def _Identify(self, args, site: Site, now: float):
        el = _el("Identify")
        _sub(el, "repositoryName", self.config.repository_name)
        _sub(el, "baseURL", site.url("/oai"))
        _sub(el, "protocolVersion", "2.0")
        _sub(el, "adminEmail", self.config.admin_email)
        earliest = self.catalogue.store().earliest_change()
        _sub(el, "earliestDatestamp", _datestamp(earliest) if earliest else _stamp(now))
        _sub(el, "deletedRecord", "persistent")
        _sub(el, "granularity", "YYYY-MM-DDThh:mm:ssZ")
        return el

    def _ListMetadataFormats(self, args, site: Site, now: float):
        if "identifier" in args:
            self._row(args["identifier"])
        el = _el("ListMetadataFormats")
        for fmt in FORMATS.values():
            item = _sub(el, "metadataFormat")
            _sub(item, "metadataPrefix", fmt.prefix)
            _sub(item, "schema", fmt.schema)
            _sub(item, "metadataNamespace", fmt.namespace)
        return el

    def _ListSets(self, args, site: Site, now: float):
        if "resumptionToken" in args:
            raise OaiError("badResumptionToken", "ListSets is answered in one response; it has no resumption tokens")
        try:
            facets = self.facets()
        except Exception:  # no index yet: offer the source sets only
            facets = []
        el = _el("ListSets")
        for oai_set in list_sets(self.catalogue.store().count_by_source(), facets, self.config.min_set_records):
            item = _sub(el, "set")
            _sub(item, "setSpec", oai_set.spec)
            _sub(item, "setName", oai_set.name)
        return el

    def _GetRecord(self, args, site: Site, now: float):
        fmt = _format(args["metadataPrefix"])
        row = self._row(args["identifier"])
        el = _el("GetRecord")
        el.append(self._record(row, fmt, site))
        return el

    def _ListIdentifiers(self, args, site: Site, now: float):
        return self._list("ListIdentifiers", args, site, now)

    def _ListRecords(self, args, site: Site, now: float):
        return self._list("ListRecords", args, site, now)

    # -- lists ----------------------------------------------------------------------------

    def _list(self, verb: str, args: dict[str, str], site: Site, now: float):
        position = self._position(verb, args, now)
        fmt = _format(position.prefix)
        page = list(_take(self._matching(position), self.config.list_size + 1))
        more = len(page) > self.config.list_size
        page = page[: self.config.list_size]
        if not page:
            raise OaiError("noRecordsMatch", "no records match these arguments")
        el = _el(verb)
        for row in page:
            el.append(self._header(row) if verb == "ListIdentifiers" else self._record(row, fmt, site))
        if more or position.cursor:
            el.append(self._token(position, page[-1], more, now))
        return el

    def _position(self, verb: str, args: dict[str, str], now: float) -> oai_tokens.ListPosition:
        if "resumptionToken" in args:
            try:
                return oai_tokens.decode(args["resumptionToken"], self.config.secret, verb, now)
            except oai_tokens.BadToken as exc:
                raise OaiError("badResumptionToken", str(exc)) from None
        _format(args["metadataPrefix"])
        set_spec = args.get("set")
        if set_spec is not None and not valid_spec(set_spec):
            raise OaiError("badArgument", f"{set_spec!r} is not a setSpec")
        since, until = _bounds(args.get("from"), args.get("until"))
        return oai_tokens.ListPosition(verb, args["metadataPrefix"], set_spec, since, until, ("", ""), 0, 0)

    def _matching(self, position: oai_tokens.ListPosition) -> Iterator[ChangeRow]:
        store = self.catalogue.store()
        spec = position.set_spec
        after = position.after if position.after != ("", "") else None
        rows = store.iter_changes(source=source_of(spec) if spec else None, since=position.since, until=position.until, after=after)
        for row in rows:
            if spec is None or in_set(row.record, row.source, spec):
                yield row

    def _token(self, position: oai_tokens.ListPosition, last: ChangeRow, more: bool, now: float):
        el = _el("resumptionToken")
        el.set("cursor", str(position.cursor))
        if more:
            expires = int(now) + self.config.token_ttl_seconds
            sent = position.cursor + self.config.list_size
            nxt = oai_tokens.ListPosition(position.verb, position.prefix, position.set_spec, position.since, position.until, (last.changed_at, last.accession), sent, expires)
            el.text = oai_tokens.encode(nxt, self.config.secret)
            el.set("expirationDate", _stamp(expires))
        return el

    # -- records --------------------------------------------------------------------------

    def _row(self, identifier: str) -> ChangeRow:
        prefix = f"oai:{self.config.identifier_namespace}:"
        row = self.catalogue.store().change_row(identifier[len(prefix):]) if identifier.startswith(prefix) else None
        if row is None:
            raise OaiError("idDoesNotExist", f"no record has the identifier {identifier!r}")
        return row

    def _header(self, row: ChangeRow):
        el = _el("header")
        if row.deleted:
            el.set("status", "deleted")
        _sub(el, "identifier", f"oai:{self.config.identifier_namespace}:{row.accession}")
        _sub(el, "datestamp", _datestamp(row.changed_at))
        for spec in record_sets(row.record) if row.record else [f"source:{row.source}"]:
            _sub(el, "setSpec", spec)
        return el

    def _record(self, row: ChangeRow, fmt, site: Site):
        el = _el("record")
        el.append(self._header(row))
        if not row.deleted and row.record is not None:
            _sub(el, "metadata").append(fmt.build(row.record, site))
        return el


# -- helpers ----------------------------------------------------------------------------------


def _el(tag: str):
    return etree.Element(f"{{{OAI}}}{tag}")


def _sub(parent, tag: str, text: str | None = None):
    el = etree.SubElement(parent, f"{{{OAI}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _take(rows: Iterator, n: int) -> Iterator:
    for index, row in enumerate(rows):
        if index >= n:
            return
        yield row


def _format(prefix: str):
    fmt = FORMATS.get(prefix)
    if fmt is None:
        raise OaiError("cannotDisseminateFormat", f"metadataPrefix {prefix!r} is not offered; use {', '.join(FORMATS)}")
    return fmt


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime(SECONDS)


def _datestamp(value: str) -> str:
    """A stored time in the OAI second-granularity form."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(SECONDS)


def _parse_bound(name: str, value: str) -> tuple[str, datetime]:
    for granularity in (SECONDS, DAY):
        try:
            return granularity, datetime.strptime(value, granularity)
        except ValueError:
            continue
    raise OaiError("badArgument", f"{name} must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ, got {value!r}")


def _bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """``from``/``until`` as inclusive second-granularity bounds (a day covers all of it)."""
    low = high = None
    if since is not None:
        gran_low, moment = _parse_bound("from", since)
        low = moment.strftime(SECONDS)
    if until is not None:
        gran_high, moment = _parse_bound("until", until)
        high = moment.strftime(SECONDS) if gran_high == SECONDS else moment.strftime(DAY) + "T23:59:59Z"
    if low and high:
        if gran_low != gran_high:
            raise OaiError("badArgument", "from and until must have the same granularity")
        if low > high:
            raise OaiError("badArgument", "from is later than until")
    return low, high
