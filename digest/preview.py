"""Build the digest one reader would get and write it as .html, .txt and .eml, sending nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from . import sources, subscribers, themes
from .build import Builder, Message, issue_id_for, make_issue
from .config import Config
from .errors import DigestError
from .mail import write_atomic
from .models import Paper, Subscriber
from .sources import file as file_source
from .state import State

# The reader a preview is built for when the list has nobody active yet.
SAMPLE_READER = "reader@example.org"


@dataclass
class Preview:
    message: Message
    files: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def choose_reader(config: Config, to: str | None) -> Subscriber:
    listed = subscribers.load(config.subscribers) if config.subscribers.exists() else []
    if to:
        for reader in listed:
            if reader.email.lower() == to.lower():
                return reader
        return Subscriber(email=to)
    active = [r for r in listed if r.active]
    return active[0] if active else Subscriber(email=SAMPLE_READER)


def papers_for(
    config: Config, papers_file: Path | None, day: date | None = None
) -> tuple[list[Paper], list[str]]:
    if papers_file is not None:
        return file_source.read(papers_file), []
    collected = sources.collect(
        config.sources, day=day, options=config.fetch, state=config.state, readonly=True
    )
    problems = [f"source {r.label}: {r.error}" for r in collected.failed]
    if not collected.papers:
        what = (
            f"no papers for {day} from any source (an empty day)"
            if collected.empty_day
            else "no papers from any source"
        )
        raise DigestError([what, *problems])
    return collected.papers, problems


def build(
    config: Config, *, now: datetime, to: str | None = None, papers_file: Path | None = None
) -> Preview:
    reader = choose_reader(config, to)
    papers, problems = papers_for(
        config, papers_file, date.fromisoformat(issue_id_for(now, config.newsletter.timezone))
    )
    issue = make_issue(papers, now, config.newsletter.timezone, themes.load_taxonomy())
    builder = Builder(config, issue, now, config.secret())
    with State(config.state, readonly=True) as state:
        history = state.papers_sent(reader.email, except_issue=issue.id)
    message = builder.message(reader, builder.picks(reader, history))
    return Preview(message, problems=problems)


def write(preview: Preview, out: Path) -> dict[str, Path]:
    rendered = preview.message.rendered
    files = {
        "html": out / "digest.html",
        "text": out / "digest.txt",
        "eml": out / "digest.eml",
    }
    write_atomic(files["html"], rendered.html.encode())
    write_atomic(files["text"], rendered.text.encode())
    write_atomic(files["eml"], preview.message.raw)
    preview.files = files
    return files
