"""Shared helpers of the operations tests: generated PageTab mirrors, settings on a temp data
dir, config files for subprocesses, and a line reader for a subprocess's stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bioimage_search.config import Settings
from harvesters.records import Record
from harvesters.store import RecordStore

BIN = Path(sys.executable).parent / "bioimage-search"
NEVER = "0 0 1 1 *"  # a cron that is (almost) never due: 1 January, 00:00
ORGANISMS = ["Homo sapiens (human)", "Mus musculus (mouse)", "Danio rerio (zebrafish)"]


def accession(i: int, prefix: str = "S-GEN") -> str:
    return f"{prefix}{i:05d}"


def write_mirror(root: Path, count: int, start: int = 0, prefix: str = "S-GEN") -> list[str]:
    """``count`` small PageTab JSON submissions in FTP layout; returns their accessions."""
    names = []
    for i in range(start, start + count):
        acc = accession(i, prefix)
        folder = root / acc
        folder.mkdir(parents=True, exist_ok=True)
        submission = {
            "accno": acc,
            "attributes": [{"name": "Title", "value": f"Generated study {i}"},
                           {"name": "ReleaseDate", "value": f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}"}],
            "section": {"type": "Study", "attributes": [
                {"name": "Title", "value": f"Generated study {i} of cells"},
                {"name": "Description", "value": f"Synthetic record {i}: fluorescence images of cells."},
                {"name": "Organism", "value": ORGANISMS[i % 3]},
            ]},
        }
        (folder / f"{acc}.json").write_text(json.dumps(submission))
        names.append(acc)
    return names


def write_broken(root: Path, acc: str = "S-BROKEN") -> None:
    """A submission without a title: a normalise error with its source URL."""
    (root / acc).mkdir(parents=True, exist_ok=True)
    (root / acc / f"{acc}.json").write_text(json.dumps({"accno": acc, "attributes": [], "section": {"type": "Study"}}))


def ops_settings(tmp_path: Path, mirror: Path | None = None, **scheduler) -> Settings:
    """Settings on ``tmp_path/data`` with the scheduler off and every cron never due."""
    settings = Settings(base_dir=tmp_path)
    settings.paths.data_dir = str(tmp_path / "data")
    settings.scheduler.enabled = False
    settings.scheduler.harvest = {}
    settings.scheduler.rebuild_cron = NEVER
    if mirror is not None:
        settings.archive.location = str(mirror)
    for key, value in scheduler.items():
        setattr(settings.scheduler, key, value)
    return settings


def write_config(path: Path, data_dir: Path, *, enabled: bool = False, harvest: dict | None = None,
                 mirror: Path | None = None, token: str = "") -> Path:
    """A config.toml for a subprocess."""
    crons = ", ".join(f'{k} = "{v}"' for k, v in (harvest or {}).items())
    text = (f'[paths]\ndata_dir = "{data_dir}"\n\n'
            f'[scheduler]\nenabled = {"true" if enabled else "false"}\nharvest = {{ {crons} }}\nrebuild_cron = "{NEVER}"\n\n'
            f'[admin]\ntoken = "{token}"\n')
    if mirror is not None:
        text += f'\n[archive]\nlocation = "{mirror}"\n'
    path.write_text(text)
    return path


def record(acc: str, i: int = 0, source: str = "bia") -> Record:
    return Record(accession=acc, source=source, title=f"Generated study {i} of cells",
                  description=f"Synthetic record {i}.", release_date="2024-01-02")


def save(store: RecordStore, records: list[Record]) -> None:
    with store.transaction() as db:
        for rec in records:
            store.save_record(db, rec, b"{}", rec.content_fingerprint())


def env_for(data_dir: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIOIMAGE_SEARCH_", "PROMETHEUS_"))}
    if data_dir is not None:
        env["BIOIMAGE_SEARCH_DATA_DIR"] = str(data_dir)
    return env


class Proc:
    """A subprocess whose stderr lines are collected by a thread."""

    def __init__(self, args: list[str], cwd: Path, env: dict | None = None):
        self.started = time.monotonic()
        self.popen = subprocess.Popen(args, cwd=cwd, env=env or env_for(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 30) -> str:
        """The first stderr line matching ``predicate``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.popen.poll() is not None and seen == len(self.lines):
                self._reader.join(1)
                if len(self.lines) == seen:
                    break
            time.sleep(0.02)
        raise AssertionError(f"no matching line within {timeout}s; stderr:\n" + "\n".join(self.lines[-30:]))

    def finish(self, timeout: float = 120) -> int:
        code = self.popen.wait(timeout)
        self._reader.join(5)
        return code

    def text(self) -> str:
        return "\n".join(self.lines)
