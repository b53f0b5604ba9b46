"""A real SMTP server (aiosmtpd) on loopback that counts what it accepts and misbehaves on
request, and a small project of papers and readers to send to it.

Faults are planned per recipient, in the order of their delivery attempts:

    sink.plan("ada@example.org", "rcpt 451 4.7.1 Greylisted", "data 421 4.3.2 Shutting down")

means Ada's first attempt gets 451 to RCPT TO, the second 421 after DATA, the third goes
through. A fault is one of:

    rcpt CODE TEXT    reply to RCPT TO          data CODE TEXT   reply after the message
    drop-data         354, then close the connection while the message is coming in
    slow-rcpt SECONDS wait this long before answering RCPT TO (longer than the client waits)
    slow-data SECONDS take the message (it counts as received), then wait this long before
                      answering the final dot, as a relay busy scanning it does
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, syntax

TEST_PAPERS = 30


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes
    tls: bool
    login: str | None


@dataclass
class Sink:
    """The server's view: every accepted message, every connection, and the faults to come."""

    received: list[Received] = field(default_factory=list)
    connections: int = 0
    auth_attempts: int = 0
    faults: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    refuse_everyone: str | None = None  # a reply to every RCPT TO, e.g. "451 4.3.0 Busy"
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def plan(self, rcpt: str, *faults: str) -> None:
        with self.lock:
            self.faults[rcpt.lower()].extend(faults)

    def take(self, rcpt: str, stage: str) -> str | None:
        """The recipient's next fault if it is for this stage (consumed), else None."""
        with self.lock:
            queue = self.faults.get(rcpt.lower())
            if queue and queue[0].split()[0] == stage:
                return queue.popleft()
        return None

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(r.rcpt for r in self.received)

    def total(self) -> int:
        with self.lock:
            return len(self.received)

    def wait_for(self, n: int, timeout: float = 60.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: self.total() >= n, timeout)


class _Handler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sink.refuse_everyone:
            return self.sink.refuse_everyone
        fault = self.sink.take(address, "rcpt")
        if fault:
            return fault.split(" ", 1)[1]
        slow = self.sink.take(address, "slow-rcpt")
        if slow:
            await asyncio.sleep(float(slow.split()[1]))
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0]
        fault = self.sink.take(rcpt, "data")
        if fault:
            return fault.split(" ", 1)[1]
        slow = self.sink.take(rcpt, "slow-data")
        login = session.auth_data.login.decode() if session.auth_data is not None else None
        tls = server.transport.get_extra_info("ssl_object") is not None
        with self.sink.lock:
            for to in envelope.rcpt_tos:
                self.sink.received.append(
                    Received(envelope.mail_from, to.lower(), envelope.content, tls, login)
                )
        with self.sink.arrived:
            self.sink.arrived.notify_all()
        if slow:
            await asyncio.sleep(float(slow.split()[1]))
        return "250 2.0.0 OK: queued"


class _FaultySMTP(SMTP):
    """aiosmtpd's server, able to hang up in the middle of a message."""

    def __init__(self, handler: _Handler, **kwargs):
        super().__init__(handler, **kwargs)
        self.sink = handler.sink

    def connection_made(self, transport):
        with self.sink.lock:
            self.sink.connections += 1
        super().connection_made(transport)

    @syntax("DATA")
    async def smtp_DATA(self, arg):
        if self.envelope.rcpt_tos and self.sink.take(self.envelope.rcpt_tos[0], "drop-data"):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await asyncio.sleep(0.02)  # let part of the message arrive
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class SmtpServer:
    """Runs a Sink's server in a thread with its own event loop."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        smtputf8: bool = False,
    ):
        self.sink = Sink()
        self.smtputf8 = smtputf8
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.users = users

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        with self.sink.lock:
            self.sink.auth_attempts += 1
        ok = (
            self.users is not None and self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _protocol(self) -> _FaultySMTP:
        options: dict = {"hostname": "localhost", "enable_SMTPUTF8": self.smtputf8}
        if self.starttls is not None:
            options["tls_context"] = self.starttls
        if self.users is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=True)
        if self.implicit_tls is not None:
            options["auth_require_tls"] = False  # TLS from the first byte: aiosmtpd cannot tell
        return _FaultySMTP(_Handler(self.sink), **options)

    def __enter__(self) -> Sink:
        self.thread.start()

        async def start():
            return await self.loop.create_server(self._protocol, "127.0.0.1", 0, ssl=self.implicit_tls)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.sink.port = self.server.sockets[0].getsockname()[1]
        return self.sink

    def __exit__(self, *exc: object) -> None:
        async def stop():
            self.server.close()
            await self.server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        except TimeoutError:
            pass  # a connection left open by a killed client; the loop goes anyway
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --- a project to send from -----------------------------------------------------------------

TOPICS = ["retrieval", "agents", "video", "speech", "robotics", "reasoning", "diffusion", "graphs"]


def write_papers(path: Path, n: int = TEST_PAPERS) -> None:
    """Papers written for these tests: varied enough that readers get different picks."""
    lines = []
    for i in range(n):
        topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i * 3 + 1) % len(TOPICS)]
        lines.append(
            json.dumps(
                {
                    "id": f"2611.{10000 + i}",
                    "title": f"Paper {i}: {topic} meets {other} at scale",
                    "abstract": f"We study {topic} and {other}. Our method improves {topic} by {i} points.",
                    "authors": [f"Author {i}", f"Author {i + 1}"],
                    "upvotes": (i * 7) % 23,
                    "published": "2026-11-25T12:00:00Z",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def reader_email(i: int) -> str:
    return f"reader{i:05d}@example.org"


def write_readers(path: Path, n: int) -> list[str]:
    lines = ["subscribers:"]
    for i in range(n):
        lines.append(f"  - email: {reader_email(i)}")
        lines.append(f"    keywords: [{TOPICS[i % len(TOPICS)]}, {TOPICS[(i // 8) % len(TOPICS)]}]")
        lines.append("    max_papers: 10")
    path.write_text("\n".join(lines) + "\n")
    return [reader_email(i) for i in range(n)]


def write_project(
    root: Path,
    *,
    url: str,
    readers: int,
    delivery: str = "",
    newsletter: str = "",
    concurrency: int = 4,
    state: str = "state.db",
    subscribers: str = "subscribers.yaml",
) -> list[str]:
    """digest.yaml, papers and `readers` readers in `root` (in subscribers.yaml, whatever
    `subscribers:` says); the readers' addresses. A key in `delivery` replaces the default of
    the same name (a key written twice is an error)."""
    defaults = "  connect_timeout: 5\n  timeout: 5\n  retries: 3\n  backoff: 0.05\n  max_wait: 0.2\n"
    given = {line.split(":")[0] for line in delivery.splitlines() if line.startswith("  ") and line[2] != " "}
    defaults = "".join(line + "\n" for line in defaults.splitlines() if line.split(":")[0] not in given)
    root.mkdir(parents=True, exist_ok=True)
    write_papers(root / "papers.jsonl")
    emails = write_readers(root / "subscribers.yaml", readers)
    (root / "digest.yaml").write_text(
        f"""newsletter:
  name: Test Papers
  from: "Test Papers <papers@example.org>"
  base_url: https://papers.example.org
  timezone: UTC
{newsletter}
sources:
  - kind: file
    path: papers.jsonl
subscribers: {subscribers}
state: {state}
archive: null
delivery:
  url: {url}
  concurrency: {concurrency}
{defaults}{delivery}
"""
    )
    return emails


NOW = "2026-11-26T07:00:00+00:00"


def send_project(root: Path, **options):
    """`digest send` on a project written by write_project, in this process, quietly."""
    from digest import config as config_mod
    from digest.jobs import send

    config = config_mod.load(root / "digest.yaml")
    return send.run(config, now=datetime.fromisoformat(NOW), log=lambda line: None, **options)


def ledger_statuses(root: Path) -> dict[str, str]:
    """Each reader's delivery status in the project's ledger."""
    db = sqlite3.connect(root / "state.db")
    try:
        return dict(db.execute("SELECT email, status FROM deliveries"))
    finally:
        db.close()


def start_send(root: Path) -> subprocess.Popen:
    """`digest send --now NOW` in `root`, as its own process (to be killed, or run two at once)."""
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--now", NOW],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key (openssl is on every Debian)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A module's self-signed certificate and key (import the fixture where it is used)."""
    return self_signed(tmp_path_factory.mktemp("tls"))
