"""Shared pieces of the partner-protocol blueprints (OAI-PMH, sitemaps, dumps, BioStudies
compatibility): the app's settings, its record-store catalogue and its public URLs."""

from __future__ import annotations

from flask import current_app, request

from query.catalogue import Catalogue
from query.site import Site


def settings():
    """The app's settings object."""
    return current_app.config["SETTINGS"]


def catalogue() -> Catalogue:
    """The app's per-thread record-store access (created on first use)."""
    found = current_app.extensions.get("catalogue")
    if found is None:
        service = current_app.extensions["search_service"]
        found = current_app.extensions.setdefault("catalogue", Catalogue(service.store_path))
    return found


def site() -> Site:
    """Our public URLs: the configured base URL, else the one this request came in on."""
    configured = getattr(getattr(settings(), "site", None), "base_url", "")
    return Site(configured or request.url_root)
