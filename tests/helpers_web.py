"""A real `digest serve` (uvicorn) on loopback, and what the web tests read back: the
confirmation email in the outbox, CSRF tokens from form pages. The browser itself comes from
`helpers_chromium`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx

SECRET = "test-secret-for-the-web-tests-0123456789"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def point_at(project: Path, base_url: str) -> None:
    """Make the emails' links point at the test server."""
    config = project / "digest.yaml"
    text = config.read_text()
    config.write_text(re.sub(r"base_url: \S+", f"base_url: {base_url}", text))


@contextmanager
def serving(project: Path, *, secret: str | None = SECRET, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Run `digest serve` in `project` as a user would; yield its base URL once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    point_at(project, base)
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SECRET"}
    if secret:
        env["DIGEST_SECRET"] = secret
    with open(project / "serve.log", "w") as log:  # the child has its own copy of the descriptor
        server = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", str(port), *extra],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise AssertionError(f"digest serve exited: {(project / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("digest serve did not answer within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    """Poll until `predicate()` holds; a bounded wait, never a timing assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def confirmation(
    project: Path, email: str, *, other_than: str | None = None, folder: str = "confirmations"
) -> EmailMessage:
    """The confirmation email in the outbox for `email`, waiting for it to arrive (the web
    app sends it after answering); with `other_than`, for one with another Message-ID; with
    `folder`, another notice (`preferences`: the link an active reader gets for signing up again)."""
    path = project / "outbox" / folder / f"{email.lower()}.eml"

    def read() -> EmailMessage | None:
        if not path.exists():
            return None
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        return message if message["Message-ID"] != other_than else None  # type: ignore[return-value]

    wait_for(lambda: read() is not None, f"a {folder} email to {email}")
    return read()  # type: ignore[return-value]


def confirm_link(message: EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://\S+/confirm\?token=\S+", text)
    assert match, text
    return match.group(0)


def csrf_form(client: httpx.Client, url: str) -> str:
    """GET a form page (setting the CSRF cookie on `client`); return its CSRF token."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)
