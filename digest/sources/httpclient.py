"""HTTP for every web source: one httpx client, bounded in time, size and redirects.

Every request has a deadline; 429, 5xx, timeouts and dropped connections are retried with
exponential backoff and jitter, honouring `Retry-After`; a body may not grow past
`max_bytes`, counted after decompression (we inflate gzip/deflate ourselves, in bounded
steps, because httpx's decoders have no output limit and a 64 KB chunk of a gzip bomb
inflates to 64 MB at once). With a cache, requests are conditional and a 304 returns the
body kept from last time. Everything that can go wrong ends in a FetchError whose message
says what happened, in words for the report.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx

from .. import __version__
from ..util.capped import Inflater, Overdue, stream
from ..util.retry import backoff, retry_after_seconds
from .result import FetchError

USER_AGENT = f"digest/{__version__} (trending papers newsletter; python-httpx)"
_RETRY_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))


class _Transient(Exception):
    """A failure worth another attempt (timeout, dropped connection, 429, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Limits(Protocol):
    timeout: float
    retries: int
    backoff: float
    max_wait: float
    max_bytes: int
    max_redirects: int


class Cache(Protocol):
    def get(self, url: str): ...
    def put(self, url: str, etag: str | None, last_modified: str | None, body: bytes) -> None: ...
    def touch(self, url: str) -> None: ...


@dataclass
class Response:
    final_url: str  # after redirects
    body: bytes
    content_type: str
    cached: bool  # the server said 304 and the body is the one we kept


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


class Client:
    """Shared by every source of a run; safe to use from several threads at once."""

    def __init__(
        self,
        limits: Limits,
        *,
        cache: Cache | None = None,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limits = limits
        self.cache = cache
        self.sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(limits.timeout),
            follow_redirects=True,
            max_redirects=limits.max_redirects,
            headers={"User-Agent": user_agent or USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: dict[str, str | int] | None = None, *, accept: str = "*/*") -> Response:
        """GET with retries; a FetchError says why there is no body."""
        try:
            full = str(httpx.URL(url, params=params))
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise FetchError(f"{url}: not a usable URL ({exc})") from None
        cached = self.cache.get(full) if self.cache else None
        headers = {"Accept": accept}
        if cached and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._attempt(full, headers, cached)
            except _Transient as exc:
                if attempts > self.limits.retries:
                    tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
                    raise FetchError(f"{exc} (gave up after {tries})") from None
                wait = self._backoff(attempts)
                if exc.retry_after is not None:
                    if exc.retry_after > self.limits.max_wait:
                        raise FetchError(
                            f"{exc}; the server asks to wait {exc.retry_after:.0f}s, longer than "
                            f"fetch.max_wait ({self.limits.max_wait:g}s), so this run gave up"
                        ) from None
                    wait = max(wait, exc.retry_after)
                self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return backoff(self.limits.backoff, attempt, self.limits.max_wait)

    def _attempt(self, url: str, headers: dict[str, str], cached) -> Response:
        limits = self.limits
        deadline = time.monotonic() + limits.timeout
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                status = response.status_code
                where = str(response.url)
                if status == 304:
                    if cached is None or self.cache is None:
                        raise FetchError(f"{where}: answered 304 Not Modified, but nothing was cached")
                    self.cache.touch(url)
                    return Response(where, cached.body, "", True)
                if status in _RETRY_STATUS:
                    retry_after = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
                    raise _Transient(f"{where}: HTTP {status} {response.reason_phrase}".rstrip(), retry_after)
                if not 200 <= status < 300:
                    raise FetchError(f"{where}: HTTP {status} {response.reason_phrase}".rstrip())
                body = self._read(response, deadline)
        except httpx.TooManyRedirects:
            raise FetchError(
                f"{url}: more than {limits.max_redirects} redirects (a redirect loop?)"
            ) from None
        except httpx.TimeoutException:
            raise _Transient(f"{url}: no answer within {limits.timeout:g}s (timed out)") from None
        except httpx.RemoteProtocolError as exc:
            raise _Transient(f"{url}: the connection broke off mid-response ({exc})") from None
        except httpx.ConnectError as exc:
            raise _Transient(f"{url}: cannot connect ({exc})") from None
        except httpx.TransportError as exc:  # ReadError, WriteError, proxy errors, ...
            raise _Transient(f"{url}: network error ({type(exc).__name__}: {exc})") from None
        except httpx.HTTPError as exc:  # UnsupportedProtocol after a redirect, invalid URL, ...
            raise FetchError(f"{url}: {exc}") from None
        if self.cache is not None:
            etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
            if etag or modified:
                self.cache.put(url, etag, modified, body)
        return Response(where, body, response.headers.get("content-type", ""), False)

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        where = str(response.url)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise FetchError(f"{where}: sent Content-Encoding {encoding!r}, which digest did not ask for")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(
                f"{where}: the response is {_size(int(declared))}, over fetch.max_bytes ({_size(limit)})"
            )
        inflater = Inflater(encoding) if encoding != "identity" else None
        try:
            body, too_big = stream(response, inflater, limit, deadline)
        except Overdue:
            raise _Transient(
                f"{where}: still downloading after {self.limits.timeout:g}s (timed out)"
            ) from None
        except zlib.error as exc:
            raise FetchError(f"{where}: the {encoding} body is corrupt ({exc})") from None
        if too_big:
            after = " after decompression" if inflater is not None else ""
            raise FetchError(f"{where}: the response grew past fetch.max_bytes ({_size(limit)}){after}")
        return bytes(body)
