"""Configuration: ``config.toml`` read into typed settings. Nothing is read from the
environment at import time; ``load_settings`` applies the one documented override,
``BIOIMAGE_SEARCH_DATA_DIR``, when it is asked to.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

SAMPLE_ROOT = Path(__file__).parent / "sample_store"
SAMPLE_STORE = SAMPLE_ROOT / "archive"
DATA_DIR_ENV = "BIOIMAGE_SEARCH_DATA_DIR"


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
class IndexSettings:
    keep_generations: int = 3
    writer_memory_mb: int = 256


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000


@dataclass
class Settings:
    """All settings; relative paths resolve against ``base_dir`` (the config file's folder)."""

    paths: PathsSettings = field(default_factory=PathsSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    jcb: JcbSettings = field(default_factory=JcbSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
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
    "index": IndexSettings,
    "server": ServerSettings,
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
