"""Storage behind one seam (base.py): the CLI, `send`, `schedule`, `web` and `optin` ask for
`open_stores(config)` and use its Protocols; which engine and which list format sit behind
them is decided here, from `state:` and `subscribers:` in digest.yaml.

    state: .digest/state.db           SQLite file (default)      -> sqlite.SqliteDatabase
    state: postgresql://u@host/db     PostgreSQL server          -> postgres.PostgresDatabase
    subscribers: subscribers.yaml     hand-edited YAML (default) -> yamllist.YamlList
    subscribers: database             a table in `state:`        -> sql.SubscriberTable
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..util.location import Location
from .base import (
    Bounce,
    CachedResponse,
    Claim,
    HttpCache,
    LastSent,
    Ledger,
    Listings,
    OwnPapers,
    RateLimits,
    ReaderFeeds,
    Run,
    SentIssue,
    SubscriberStore,
    Tldrs,
)
from .sql import SqlDatabase

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "Bounce",
    "CachedResponse",
    "Claim",
    "HttpCache",
    "LastSent",
    "Ledger",
    "Location",
    "OwnPapers",
    "RateLimits",
    "ReaderFeeds",
    "SentIssue",
    "Run",
    "Stores",
    "SubscriberStore",
    "Listings",
    "Tldrs",
    "open_database",
    "open_stores",
    "stores",
]


def open_database(location: Location, *, readonly: bool = False, check: bool = True) -> SqlDatabase:
    """The engine `location` names. `readonly`: preview and dry runs, which record nothing.
    `check=False` (PostgreSQL, `digest db upgrade`) opens a database whose schema is behind."""
    if location.engine == "postgresql":
        from .postgres import PostgresDatabase

        assert location.url is not None
        return PostgresDatabase(location.url, readonly=readonly, check=check)
    from .sqlite import SqliteDatabase

    assert location.path is not None
    return SqliteDatabase(location.path, readonly=readonly)


@dataclass
class Stores:
    """The open stores of one deployment. `database` is the Ledger and the RateLimits."""

    database: SqlDatabase
    subscribers: SubscriberStore

    @property
    def ledger(self) -> Ledger:
        return self.database

    @property
    def rates(self) -> RateLimits:
        return self.database

    @property
    def own_papers(self) -> OwnPapers:
        return self.database

    @property
    def tldrs(self) -> Tldrs:
        return self.database

    @property
    def listings(self) -> Listings:
        return self.database

    @property
    def reader_feeds(self) -> ReaderFeeds:
        return self.database

    def http_cache(self, *, readonly: bool = False) -> HttpCache:
        return self.database.http_cache(readonly=readonly)

    def close(self) -> None:
        self.subscribers.close()
        self.database.close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subscriber_store(config: Config, database: SqlDatabase) -> SubscriberStore:
    from ..readers.subscribers import known_topics

    topics, zone = known_topics(config), config.newsletter.timezone
    if config.list_path is None:
        return database.subscriber_table(topics, zone)
    from .yamllist import YamlList

    return YamlList(config.list_path, topics, zone)


def open_stores(config: Config, *, readonly: bool = False) -> Stores:
    database = open_database(config.state_at, readonly=readonly)
    try:
        return Stores(database, subscriber_store(config, database))
    except BaseException:
        database.close()
        raise


@contextmanager
def stores(config: Config, *, readonly: bool = False) -> Iterator[Stores]:
    opened = open_stores(config, readonly=readonly)
    try:
        yield opened
    finally:
        opened.close()


class LazyHttpCache:
    """The HTTP cache of a database opened on first use, so a run whose sources are all
    files never creates a state file, and a database that cannot be opened turns the cache
    off (said in `problem`) rather than the fetch."""

    def __init__(self, location: Location, *, readonly: bool = False):
        self.location = location
        self.readonly = readonly
        self.problem: str | None = None
        self._db: SqlDatabase | None = None
        self._cache: HttpCache | None = None
        import threading

        self._lock = threading.Lock()

    def _open(self) -> HttpCache | None:
        from ..errors import DigestError

        with self._lock:
            if self._cache is None and self.problem is None:
                try:
                    self._db = open_database(self.location, readonly=self.readonly)
                    self._cache = self._db.http_cache(readonly=self.readonly)
                except DigestError as exc:
                    self.problem = f"{self.location}: HTTP cache off for this run ({'; '.join(exc.problems)})"
            return self._cache

    def get(self, url: str) -> CachedResponse | None:
        cache = self._open()
        found = cache.get(url) if cache is not None else None
        self._note(cache)
        return found

    def put(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None:
        cache = self._open()
        if cache is not None:
            cache.put(url, etag, last_modified, body)
        self._note(cache)

    def touch(self, url: str) -> None:
        cache = self._open()
        if cache is not None:
            cache.touch(url)
        self._note(cache)

    def _note(self, cache: HttpCache | None) -> None:
        if cache is not None and cache.problem and not self.problem:
            self.problem = cache.problem

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
