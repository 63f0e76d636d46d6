"""The one HTTP seam of the harvesters: timeouts, retries with backoff, ``Retry-After``, an
honest User-Agent, and a typed FetchError instead of status-code asserts (model: sickle).
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime

import orjson
import requests

log = logging.getLogger(__name__)

USER_AGENT = "bioimage-search-harvester/0.1 (+https://github.com/bioimage-search)"
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A request that failed for good: ``status`` is the HTTP status, or None for network errors."""

    def __init__(self, url: str, message: str, status: int | None = None):
        super().__init__(f"{message} ({url})")
        self.url = url
        self.status = status
        self.message = message


class HttpClient:
    """A requests session with bounded retries; ``sleep`` is injectable for tests."""

    def __init__(
        self,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        sleep=time.sleep,
    ):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._sleep = sleep

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def get(self, url: str, *, params: dict | None = None, stream: bool = False) -> requests.Response:
        """GET with retries; returns a 2xx response or raises FetchError."""
        for attempt in range(self.retries + 1):
            try:
                response = self.session.get(url, params=params, timeout=self.timeout, stream=stream)
            except requests.RequestException as exc:
                if attempt == self.retries:
                    raise FetchError(url, f"network error: {exc.__class__.__name__}: {exc}") from exc
                self._wait(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                response.close()
                self._wait(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400:
                response.close()
                raise FetchError(url, f"HTTP {response.status_code}", response.status_code)
            return response
        raise FetchError(url, "retries exhausted")  # pragma: no cover - loop always returns

    def get_json(self, url: str, *, params: dict | None = None):
        """GET and decode a JSON body; a non-JSON body is a FetchError."""
        response = self.get(url, params=params)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise FetchError(url, f"invalid JSON: {exc}", response.status_code) from exc

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * (2**attempt)
        if retry_after:
            delay = _retry_after_seconds(retry_after, delay)
        delay = min(delay, self.max_wait)
        log.info("retrying in %.1fs", delay)
        self._sleep(delay)


def _retry_after_seconds(value: str, default: float) -> float:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, moment.timestamp() - time.time())
