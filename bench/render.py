"""Per-reader render + compose: compiled layout and shared cards against Jinja -> MJML -> EmailMessage.

Both paths build the same readers' emails from the same picks in one run, one after the other,
repeatedly. The naive path does what a straightforward implementation does for every reader:
render the MJML template with Jinja, compile it with MJML, build an EmailMessage. The compiled
path renders the once-compiled HTML with cards shared across the issue and writes the MIME by
hand. The per-paper work (cleaning each card and rendering its `once` blocks)
is measured on its own: it is done once per issue, however many readers there are.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

import jinja2
from mjml import mjml2html

from digest import config as config_mod
from digest import sources
from digest.compose.build import CLIP_GUARD, Builder, make_issue
from digest.compose.mail import compose, html_wire_size, list_id
from digest.compose.render import HTML_TEMPLATE, PREHEADER_PAD, Rendered, Renderer
from digest.compose.templating import environment
from digest.issue import rank, themes
from digest.models import Subscriber, one_line
from digest.sources import file as file_source

from .timing import per_call

ROOT = Path(__file__).resolve().parent.parent
HF_DAYS = ROOT.parent / "shared" / "fixtures" / "hf_daily_papers"
HF_DAY = HF_DAYS / "2026-08-14.json"
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
GMAIL_CLIP = 102 * 1024
PROFILES = [
    [],
    ["retrieval", "tokenizer"],
    ["vision", "video"],
    ["speech", "audio"],
    ["multilingual"],
    ["efficient", "quantization"],
    ["agent", "reasoning"],
    ["embedding"],
]
POLICY = policy.SMTP.clone(max_line_length=998)


def naive_compose(rendered, envelope, now) -> bytes:
    """What digest.compose.mail.compose did before: EmailMessage, quoted-printable by the stdlib."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = one_line(envelope.sender)
    msg["To"] = formataddr((one_line(envelope.to_name or ""), one_line(envelope.to_email)))
    msg["Subject"] = one_line(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = envelope.message_id
    msg["List-Id"] = list_id(envelope.list_name, envelope.sender)
    mailto = parseaddr(envelope.sender)[1]
    msg["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>, <mailto:{mailto}?subject=unsubscribe>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes(policy=POLICY)


def naive_env(templates: Path | None) -> jinja2.Environment:
    env = environment(templates)
    env.filters["once"] = lambda macro, card: macro(card)  # no sharing: every reader pays in full
    env.globals["PREHEADER_PAD"] = PREHEADER_PAD
    return env


def pool() -> tuple[list, str]:
    """A week of recorded Hugging Face days (authors, summaries, links, counts: what real
    cards carry) when ../shared is there, else the shipped sample."""
    days = sorted(HF_DAYS.glob("2026-08-1*.json")) if HF_DAYS.is_dir() else []
    if days:
        papers = sources.merge([file_source.read(day) for day in days])
        return papers, f"{len(papers)} papers from {len(days)} recorded HF days"
    papers = file_source.read(ROOT / "samples" / "papers.jsonl")
    return papers, f"{len(papers)} sample papers"


def run() -> None:
    config = config_mod.load(ROOT / "digest.yaml")
    papers, described = pool()
    issue = make_issue(papers, NOW, "UTC", themes.load_taxonomy())
    builder = Builder(config, issue, NOW, "bench-secret")
    readers = [
        Subscriber(email=f"reader{i}@example.org", keywords=PROFILES[i % len(PROFILES)], max_papers=20)
        for i in range(40)
    ]
    jobs = []
    for reader in readers:  # ranking is not part of what is measured
        picks = builder.picks(reader)
        jobs.append((reader, rank.sections(builder.prepared, picks)))
    renderer = builder.renderer
    news = config.newsletter
    mjml_template = naive_env(config.templates).get_template(HTML_TEMPLATE)

    def view(reader, sections, cards):
        return renderer.view(
            newsletter=news.name,
            address=news.address,
            issue_date=issue.date,
            reader=reader,
            sections=sections,
            links=builder.links(reader.email),
            cards=cards,
        )

    def envelope(reader):
        return builder.message(reader, builder.picks(reader)).envelope

    envelopes = {r.email: envelope(r) for r in readers}

    def naive() -> None:
        for reader, sections in jobs:
            v = view(reader, sections, None)
            html = mjml2html(mjml_template.render(v=v), disable_comments=True, fonts={})
            text = renderer.text_template.render(v=v)
            naive_compose(Rendered(v.subject, html, text), envelopes[reader.email], NOW)

    cards: dict = {}

    def compiled() -> None:
        for reader, sections in jobs:
            compose(renderer.render(view(reader, sections, cards)), envelopes[reader.email], NOW)

    def prepare_cards() -> None:
        fresh: dict = {}
        for reader, sections in jobs:
            renderer.render(view(reader, sections, fresh))

    n = len(jobs)
    compiled()  # every card the readers need is prepared and rendered once, as in a send
    # Interleaved rounds, so a noisy neighbour slows both paths alike; CPU time, not wall time.
    cpu = {"repeat": 1, "clock": time.process_time}
    rounds = [(per_call(naive, number=1, **cpu), per_call(compiled, number=5, **cpu)) for _ in range(7)]
    naive_s = sorted(r[0] for r in rounds)[3] / n
    fast_s = sorted(r[1] for r in rounds)[3] / n
    issue_s = per_call(prepare_cards, repeat=3, number=1, clock=time.process_time) - fast_s * n
    compile_s = per_call(lambda: Renderer(config.templates), repeat=3, number=3, clock=time.process_time)
    list_size = 1000

    print(f"{described}, {n} readers in {len(PROFILES)} interest profiles, 20 papers each")
    print(f"  compile the layout (once per run)               {compile_s * 1e3:8.2f} ms")
    print(f"  prepare and render {len(cards):3d} cards (once per issue)  {issue_s * 1e3:8.2f} ms")
    print(f"  naive: Jinja -> MJML -> EmailMessage            {naive_s * 1e3:8.3f} ms per reader")
    print(f"  compiled layout + shared cards + 7bit MIME      {fast_s * 1e3:8.3f} ms per reader")
    print(f"  render + compose: {naive_s / fast_s:.1f}x cheaper per reader (target 20x)")
    with_cards = fast_s + issue_s / list_size
    print(
        f"  with the cards spread over {list_size:,} readers: {with_cards * 1e3:.3f} ms per reader "
        f"({naive_s / with_cards:.1f}x)"
    )

    if HF_DAY.exists():
        hf_papers = file_source.read(HF_DAY)
        hf_issue = make_issue(hf_papers, NOW, "UTC", themes.load_taxonomy())
        full = config.model_copy(deep=True)  # no minimum score or theme cap: 20 papers
        full.ranking.min_score = 0
        full.ranking.max_per_theme = 0
        for thumbnails in (False, True):
            full.newsletter.thumbnails = thumbnails
            hf = Builder(full, hf_issue, NOW, "bench-secret")
            reader = Subscriber(email="ada@example.org", keywords=["agent", "video"], max_papers=20)
            message = hf.message(reader, hf.picks(reader))
            size = len(message.rendered.html.encode())
            print(
                f"  recorded HF day {HF_DAY.stem}, {len(message.picks)} papers"
                f"{', thumbnails' if thumbnails else ''}: HTML {size / 1024:.1f} KB"
                f" ({size / GMAIL_CLIP:.0%} of Gmail's 102 KB clip), message {len(message.raw) / 1024:.1f} KB"
            )
    clip_guard(config, papers)


def clip_guard(config, papers) -> None:
    """A 100-paper digest (max_papers allows it): as rendered in full, and as the clip guard
    sends it."""
    config = config.model_copy(deep=True)
    config.newsletter.thumbnails = True
    config.ranking.min_score = 0
    config.ranking.max_per_theme = 0
    issue = make_issue(papers[:100], NOW, "UTC", themes.load_taxonomy())
    b = Builder(config, issue, NOW, "bench-secret")
    reader = Subscriber(email="ada@example.org", keywords=["agent", "video"], max_papers=100)
    picks = b.picks(reader)
    full = b.renderer.render(b.view(reader, rank.sections(b.prepared, picks), b.links(reader.email)))
    message = b.message(reader, picks)
    left = len(picks) - len(message.picks)
    full_kb, sent_kb = html_wire_size(full.html) / 1024, html_wire_size(message.rendered.html) / 1024
    print(
        f"  {len(picks)}-paper digest with thumbnails: HTML {full_kb:.1f} KB in full; "
        f"clip guard ({CLIP_GUARD // 1024} KB) sends {sent_kb:.1f} KB: "
        f'{len(message.picks)} papers, no thumbnail or link rows, "And {left} more on the web"'
    )
