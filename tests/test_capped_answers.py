"""Every answer digest reads from outside is streamed with a cap: a summaries endpoint, a mail
provider, a chat service or an SNS certificate host answering with hundreds of megabytes costs
a few kilobytes of memory. A real server on loopback streams an endless body and records how
much it managed to send before the client hung up: that count, not a clock, is the proof."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from digest import config
from digest.delivery import channels, providers
from digest.jobs import summaries
from digest.jobs.preview import QuietHTTPServer
from digest.util import capped
from digest.web import app as web

CHUNK = b'{"x": "' + b"a" * (64 * 1024 - 8) + b"\n"
OFFERED = 300 * 1024 * 1024  # what the server would send if the client kept reading
# Loopback socket buffers hold a few megabytes the client never reads; anything far below
# what was offered shows the client stopped at its cap.
READ_BOUND = 24 * 1024 * 1024


class Endless:
    """An HTTP server answering every GET and POST with 200 and a body of OFFERED bytes,
    close-delimited (no length), counting the bytes that left before the client closed."""

    def __init__(self, *, gzipped: bool = False, drip: bool = False) -> None:
        self.sent = 0
        self.done = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
                self.end_headers()
                chunk = gzip.compress(b"\0" * (16 * 1024 * 1024)) if gzipped else CHUNK
                try:
                    while owner.sent < OFFERED:
                        if drip:  # a byte at a time: each read is quick, the answer never ends
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            owner.sent += 1
                            owner.done.wait(0.01)
                            continue
                        self.wfile.write(chunk)
                        owner.sent += len(chunk)
                except OSError:  # the client hung up: what we wanted
                    pass
                finally:
                    owner.done.set()

            do_GET = do_POST = _answer

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[Endless]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()

    def read_no_more_than(self, bound: int) -> None:
        assert self.done.wait(60), "the server is still sending: the client never hung up"
        assert self.sent < bound, f"the client read {self.sent} bytes"


def test_a_huge_summaries_answer_is_read_no_further_than_the_cap():
    with Endless().running() as server, httpx.Client() as client:
        settings = config.Summaries(url=server.url + "/v1", model="m")
        with pytest.raises(summaries.Failure, match="answer too large"):
            summaries.ask(client, settings, "Title: t\n\nAbstract: a", 30.0)
    server.read_no_more_than(READ_BOUND)


def test_a_huge_chat_service_answer_is_read_no_further_than_the_cap():
    with Endless().running() as server, httpx.Client(timeout=30) as client:
        target = channels.Target("slack", "slack", server.url + "/hook", {"text": "x"}, "k")
        assert channels._send(client, target) is None  # a 200 is a post taken, whatever follows
    server.read_no_more_than(READ_BOUND)


def test_a_huge_mail_provider_answer_is_read_no_further_than_the_cap(monkeypatch):
    monkeypatch.setenv("DIGEST_POSTMARK_TOKEN", "token")
    with Endless().running() as server:
        backend = providers.open_api(config.Delivery(url=f"postmark://?endpoint={server.url}"))
        try:
            with pytest.raises(providers.UncertainError, match="answer over"):
                backend.post("/email", "1 message", json={})
        finally:
            backend.close()
    server.read_no_more_than(READ_BOUND)


def test_a_huge_sns_certificate_answer_is_read_no_further_than_the_cap():
    with Endless().running() as server:
        with pytest.raises(ValueError, match="over 64 KB"):
            web._fetch(server.url + "/cert.pem")
    server.read_no_more_than(READ_BOUND)


def test_a_gzip_bomb_inflates_no_further_than_the_cap():
    with Endless(gzipped=True).running() as server, httpx.Client() as client:
        body, cut = capped.get(client, server.url, 64_000)
    assert cut and len(body.content) == 64_000


def test_an_answer_dripping_a_byte_at_a_time_is_given_up_on_at_its_deadline():
    with Endless(drip=True).running() as server, httpx.Client(timeout=30) as client:
        with pytest.raises(httpx.ReadTimeout, match="still reading the answer after 0.5s"):
            capped.get(client, server.url, 64_000, 0.5)
        server.read_no_more_than(64_000)
