"""Answers from outside, read with a cap: no server can make digest hold more than it asked for.

httpx reads a whole body into memory before anyone can look at its size, and its decoders have
no output limit (a 64 KB chunk of a gzip bomb inflates to 64 MB at once). So an answer from a
summaries endpoint, a mail provider, a chat service or an SNS certificate host is streamed:
gzip and deflate are inflated here in bounded steps, and reading stops at the cap, leaving the
rest of the body unread and the connection closed. httpx's timeouts are per read, so a server
dripping a byte at a time is also given a deadline for the whole answer.
"""

from __future__ import annotations

import time
import zlib

import httpx

ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")
ACCEPT_ENCODING = "gzip, deflate"  # what Inflater can read: no br or zstd to take on trust


class Overdue(Exception):
    """Still reading a body at its deadline: each read came in time, the whole did not."""


class Inflater:
    """gzip / deflate, never producing more than we ask for in one step."""

    def __init__(self, encoding: str):
        # 47 = 32 + 15: zlib detects a gzip or zlib header by itself. A "deflate" body
        # without the zlib header (some servers send raw deflate) falls back to -15.
        self.encoding = encoding
        self._z = zlib.decompressobj(47)
        self._started = False

    def feed(self, data: bytes, room: int) -> tuple[bytes, bool]:
        """Inflate `data`; returns the output and whether it would exceed `room` bytes."""
        try:
            out = self._z.decompress(data, room + 1)
        except zlib.error:
            if self.encoding == "deflate" and not self._started:
                self._z = zlib.decompressobj(-15)
                out = self._z.decompress(data, room + 1)
            else:
                raise
        self._started = True
        return out, len(out) > room or bool(self._z.unconsumed_tail)

    def finish(self, room: int) -> tuple[bytes, bool]:
        out = self._z.flush(room + 1)
        return out, len(out) > room


def read(response: httpx.Response, cap: int, seconds: float = 60.0) -> tuple[bytes, bool]:
    """At most `cap` bytes of a streamed response's body, decoded, and whether there was more
    (or it could not be decoded): the caller decides whether a cut answer is still usable.
    Still reading after `seconds` raises httpx.ReadTimeout, as a stalled read would."""
    deadline = time.monotonic() + seconds
    encoding = response.headers.get("content-encoding", "identity").strip().lower() or "identity"
    inflater = Inflater(encoding) if encoding != "identity" and encoding in ENCODINGS else None
    if encoding not in ENCODINGS:
        return b"", True  # an encoding we did not ask for: nothing we could read safely
    declared = response.headers.get("content-length", "")
    if inflater is None and declared.isdigit() and int(declared) > cap:
        return b"", True
    try:
        body, cut = stream(response, inflater, cap, deadline)
    except Overdue:
        raise httpx.ReadTimeout(
            f"still reading the answer after {seconds:g}s", request=response.request
        ) from None
    except zlib.error:
        return b"", True
    return bytes(body[:cap]), cut


def stream(
    response: httpx.Response, inflater: Inflater | None, cap: int, deadline: float
) -> tuple[bytearray, bool]:
    """The body of a streamed response, decoded, up to `cap` bytes and one more, and whether
    there was more. Past `deadline` (time.monotonic) raises Overdue; a corrupt
    gzip/deflate body raises zlib.error: the caller says what either means to it."""
    body = bytearray()
    cut = False
    for chunk in response.iter_raw():
        if time.monotonic() > deadline:
            raise Overdue
        if inflater is None:
            body += chunk[: cap + 1 - len(body)]
            cut = len(body) > cap
        else:
            out, cut = inflater.feed(chunk, cap - len(body))
            body += out
        if cut:
            return body, True
    if inflater is not None:
        out, cut = inflater.finish(cap - len(body))
        body += out
    return body, cut


def answer(response: httpx.Response, cap: int, seconds: float = 60.0) -> tuple[httpx.Response, bool]:
    """A streamed response read as `read` does, as a complete response (`.json()`, `.text`
    work on what was kept), and whether the body was cut."""
    body, cut = read(response, cap, seconds)
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    kept = httpx.Response(response.status_code, headers=headers, content=body, request=response.request)
    return kept, cut


def post(
    client: httpx.Client, url: str, cap: int, seconds: float = 60.0, **request: object
) -> tuple[httpx.Response, bool]:
    """POST through `client`, the answer read with `cap` within `seconds` (see `answer`);
    httpx's errors as they are."""
    return _send(client, "POST", url, cap, seconds, request)


def get(
    client: httpx.Client, url: str, cap: int, seconds: float = 60.0, **request: object
) -> tuple[httpx.Response, bool]:
    return _send(client, "GET", url, cap, seconds, request)


def _send(
    client: httpx.Client, method: str, url: str, cap: int, seconds: float, request: dict[str, object]
) -> tuple[httpx.Response, bool]:
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **dict(request.pop("headers", None) or {})}  # type: ignore[call-overload]
    with client.stream(method, url, headers=headers, **request) as response:  # type: ignore[arg-type]
        return answer(response, cap, seconds)
