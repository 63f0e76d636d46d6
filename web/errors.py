"""One error shape for every endpoint, and the table mapping domain exceptions to HTTP.

Every error response is ``{"error": {"status": N, "code": "...", "message": "...",
"param": "..."|null, "position": N|null}}`` with the matching HTTP status.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from indexer.generations import NoIndexError
from query.errors import QuerySyntaxError
from query.params import ParamError
from query.service import NotFoundError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error raised by a view with its status and code."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None, position: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.param, self.position = status, code, message, param, position


def error_response(status: int, code: str, message: str, param: str | None = None, position: int | None = None):
    """The JSON error envelope with its status code."""
    body = {"error": {"status": status, "code": code, "message": message, "param": param, "position": position}}
    return jsonify(body), status


def _to_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QuerySyntaxError):
        return ApiError(400, "invalid_query", exc.message, getattr(exc, "param", "query"), exc.position)
    if isinstance(exc, ParamError):
        return ApiError(400, "invalid_parameter", exc.message, exc.param)
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found", f"no dataset with accession {exc.args[0]!r}")
    if isinstance(exc, NoIndexError):
        return ApiError(503, "no_index", str(exc))
    if isinstance(exc, HTTPException):
        return ApiError(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description or exc.name)
    log.exception("unhandled error")
    return ApiError(500, "internal_error", "internal error; the problem has been logged")


def register_error_handlers(app: Flask) -> None:
    """Route every exception through the one error shape."""

    @app.errorhandler(Exception)
    def handle(exc: Exception):
        err = _to_api_error(exc)
        response, status = error_response(err.status, err.code, err.message, err.param, err.position)
        if isinstance(exc, HTTPException) and exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # a 405 must say what is allowed
        return response, status
