"""Configuration: ``config.toml`` read into typed settings. Nothing is read from the
environment at import time; ``load_settings`` applies the documented overrides,
``BIOIMAGE_SEARCH_DATA_DIR``, ``BIOIMAGE_SEARCH_OAI_SECRET`` and
``BIOIMAGE_SEARCH_ADMIN_TOKEN``, when it is asked to.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

SAMPLE_ROOT = Path(__file__).parent / "sample_store"
SAMPLE_STORE = SAMPLE_ROOT / "archive"
DATA_DIR_ENV = "BIOIMAGE_SEARCH_DATA_DIR"
OAI_SECRET_ENV = "BIOIMAGE_SEARCH_OAI_SECRET"
ADMIN_TOKEN_ENV = "BIOIMAGE_SEARCH_ADMIN_TOKEN"


class ConfigError(ValueError):
    """The configuration file is unreadable or holds an unknown key or a bad value."""


@dataclass
class PathsSettings:
    data_dir: str = "data"


@dataclass
class ArchiveSettings:
    location: str = "sample"
    collection: str = "BioImages"
    timeout_seconds: float = 30.0
    retries: int = 3


@dataclass
class JcbSettings:
    location: str = "sample"
    collection: str = "JCB"


@dataclass
class EmpiarSettings:
    location: str = "sample"
    id_range: str = ""
    ids_file: str = ""


@dataclass
class IdrSettings:
    location: str = "sample"
    study_ids: list = field(default_factory=list)


@dataclass
class IndexSettings:
    keep_generations: int = 3
    segment_records: int = 250_000
    build_workers: int = 2
    min_fraction: float = 0.9
    freshness_seconds: int = 60


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000


def _default_harvest_crons() -> dict:
    return {"archive": "0 * * * *", "jcb": "15 * * * *", "empiar": "30 * * * *", "idr": "45 * * * *"}


@dataclass
class SchedulerSettings:
    enabled: bool = True
    harvest: dict = field(default_factory=_default_harvest_crons)
    rebuild_cron: str = "30 2 * * *"
    misfire_grace_seconds: int = 3600
    timezone: str = "UTC"


@dataclass
class AdminSettings:
    token: str = ""


@dataclass
class SiteSettings:
    base_url: str = ""


@dataclass
class OaiSettings:
    repository_name: str = "BioImage Search"
    admin_email: str = "bioimage-search@example.org"
    identifier_namespace: str = "bioimage-search.example.org"
    list_size: int = 100
    token_ttl_seconds: int = 86400
    token_secret: str = ""
    min_set_records: int = 1


@dataclass
class SitemapSettings:
    urls_per_sitemap: int = 50000


@dataclass
class DumpSettings:
    dump_dir: str = ""


@dataclass
class Settings:
    """All settings; relative paths resolve against ``base_dir`` (the config file's folder)."""

    paths: PathsSettings = field(default_factory=PathsSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    jcb: JcbSettings = field(default_factory=JcbSettings)
    empiar: EmpiarSettings = field(default_factory=EmpiarSettings)
    idr: IdrSettings = field(default_factory=IdrSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    oai: OaiSettings = field(default_factory=OaiSettings)
    sitemaps: SitemapSettings = field(default_factory=SitemapSettings)
    dumps: DumpSettings = field(default_factory=DumpSettings)
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def data_dir(self) -> Path:
        return (self.base_dir / self.paths.data_dir).resolve()

    @property
    def store_path(self) -> Path:
        return self.data_dir / "store.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def dump_dir(self) -> Path:
        """Where dumps are written and served from (default ``<data_dir>/dumps``)."""
        return (self.base_dir / self.dumps.dump_dir).resolve() if self.dumps.dump_dir else self.data_dir / "dumps"

    def location_of(self, source: str) -> str:
        """A source's location: a URL, or a folder (``sample`` = the packaged sample store)."""
        location = getattr(self, source).location
        if location == "sample":
            return str(SAMPLE_ROOT / source)
        if location.startswith(("http://", "https://")):
            return location
        return str((self.base_dir / location).resolve())


SECTIONS = {
    "paths": PathsSettings,
    "archive": ArchiveSettings,
    "jcb": JcbSettings,
    "empiar": EmpiarSettings,
    "idr": IdrSettings,
    "index": IndexSettings,
    "server": ServerSettings,
    "scheduler": SchedulerSettings,
    "admin": AdminSettings,
    "site": SiteSettings,
    "oai": OaiSettings,
    "sitemaps": SitemapSettings,
    "dumps": DumpSettings,
}


def load_settings(path: Path | str | None = None, data_dir: str | None = None, environ=None) -> Settings:
    """Read settings from ``path`` (default: ./config.toml if present, else built-in defaults)."""
    environ = os.environ if environ is None else environ
    config_path = Path(path) if path else Path("config.toml")
    if path is None and not config_path.is_file():
        settings = Settings()
    else:
        settings = _from_file(config_path)
    override = data_dir or environ.get(DATA_DIR_ENV)
    if override:
        settings.paths.data_dir = str(Path(override).resolve())
    if environ.get(OAI_SECRET_ENV):
        settings.oai.token_secret = environ[OAI_SECRET_ENV]
    if environ.get(ADMIN_TOKEN_ENV):
        settings.admin.token = environ[ADMIN_TOKEN_ENV]
    return settings


def _from_file(path: Path) -> Settings:
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from exc
    settings = Settings(base_dir=path.resolve().parent)
    for section, values in raw.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}]")
        setattr(settings, section, _section(path, section, values))
    return settings


def _section(path: Path, name: str, values: dict):
    cls = SECTIONS[name]
    known = {f.name: f for f in fields(cls)}
    obj = cls()
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {name}.{key}")
        expected = type(getattr(obj, key))
        if expected is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"{path}: {name}.{key} must be {expected.__name__}, got {value!r}")
        setattr(obj, key, value)
    return obj
