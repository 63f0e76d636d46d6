"""OAI-PMH resumption tokens: the list request plus a keyset position, signed and dated.

A token holds the verb, metadataPrefix, set, from and until of the list it continues, the
(datestamp, accession) key of the last record sent, the cursor (records sent so far) and an
expiry time, as base64url JSON followed by an HMAC-SHA256 signature. Positions are keys in
the record store, never offsets into an index, so a token stays right across index swaps
and while records change; a token that is expired, garbled, signed with another secret or
used with another verb is refused with :class:`BadToken`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

SECRET_FILE = "oai_token_secret"
MAX_TOKEN_LENGTH = 2000


class BadToken(ValueError):
    """A resumption token this repository cannot continue; the message says why."""


@dataclass(frozen=True)
class ListPosition:
    """Where a list request stands: its arguments and the last key it returned."""

    verb: str
    prefix: str
    set_spec: str | None
    since: str | None
    until: str | None
    after: tuple[str, str]
    cursor: int
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(position: ListPosition, secret: bytes) -> str:
    """The signed token for ``position``."""
    body = orjson.dumps(
        {
            "v": position.verb,
            "p": position.prefix,
            "s": position.set_spec,
            "f": position.since,
            "u": position.until,
            "a": list(position.after),
            "c": position.cursor,
            "e": position.expires,
        }
    )
    payload = _b64(body)
    return f"{payload}.{_sign(payload, secret)}"


def decode(token: str, secret: bytes, verb: str, now: float | None = None) -> ListPosition:
    """The position a token continues from; BadToken if it is not valid here and now."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise BadToken("not a resumption token issued by this repository")
    payload, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(payload, secret)):
        raise BadToken("not a resumption token issued by this repository")
    try:
        data = orjson.loads(_unb64(payload))
        position = ListPosition(
            verb=data["v"], prefix=data["p"], set_spec=data["s"], since=data["f"], until=data["u"],
            after=(str(data["a"][0]), str(data["a"][1])), cursor=int(data["c"]), expires=int(data["e"]),
        )
    except (ValueError, TypeError, KeyError, IndexError, orjson.JSONDecodeError):
        raise BadToken("not a resumption token issued by this repository") from None
    if position.verb != verb:
        raise BadToken(f"this resumption token continues {position.verb}, not {verb}")
    if position.expires < (time.time() if now is None else now):
        raise BadToken("the resumption token has expired; start the list again")
    return position


def _sign(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def resolve_secret(configured: str, data_dir: Path) -> bytes:
    """The signing secret: the configured one, else a random one kept in the data folder
    (created once, readable by the owner only) so that every worker and restart agrees."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode())
    try:
        os.link(tmp, path)  # fails if another worker won the race: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()
