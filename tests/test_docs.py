"""The docs cover what the code declares: every config key, every record field."""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict
from pathlib import Path

from bioimage_search.config import SECTIONS, Settings, load_settings
from harvesters import records

ROOT = Path(__file__).parent.parent


def test_config_toml_documents_every_key_with_its_default():
    text = (ROOT / "config.toml").read_text()
    raw = tomllib.loads(text)
    defaults = Settings()
    assert set(raw) == set(SECTIONS)
    for section, cls in SECTIONS.items():
        assert set(raw[section]) == set(asdict(cls())), section
        for key, value in raw[section].items():
            assert value == getattr(getattr(defaults, section), key), f"{section}.{key} differs from its default"
            # The line before each key is a comment explaining it.
            before = text.split(f"\n{key} = ")[0].rstrip().splitlines()[-1]
            assert before.startswith("#"), f"{section}.{key} has no comment"


def test_config_toml_loads():
    settings = load_settings(ROOT / "config.toml", environ={})
    assert settings.data_dir == (ROOT / "data").resolve()


def test_schema_doc_names_every_record_field():
    doc = (ROOT / "docs" / "schema.md").read_text()
    for model in (records.Record, records.Author, records.Publication, records.Organism, records.ImagingMethod,
                  records.Biosample, records.Specimen, records.ImageAcquisition, records.StudyComponent,
                  records.Link, records.Provenance, records.Channel, records.FileRow, records.License, records.Organisation):
        for name in model.model_fields:
            assert re.search(rf"`{name}`", doc), f"{model.__name__}.{name} is not documented"
