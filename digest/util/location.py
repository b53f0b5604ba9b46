"""Where the database is: `state:` in digest.yaml, or DIGEST_STATE_URL in the environment.

    .digest/state.db                     a SQLite file (relative to digest.yaml)
    sqlite:///var/lib/digest/state.db    the same, as a URL (three slashes and an absolute path)
    postgresql://digest@db.internal:5432/digest
                                         PostgreSQL; the password comes from PGPASSWORD or
                                         ~/.pgpass, or the whole URL from DIGEST_STATE_URL

A password never belongs in digest.yaml, which people commit and share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

STATE_URL_ENV = "DIGEST_STATE_URL"
POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class Location:
    engine: Literal["sqlite", "postgresql"]
    path: Path | None = None  # SQLite
    url: str | None = None  # PostgreSQL, as libpq takes it (may hold a password from the env)

    def __str__(self) -> str:
        if self.path is not None:
            return str(self.path)
        return redact(self.url or "")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check(value: str) -> str:
    """Validate `state:` as written in digest.yaml (a ValueError says what to write)."""
    scheme = urlsplit(value).scheme if "://" in value else ""
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(value)
        if parts.password is not None:
            raise ValueError(
                "the database password does not belong in digest.yaml: remove it and set PGPASSWORD "
                f"(or put the whole URL in {STATE_URL_ENV})"
            )
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(f"{value!r}: the port must be a number, e.g. :5432") from None
        if not parts.path.strip("/"):
            raise ValueError(f"{value!r} names no database; write e.g. postgresql://digest@localhost/digest")
        return value
    if scheme == "sqlite":
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ValueError(f"{value!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return value
    if scheme:
        raise ValueError(
            f"state {value!r}: unknown database {scheme!r}; use a SQLite path (.digest/state.db) "
            "or postgresql://user@host/db"
        )
    if not value.strip():
        raise ValueError("state is empty; write a SQLite path such as .digest/state.db")
    return value


def resolve(value: str, root: Path, environ: Mapping[str, str] | None = None) -> Location:
    """The Location of `state:` (paths relative to `root`); DIGEST_STATE_URL wins when set."""
    override = (os.environ if environ is None else environ).get(STATE_URL_ENV)
    if override:
        try:
            value = override if urlsplit(override).scheme in POSTGRES_SCHEMES else check(override)
        except ValueError as exc:
            from ..errors import DigestError

            raise DigestError(f"{STATE_URL_ENV}: {exc}") from None
    if urlsplit(value).scheme in POSTGRES_SCHEMES:
        return Location("postgresql", url=value)
    path = Path(value.removeprefix("sqlite:///")) if value.startswith("sqlite:///") else Path(value)
    return Location("sqlite", path=path if path.is_absolute() else root / path)
