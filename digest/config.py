"""digest.yaml: load, validate, resolve paths. Secrets come from the environment, never YAML.

Relative paths in the file are relative to the file's own folder, so `digest --config
/srv/lab/digest.yaml` works from any working directory.
"""

from __future__ import annotations

import os
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import yamlfile
from .errors import DigestError
from .models import check_timezone

DEFAULT_CONFIG = Path("digest.yaml")
SECRET_ENV = "DIGEST_SECRET"
# Used only for local backends (file://, console://) so the demo runs with no setup;
# links signed with it are worthless on a real server, which refuses to start without one.
DEV_SECRET = "digest-dev-secret-not-for-production"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Newsletter(_Strict):
    name: str = "Trending Papers"
    sender: str = Field("Trending Papers <papers@example.org>", alias="from")
    base_url: str = "https://papers.example.org"
    # A postal address in the footer is required for bulk mail in several countries.
    address: str | None = None
    reply_to: str | None = None
    timezone: str = "UTC"

    @field_validator("sender", "reply_to")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, addr = parseaddr(value)
        try:
            validate_email(addr, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a mailbox like 'Name <you@example.org>': {exc}") from None
        return " ".join(value.split())

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} must be an absolute http(s) URL, e.g. https://papers.example.org")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class FileSource(_Strict):
    """Papers from a local file: JSON lines, or a saved Hugging Face daily_papers response."""

    kind: Literal["file"]
    path: Path
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"file:{self.path.name}"


SourceConfig = FileSource


class Delivery(_Strict):
    url: str = "file://outbox"
    concurrency: int = Field(4, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("file", "console"):
            raise ValueError(f"delivery URL scheme {scheme!r} is not supported; use file://DIR or console://")
        return value


class Ranking(_Strict):
    max_papers: int = Field(20, ge=1, le=100)
    # Weight of personal relevance against trending score, 0 (pure trending) to 1.
    relevance_weight: float = Field(0.6, ge=0, le=1)
    min_score: float = Field(0.0, ge=0)


class Config(_Strict):
    newsletter: Newsletter = Field(default_factory=Newsletter)
    sources: list[SourceConfig] = Field(min_length=1)
    subscribers: Path = Path("subscribers.yaml")
    state: Path = Path(".digest/state.db")
    delivery: Delivery = Field(default_factory=Delivery)
    templates: Path | None = None
    ranking: Ranking = Field(default_factory=Ranking)

    # Set by load(), not by the file.
    path: Path = Field(DEFAULT_CONFIG, exclude=True)

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    @property
    def outbox(self) -> Path | None:
        parts = urlsplit(self.delivery.url)
        if parts.scheme != "file":
            return None
        return self.resolve(Path(parts.netloc + parts.path))

    def secret(self) -> str:
        secret = os.environ.get(SECRET_ENV)
        if secret:
            return secret
        if urlsplit(self.delivery.url).scheme in ("file", "console"):
            return DEV_SECRET
        raise DigestError(
            f"{SECRET_ENV} is not set: links in emails are signed with it. "
            "Set it to a long random string, e.g. "
            f"export {SECRET_ENV}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )


def load(path: Path = DEFAULT_CONFIG) -> Config:
    doc = yamlfile.load(path)
    if not isinstance(doc.data, dict):
        raise DigestError(f"{path}: expected a mapping with newsletter:, sources:, ... at the top")
    if "path" in doc.data:
        raise DigestError(f"{doc.where(('path',))}: unknown field 'path'")
    try:
        config = Config.model_validate({**doc.data, "path": path})
    except ValidationError as exc:
        raise DigestError(yamlfile.validation_problems(doc, exc, Config)) from None
    for source in config.sources:
        source.path = config.resolve(source.path)
    config.subscribers = config.resolve(config.subscribers)
    config.state = config.resolve(config.state)
    if config.templates is not None:
        config.templates = config.resolve(config.templates)
        if not config.templates.is_dir():
            raise DigestError(f"{doc.where(('templates',))}: templates: {config.templates} is not a folder")
    return config
