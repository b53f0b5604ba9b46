"""A real `digest serve` (uvicorn) on loopback, and headless Chromium driven by Selenium.

Selenium with Debian's chromedriver rather than raw DevTools calls: it is the maintained
client for driving a browser (typing, clicking, waiting for a page), chromedriver is built
for the very Chromium it drives (both Debian packages, installed by .ci/run), and nothing is
downloaded at test time (the driver path is given, so Selenium Manager never runs).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

SECRET = "test-secret-for-the-web-tests-0123456789"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
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


def confirmation(project: Path, email: str, *, other_than: str | None = None) -> EmailMessage:
    """The confirmation email in the outbox for `email`, waiting for it to arrive (the web
    app sends it after answering); with `other_than`, for one with another Message-ID."""
    path = project / "outbox" / "confirmations" / f"{email.lower()}.eml"

    def read() -> EmailMessage | None:
        if not path.exists():
            return None
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        return message if message["Message-ID"] != other_than else None  # type: ignore[return-value]

    wait_for(lambda: read() is not None, f"a confirmation email to {email}")
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


@contextmanager
def chromium(*, timezone: str | None = None, width: int = 800, height: int = 1200) -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromedriver are not installed (Debian: chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="digest-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--window-size={width},{height}",
    ):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if timezone:  # the zone the page's JavaScript sees, as if the reader lived there
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": timezone})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
