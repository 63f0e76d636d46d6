"""The Flask web app: the JSON API (and, later, the portal pages)."""

from web.app import create_app

__all__ = ["create_app"]
