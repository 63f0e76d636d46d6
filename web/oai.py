"""The OAI-PMH 2.0 endpoint at /oai (GET or form POST). Protocol errors are ``<error>``
elements in a 200 response, never the JSON error shape (see :mod:`query.oai`)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from query.oai import OaiConfig, OaiRepository
from query.oai_tokens import resolve_secret
from web.partners import catalogue, settings, site

oai = Blueprint("oai", __name__)


def repository() -> OaiRepository:
    """The app's OAI repository (built on first use from the [oai] settings)."""
    found = current_app.extensions.get("oai_repository")
    if found is None:
        conf = settings().oai
        config = OaiConfig(
            repository_name=conf.repository_name,
            admin_email=conf.admin_email,
            identifier_namespace=conf.identifier_namespace,
            list_size=conf.list_size,
            token_ttl_seconds=conf.token_ttl_seconds,
            secret=resolve_secret(conf.token_secret, settings().data_dir),
            min_set_records=conf.min_set_records,
        )
        service = current_app.extensions["search_service"]
        found = OaiRepository(catalogue(), config, lambda: service.facets()["facets"])
        current_app.extensions["oai_repository"] = found
    return found


@oai.route("/oai", methods=["GET", "POST"])
def endpoint():
    """Answer one OAI-PMH request; the arguments come from the query string or a form."""
    args = request.form if request.method == "POST" else request.args
    body = repository().handle(args.to_dict(flat=False), site().url("/oai"), site())
    return Response(body, status=200, content_type="text/xml; charset=utf-8")
