"""The app factory: ``create_app(settings)`` wires a SearchService into the blueprints."""

from __future__ import annotations

from flask import Flask

from query.service import SearchService
from web.api import api
from web.errors import register_error_handlers
from web.suggest_api import suggest_api
from web.json_provider import OrjsonProvider
from web.oai import oai
from web.sitemaps import sitemaps
from web.dumps import dumps
from web.biostudies import biostudies
from web.portal import portal
from web.status_api import status_api
from web.openapi import openapi


def create_app(settings, service: SearchService | None = None) -> Flask:
    """A Flask app serving ``settings``' index (or the given service)."""
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config["SETTINGS"] = settings
    app.extensions["search_service"] = service or SearchService(settings.index_dir, settings.store_path)
    register_error_handlers(app)
    app.register_blueprint(api)
    app.register_blueprint(suggest_api)
    app.register_blueprint(oai)
    app.register_blueprint(sitemaps)
    app.register_blueprint(dumps)
    app.register_blueprint(biostudies)
    app.register_blueprint(portal)
    app.register_blueprint(status_api)
    app.register_blueprint(openapi)
    return app
