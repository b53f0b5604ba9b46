"""Build real digests for tests: the shipped config, a recorded Hugging Face day, a reader."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest

from digest import config as config_mod
from digest.compose.build import Builder, Message, make_issue
from digest.issue import themes
from digest.models import Paper, Subscriber
from digest.sources import file as file_source

from .conftest import EXAMPLE, ROOT

# A recorded day with everything a card can show: summaries, organisations, code, projects.
HF_DAY = "2026-08-14"
NOW = datetime(2026, 8, 14, 7, 0, tzinfo=UTC)
GMAIL_CLIP = 102 * 1024
READER = Subscriber(
    email="ada@example.org", name="Ada Lovelace", keywords=["agent", "video", "reasoning"], max_papers=20
)
ARTIFACTS = ROOT / "test-artifacts"
# A paper that tries everything: markup and template syntax in every text field, event
# handlers, unsafe link schemes. Its scripts would retitle the page, which a browser test sees.
PWN = "document.title='pwned'"
HOSTILE = Paper(
    id="2608.66666",
    title=f'<script>{PWN}</script> <img src=x onerror="{PWN}"> </mj-text></mj-column> {{{{ 7*7 }}}}',
    abstract=f'We <img src=x onerror="{PWN}"> things {{{{ config }}}}. It works.',
    authors=[f"<script>{PWN}</script>", f'" onerror="{PWN}', f'<svg onload="{PWN}">'],
    organization="</mj-section>{{ self }}{% if 1 %}x{% endif %}",
    summary=f"A <b onmouseover={PWN}>summary</b> with {{{{ 6*7 }}}} in it.",
    url=f"javascript:{PWN}",
    pdf_url="JaVaScRiPt:alert(1)",
    code_url=f'https://github.com/x/y" onmouseover="{PWN}',
    project_url="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    thumbnail=f"javascript:{PWN}",
    upvotes=7,
)


def feed_link(base_url: str) -> dict[str, str]:
    """The <link> by which a browser or feed reader finds the archive's Atom feed."""
    return {
        "rel": "alternate",
        "type": "application/atom+xml",
        "title": "Trending Papers",
        "href": f"{base_url}/issues/feed.xml",
    }


def hf_papers(shared: Path, day: str = HF_DAY) -> list[Paper]:
    return file_source.read(shared / "hf_daily_papers" / f"{day}.json")


def html_part_bytes(raw: bytes) -> int:
    """The HTML part as it travels, transfer encoding and all: what Gmail's clip counts."""
    html = message_from_bytes(raw, policy=policy.default).get_body(("html",))
    return len(html.get_payload().encode())


def builder(
    papers: list[Paper],
    *,
    project: Path = EXAMPLE,
    thumbnails: bool = False,
    templates: Path | None = None,
    now: datetime = NOW,
) -> Builder:
    config = config_mod.load(project / "digest.yaml")
    config.newsletter.thumbnails = thumbnails
    # The largest digest a reader can get (the worst case for size and layout): no minimum
    # score and no per-theme cap, so the reader's max_papers alone limits it.
    config.ranking.min_score = 0
    config.ranking.max_per_theme = 0
    if templates is not None:
        config.templates = templates
    issue = make_issue(papers, now, "UTC", themes.load_taxonomy())
    return Builder(config, issue, now, "test-secret")


def message(papers: list[Paper], reader: Subscriber = READER, **options) -> Message:
    b = builder(papers, **options)
    return b.message(reader, b.picks(reader))


class Page(HTMLParser):
    """What a test wants to know about an HTML document: elements with their attributes,
    and the text a reader sees."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def report(capsys: pytest.CaptureFixture, line: str) -> None:
    """Show a line in the test run's output (screenshot paths, scores) even when output is
    captured."""
    with capsys.disabled():
        print(f"\n  {line}")
