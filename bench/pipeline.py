"""Per-reader cost of each stage of one digest: rank, render, MIME.

The sample issue (49 papers) for a reader with keywords, 20 papers picked. Stages are timed
one after another in the same process and reported as shares of the whole. The MJML layout
is compiled once per run (see the `render` benchmark), so it is not a per-reader stage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from digest import config as config_mod
from digest.compose.build import Builder, make_issue
from digest.compose.mail import compose
from digest.issue import rank, themes
from digest.models import Subscriber
from digest.sources import file as file_source

from .timing import per_call

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def run() -> None:
    config = config_mod.load(ROOT / "digest.yaml")
    papers = file_source.read(ROOT / "samples" / "papers.jsonl")
    taxonomy = themes.load_taxonomy()
    issue = make_issue(papers, NOW, "UTC", taxonomy)
    builder = Builder(config, issue, NOW, "bench-secret")
    reader = Subscriber(email="ada@example.org", keywords=["retrieval", "tokenizer"], max_papers=20)

    picks = builder.picks(reader)
    message = builder.message(reader, picks)  # prepares the cards, as the first reader does
    sections = rank.sections(builder.prepared, picks)

    def view():
        return builder.view(reader, sections, builder.links(reader.email))

    stages = {
        "themes (once per issue)": per_call(lambda: themes.group(papers, taxonomy), number=5),
        "rank.select": per_call(lambda: builder.picks(reader)),
        "render (html + text)": per_call(lambda: builder.renderer.render(view())),
        "MIME compose": per_call(lambda: compose(message.rendered, message.envelope, NOW)),
    }
    whole = per_call(lambda: builder.message(reader, builder.picks(reader)).raw)
    print(
        f"{len(papers)} papers, {len(picks)} picked, HTML {len(message.rendered.html.encode()) / 1024:.1f} KB"
    )
    for name, seconds in stages.items():
        share = "" if "once" in name else f"  {seconds / whole:6.1%} of a reader"
        print(f"  {name:<26} {seconds * 1e3:8.2f} ms{share}")
    print(
        f"  {'whole reader, end to end':<26} {whole * 1e3:8.2f} ms  ({1 / whole:.0f} readers/s on one core)"
    )
