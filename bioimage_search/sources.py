"""Which harvester serves each source name, built from the settings."""

from __future__ import annotations

from collections.abc import Callable

from bioimage_search.config import Settings
from harvesters import archive, empiar, idr, jcb
from harvesters.base import Harvester
from harvesters.http import HttpClient


def _client_factory(settings: Settings) -> Callable[[], HttpClient]:
    return lambda: HttpClient(timeout=settings.archive.timeout_seconds, retries=settings.archive.retries)


def _archive(settings: Settings, location: str) -> Harvester:
    return archive.harvester_for(location, settings.archive.collection, _client_factory(settings))


def _jcb(settings: Settings, location: str) -> Harvester:
    return jcb.harvester_for(location, settings.jcb.collection, _client_factory(settings))


def _empiar(settings: Settings, location: str) -> Harvester:
    remote = location.startswith(("http://", "https://"))
    return empiar.harvester_for(
        location,
        id_range=(settings.empiar.id_range or None) if remote else None,
        ids_file=str(settings.base_dir / settings.empiar.ids_file) if remote and settings.empiar.ids_file else None,
        client_factory=_client_factory(settings),
    )


def _idr(settings: Settings, location: str) -> Harvester:
    ids = [str(i) for i in settings.idr.study_ids] or None
    return idr.harvester_for(location, study_ids=ids, client_factory=_client_factory(settings))


FACTORIES: dict[str, Callable[[Settings, str], Harvester]] = {
    "archive": _archive,
    "jcb": _jcb,
    "empiar": _empiar,
    "idr": _idr,
}


def build_harvester(settings: Settings, source: str, location: str | None = None) -> Harvester:
    """The harvester of ``source`` reading ``location`` (default: the configured one)."""
    return FACTORIES[source](settings, location or settings.location_of(source))
