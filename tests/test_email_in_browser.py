"""The digest of a recorded Hugging Face day, opened in headless Chromium as a reader would see
it: on a phone and on a desktop, in light and dark mode. Screenshots go to test-artifacts/."""

from __future__ import annotations

import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.issue import rank
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
TITLES = "[...document.querySelectorAll('.t a')].map(a => a.textContent)"
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
    # every picked paper is on the page, title linked: the lead first, then theme by theme
    titles = browser.evaluate(TITLES)
    view = b.view(READER, rank.sections(b.prepared, msg.picks), b.links(READER.email))
    assert titles == [view.lead.card.title] + [i.card.title for s in view.sections for i in s.items]
    assert len(titles) == 20 and titles[0] == b.cards[max(msg.picks, key=lambda p: p.score).paper.id].title


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
            lead: style(document.querySelector('h2.t a')).color,
            text: style(document.querySelector('p.tx')).color,
          };
        })()"""
    )

    def brightness(rgb: str) -> float:
        r, g, b = (int(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
        return (r * 299 + g * 587 + b * 114) / 1000

    assert brightness(colours["page"]) < 40 and brightness(colours["card"]) < 50, colours
    assert brightness(colours["title"]) > 200 and brightness(colours["lead"]) > 200, colours
    assert brightness(colours["text"]) > 180, colours
    lowest = browser.evaluate(CONTRAST)
    assert lowest[0][0] >= 4.5, lowest


def test_only_the_lead_shows_its_thumbnail_scaled_to_the_phone_with_an_empty_alt(
    shared_fixtures, browser, thumbnail_server, capsys
):
    papers = hf_papers(shared_fixtures)
    for paper in papers:
        paper.thumbnail = f"{thumbnail_server}/{paper.id}.png"
    msg = message(papers, thumbnails=True)
    lead = max(msg.picks, key=lambda p: p.score).paper
    for width in WIDTHS:
        for dark in (False, True):
            name = f"digest-{HF_DAY}-thumbnails-{width}px" + ("-dark" if dark else "")
            _open(browser, msg.rendered.html, name, width, dark=dark)
            shot = browser.screenshot(ARTIFACTS / f"{name}.png")
            report(capsys, f"screenshot: {shot}")
            # HF thumbnails are title cards: only the lead's is shown, and its title is beside
            # it, so the alt is empty (a screen reader would read the title twice)
            assert browser.evaluate(IMAGES) == [[f"{thumbnail_server}/{lead.id}.png", "", 240]]
            box = browser.evaluate("(r => [r.width, r.height])(document.images[0].getBoundingClientRect())")
            assert 0 < box[0] <= width and box[1] > 0
            geometry = browser.evaluate(GEOMETRY)
            assert geometry["scroll"] <= geometry["viewport"], geometry
    assert 'height="301"' in msg.rendered.html


def test_with_images_blocked_the_email_reads_the_same(shared_fixtures, browser, thumbnail_server, capsys):
    """Outlook and many corporate clients block images until asked: nothing but the picture
    may go missing."""
    papers = hf_papers(shared_fixtures)
    for paper in papers:
        paper.thumbnail = f"{thumbnail_server}/{paper.id}.png"
    msg = message(papers, thumbnails=True)
    browser.cdp("Network.enable")
    browser.cdp("Network.setBlockedURLs", urls=[f"{thumbnail_server}/*"])
    try:
        for width in WIDTHS:
            name = f"digest-{HF_DAY}-images-blocked-{width}px"
            _open(browser, msg.rendered.html, name, width)
            shot = browser.screenshot(ARTIFACTS / f"{name}.png")
            report(capsys, f"screenshot: {shot}")
            assert [natural for _, _, natural in browser.evaluate(IMAGES)] == [0]  # blocked
            assert len(browser.evaluate(TITLES)) == len(msg.picks)
            text = browser.evaluate("document.body.innerText")
            assert "Today's top paper".upper() in text.upper() and "Unsubscribe" in text
            geometry = browser.evaluate(GEOMETRY)
            assert geometry["scroll"] <= geometry["viewport"], geometry
    finally:
        browser.cdp("Network.setBlockedURLs", urls=[])


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
    assert HOSTILE.title in browser.evaluate(TITLES)
    assert all(h.startswith(("https://", "mailto:")) for h in browser.evaluate(LINKS))
