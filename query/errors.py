"""Errors raised by the query language (parser, JSON form and compiler)."""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A query that cannot be understood.

    ``message`` names the problem, ``position`` is the 0-based character offset in the
    query string where it was found (``None`` when there is no string, e.g. for the JSON
    form), and ``param`` is the API parameter the query came from.
    """

    def __init__(self, message: str, position: int | None = None, param: str = "query"):
        self.message = message
        self.position = position
        self.param = param
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} (at position {self.position})"

    def __reduce__(self):  # keep pickling (e.g. across processes) working
        return (type(self), (self.message, self.position, self.param))
