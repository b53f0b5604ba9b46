"""The digest of a recorded Hugging Face day, opened in headless Chromium as a reader would see
it: on a phone and on a desktop, in light and dark mode. Screenshots go to test-artifacts/."""

from __future__ import annotations

import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest import rank
from digest.models import Paper

from .helpers_chromium import Browser
from .helpers_digest import ARTIFACTS, HF_DAY, HOSTILE, READER, builder, hf_papers, message, report

WIDTHS = (375, 800)
GEOMETRY = """(() => {
  const doc = document.documentElement;
  const wide = [...document.querySelectorAll('body *')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > window.innerWidth + 1;
  }).map(el => el.tagName + '.' + el.className);
  return {scroll: doc.scrollWidth, viewport: window.innerWidth, wide: wide.slice(0, 5)};
})()"""
LINKS = "[...document.querySelectorAll('a')].map(a => a.getAttribute('href'))"
# WCAG contrast of every element that holds visible text of its own, against the first opaque
# background behind it. The preheader is hidden on purpose and skipped.
CONTRAST = """(() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(c => { c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => { for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c; }
    return [255, 255, 255]; };
  const worst = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || getComputedStyle(el).display === 'none') continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = el.tagName + '.' + el.className + ' ' + el.textContent.trim().slice(0, 30);
    worst.push([Math.round(ratio * 100) / 100, what]);
  }
  return worst.sort((x, y) => x[0] - y[0]).slice(0, 3);
})()"""
IMAGES = "[...document.images].map(i => [i.getAttribute('src'), i.getAttribute('alt'), i.naturalWidth])"


def png(width: int, height: int) -> bytes:
    """A small gradient PNG, written with the standard library: a stand-in thumbnail."""
    rows = b"".join(
        b"\0" + bytes(c for x in range(width) for c in (60 + x * 120 // width, 90 + y * 100 // height, 170))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def thumbnail_server():
    """Thumbnails on loopback: the recorded ones live on a CDN the tests must not reach."""
    image = png(240, 126)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


def _open(browser: Browser, html: str, name: str, width: int, *, dark: bool = False) -> Path:
    page = ARTIFACTS / f"{name}.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(html, encoding="utf-8")
    browser.open(page.resolve().as_uri(), width=width, dark=dark)
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_recorded_day_fits_the_screen_with_absolute_links_and_a_visible_footer(
    shared_fixtures, browser, capsys, width
):
    b = builder(hf_papers(shared_fixtures))
    msg = b.message(READER, b.picks(READER))
    _open(browser, msg.rendered.html, f"digest-{HF_DAY}-{width}px", width)
    shot = browser.screenshot(ARTIFACTS / f"digest-{HF_DAY}-{width}px.png")
    report(capsys, f"screenshot: {shot}")

    geometry = browser.evaluate(GEOMETRY)
    assert geometry["scroll"] <= geometry["viewport"], geometry
    assert not geometry["wide"], geometry

    links = browser.evaluate(LINKS)
    assert len(links) > 20 * 3
    assert all(h and h.startswith(("https://", "mailto:")) for h in links), [
        h for h in links if not (h or "").startswith(("https://", "mailto:"))
    ]
    lowest = browser.evaluate(CONTRAST)
    assert lowest[0][0] >= 4.5, lowest
    text = browser.evaluate("document.body.innerText")
    for words in ("Unsubscribe", "Manage preferences", "View in your browser", "1 Example Street"):
        assert words in text
    # every picked paper is on the page, title linked, in the order of its themes
    titles = browser.evaluate("[...document.querySelectorAll('h3 a')].map(a => a.textContent)")
    sections = rank.sections(b.prepared, msg.picks)
    assert titles == [b.cards[p.paper.id].title for s in sections for p in s.picks]
    assert len(titles) == 20


def test_dark_mode_turns_the_page_and_cards_dark(shared_fixtures, browser, capsys):
    msg = message(hf_papers(shared_fixtures))
    _open(browser, msg.rendered.html, f"digest-{HF_DAY}-375px-dark", 375, dark=True)
    shot = browser.screenshot(ARTIFACTS / f"digest-{HF_DAY}-375px-dark.png")
    report(capsys, f"screenshot: {shot}")
    colours = browser.evaluate(
        """(() => {
          const style = el => getComputedStyle(el);
          return {
            page: style(document.body).backgroundColor,
            card: style(document.querySelector('.card')).backgroundColor,
            title: style(document.querySelector('h3 a')).color,
            text: style(document.querySelector('p.tx')).color,
          };
        })()"""
    )

    def brightness(rgb: str) -> float:
        r, g, b = (int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
        return (r * 299 + g * 587 + b * 114) / 1000

    assert brightness(colours["page"]) < 40 and brightness(colours["card"]) < 50, colours
    assert brightness(colours["title"]) > 200 and brightness(colours["text"]) > 180, colours
    lowest = browser.evaluate(CONTRAST)
    assert lowest[0][0] >= 4.5, lowest


def test_thumbnails_load_scale_to_the_phone_and_carry_alt_text(
    shared_fixtures, browser, thumbnail_server, capsys
):
    papers = hf_papers(shared_fixtures)
    for paper in papers:
        paper.thumbnail = f"{thumbnail_server}/{paper.id}.png"
    msg = message(papers, thumbnails=True)
    for width in WIDTHS:
        _open(browser, msg.rendered.html, f"digest-{HF_DAY}-thumbnails-{width}px", width)
        shot = browser.screenshot(ARTIFACTS / f"digest-{HF_DAY}-thumbnails-{width}px.png")
        report(capsys, f"screenshot: {shot}")
        images = browser.evaluate(IMAGES)
        assert len(images) == len(msg.picks)
        for src, alt, natural_width in images:
            assert alt and alt.startswith("Thumbnail: "), (src, alt)
            assert natural_width > 0, f"{src} did not load"
        geometry = browser.evaluate(GEOMETRY)
        assert geometry["scroll"] <= geometry["viewport"], geometry


def test_a_hostile_paper_runs_nothing_in_the_browser(browser):
    msg = message([HOSTILE, Paper(id="2608.99998", title="A calm paper", abstract="Calm. Fine.")])
    _open(browser, msg.rendered.html, "digest-hostile", 800)
    assert browser.evaluate("document.title") == msg.rendered.subject
    assert browser.evaluate("document.querySelectorAll('script, svg, img').length") == 0
    handlers = browser.evaluate(
        "[...document.querySelectorAll('*')].flatMap(el => [...el.attributes].map(a => a.name))"
        ".filter(n => n.startsWith('on'))"
    )
    assert handlers == []
    title = browser.evaluate("document.querySelector('h3 a').textContent")
    assert title == HOSTILE.title
    assert all(h.startswith(("https://", "mailto:")) for h in browser.evaluate(LINKS))
