"""Shared fixtures: a record store and a real Whoosh index built once per session from the
sample archive store shipped in the package (real PageTab records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioimage_search.config import SAMPLE_STORE, Settings
from harvesters.archive import MirrorArchiveHarvester
from harvesters.base import run_harvest
from harvesters.store import RecordStore
from indexer.builder import full_build

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def sample_settings(tmp_path_factory) -> Settings:
    """Settings whose data dir holds the harvested sample store and a built index."""
    data = tmp_path_factory.mktemp("data")
    settings = Settings(base_dir=data)
    settings.paths.data_dir = str(data)
    with RecordStore(settings.store_path) as store:
        summary = run_harvest(MirrorArchiveHarvester(SAMPLE_STORE), store, full=True)
        assert summary.counts["added"] >= 28, summary.line()
        full_build(store, settings.index_dir)
    return settings


@pytest.fixture(scope="session")
def app(sample_settings):
    from web import create_app

    app = create_app(sample_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()
