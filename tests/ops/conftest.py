"""A harvested and indexed data dir for the status, admin and metrics tests: 30 generated
records and one broken submission (a stored normalise error with its source URL)."""

from __future__ import annotations

import pytest

from bioimage_search.ops import make_app
from bioimage_search.pipeline import harvest_and_update
from tests.ops.helpers import ops_settings, write_broken, write_mirror

TOKEN = "s3cret-admin-token"


@pytest.fixture(scope="module")
def ops_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops")
    mirror = root / "mirror"
    write_mirror(mirror, 30)
    write_broken(mirror)
    settings = ops_settings(root, mirror, harvest={"archive": "0 * * * *"})
    settings.admin.token = TOKEN
    outcome = harvest_and_update(settings, "archive")
    assert outcome.harvest.status == "partial" and outcome.index is not None
    return settings


@pytest.fixture(scope="module")
def ops_client(ops_data):
    app = make_app(ops_data)
    app.config["TESTING"] = True
    return app.test_client()
