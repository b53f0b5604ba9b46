"""Headless Chromium for the tests, driven by Selenium with Debian's chromedriver.

One way to start the browser for every test that needs one: the web-form tests use the
Selenium driver directly (typing, clicking, waiting); the email tests use `Browser`, a thin
layer that sets the viewport and colour scheme, evaluates JavaScript and takes full-page
screenshots through the DevTools commands Selenium passes on. chromedriver is built for the
very Chromium it drives (both Debian packages, installed by .ci/run) and, the driver path being
given, Selenium downloads nothing at test time.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Nothing leaves the machine: every host but loopback fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@contextmanager
def chromium_driver(*, timezone: str | None = None, width: int = 800, height: int = 1200) -> Iterator[Any]:
    """A Selenium driver on a fresh headless Chromium profile; skips where Chromium is absent."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromedriver are not installed (Debian: chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="digest-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if timezone:  # the zone the page's JavaScript sees, as if the reader lived there
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": timezone})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Browser:
    """One page for looking at an email: open at a width, evaluate, screenshot."""

    def __init__(self) -> None:
        self._context = chromium_driver()
        self.driver = self._context.__enter__()

    def cdp(self, method: str, **params: Any) -> dict[str, Any]:
        return self.driver.execute_cdp_cmd(method, params)

    def open(self, url: str, *, width: int, dark: bool = False) -> None:
        """Load `url` in a viewport `width` CSS pixels wide, as a phone when narrow."""
        self.cdp("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                 mobile=width < 600)  # fmt: skip
        scheme = "dark" if dark else "light"
        self.cdp("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
        self.driver.get(url)  # returns once the page has loaded

    def evaluate(self, expression: str) -> Any:
        result = self.cdp("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page, not just the viewport."""
        width, height = self.evaluate(
            "[document.documentElement.clientWidth, document.documentElement.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = self.cdp("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
