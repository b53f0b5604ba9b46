"""A real HTTP server on loopback that replays recorded responses and misbehaves on demand.

Routes are paths, for GET or POST (its body recorded); each answers with a `Reply` (status,
body, headers, and optional faults: a delay, a hang, a truncated body, gzip, an ETag honoured
with 304s) or a function of the request. Every request is recorded with its headers and query,
so tests can check what the client sent. `bench/fetch.py` uses it too.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from digest.jobs.preview import QuietHTTPServer  # client resets are part of the fault tests


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when the request's If-None-Match matches
    delay: float = 0.0  # seconds before answering
    hang: bool = False  # send the headers, then nothing until the server stops
    truncate_to: int | None = None  # declare the full length, send only this many bytes, close
    gzip: bool = False


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    method: str = "GET"
    body: bytes = b""  # what a POST sent

    def json(self):
        return json.loads(self.body)


Handler = Callable[[Seen], Reply]


class ReplayServer:
    def __init__(self) -> None:
        self.routes: dict[str, Reply | Handler] = {}
        self.requests: list[Seen] = []
        self.stopping = threading.Event()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
            # adds ~40 ms to every response, which the bench would charge to the client.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._handle("GET", b"")

            def do_POST(self) -> None:
                self._handle("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _handle(self, method: str, body: bytes) -> None:
                parts = urlsplit(self.path)
                seen = Seen(
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    time.monotonic(),
                    method,
                    body,
                )
                server.requests.append(seen)
                route = server.routes.get(parts.path)
                if route is None:
                    reply = Reply(b"not found", 404, "text/plain")
                else:
                    reply = route(seen) if callable(route) else route
                server._answer(self, seen, reply)

        self._http = QuietHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._http.shutdown()
        self._http.server_close()

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def _answer(self, handler: BaseHTTPRequestHandler, seen: Seen, reply: Reply) -> None:
        if reply.delay:
            self.stopping.wait(reply.delay)
        if reply.etag and seen.headers.get("if-none-match") == reply.etag:
            handler.send_response(304)
            handler.send_header("ETag", reply.etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = gzip.compress(reply.body) if reply.gzip else reply.body
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        if reply.gzip:
            handler.send_header("Content-Encoding", "gzip")
        if reply.etag:
            handler.send_header("ETag", reply.etag)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if reply.hang:
            handler.wfile.flush()
            self.stopping.wait(30)
            handler.close_connection = True
            return
        if reply.truncate_to is not None:
            handler.wfile.write(body[: reply.truncate_to])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)


# --- recorded public data, served the way the real endpoints serve it ------------------------


def recorded_reply(path: Path) -> Reply:
    """A recorded response file as a Reply. The arxiv.py fixtures are JSON wrappers
    `{url, status_code, body}` around the Atom body: serve the body with that status."""
    raw = path.read_bytes()
    if path.suffix == ".json" and raw.lstrip().startswith(b"{"):
        wrapped = json.loads(raw)
        return Reply(wrapped["body"].encode(), wrapped.get("status_code", 200), "application/atom+xml")
    if path.suffix == ".xml":
        kind = "application/rss+xml" if b"<rss" in raw[:500] else "application/atom+xml"
        return Reply(raw, 200, kind)
    return Reply(raw, 200, "application/json")


def hf_daily_papers(days: dict[str, Path]) -> Handler:
    """/api/daily_papers over recorded days: date=, week=, month=, paged by p (from 0) and limit."""
    loaded = {day: json.loads(p.read_bytes()) for day, p in days.items()}

    def handle(seen: Seen) -> Reply:
        q = seen.query
        if "date" in q:
            picked = [q["date"]]
        elif "week" in q:
            picked = [
                d
                for d in loaded
                if "{}-W{:02d}".format(*date.fromisoformat(d).isocalendar()[:2]) == q["week"]
            ]
        elif "month" in q:
            picked = [d for d in loaded if d.startswith(q["month"])]
        else:
            picked = sorted(loaded)[-1:]
        entries = [e for d in sorted(picked) for e in loaded.get(d, [])]
        limit, page = int(q.get("limit", 50)), int(q.get("p", 0))
        return Reply(json.dumps(entries[page * limit : (page + 1) * limit]).encode())

    return handle


def with_etags(handler: Handler) -> Handler:
    """The same replies, each with an ETag of its body: a client that sends it back for an
    unchanged body gets a 304, as from a real CDN."""

    def handle(seen: Seen) -> Reply:
        reply = handler(seen)
        reply.etag = '"' + hashlib.sha256(reply.body).hexdigest()[:16] + '"'
        return reply

    return handle


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped: about a thousandth of that on the wire."""
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [out.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + out.flush()
