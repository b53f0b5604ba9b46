"""Build the digest one reader would get and write it as .html, .txt and .eml, sending nothing."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pydantic import ValidationError

from .. import sources
from ..compose.build import Builder, Message, issue_for
from ..compose.templating import environment, template_dirs
from ..config import Config, FileSource
from ..errors import EXIT_OK, DigestError, NoPapers, cannot_listen
from ..issue import rank
from ..issue.signals import growth_of
from ..issue.similar import Profile
from ..models import Paper, Subscriber
from ..readers.due import local_date
from ..readers.windows import Window, window_for
from ..sources import file as file_source
from ..store import LazyHttpCache, SubscriberStore, stores
from ..util.files import write_atomic
from ..util.plural import counted
from . import summaries
from .profiles import for_run

# The reader a preview is built for when the list has nobody active yet.
SAMPLE_READER = "reader@example.org"
PREVIEW_PAGE = "preview_server.html.j2"
GMAIL_CLIP_KB = 102


@dataclass
class Preview:
    message: Message
    files: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # sources that failed: errors, as in `send`
    # Library entries left out, summaries that fell back: as in `send`, warnings (the run did its work)
    warnings: list[str] = field(default_factory=list)
    builder: Builder | None = None
    history: frozenset[str] = frozenset()
    profile: Profile | None = None


def choose_reader(listed: SubscriberStore | None, to: str | None) -> Subscriber:
    """The reader `to`, as listed (a stranger gets the defaults); else the first active one."""
    if listed is not None and (problems := listed.problems()):
        raise DigestError(problems)
    if to:
        found = listed.find(to) if listed is not None else None
        if found is not None:
            return found
        try:
            return Subscriber(email=to)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"].removeprefix(
                "value is not a valid email address: "
            )
            raise DigestError(
                f"--to {to!r}: not an email address ({reason}); give one like ada@example.org"
            ) from None
    first = next((r for r in listed.readers() if r.active), None) if listed is not None else None
    return first or Subscriber(email=SAMPLE_READER)


def papers_for(
    config: Config, papers_file: Path | None, day: date | None = None
) -> tuple[list[Paper], list[str]]:
    if papers_file is not None:
        papers = file_source.read(papers_file)
        if not papers:  # as for an empty day: no issue, rather than an empty one
            raise DigestError(f"{papers_file}: no papers in it; give a file with at least one paper line")
        return papers, []
    cache = LazyHttpCache(config.state_at, readonly=True)
    try:
        collected = sources.for_issue(config, day, cache)
    finally:
        cache.close()
    problems = collected.problems
    if not collected.papers and collected.empty_day:
        raise DigestError([f"no papers for {day} from any source (an empty day)", *problems])
    if not collected.papers:  # as `digest send` reports it: each source's failure, then the day
        raise NoPapers([*problems, f"no papers from any source for {day}: nothing to build from"])
    return collected.papers, problems


def build(
    config: Config, *, now: datetime, to: str | None = None, papers_file: Path | None = None
) -> Preview:
    """The reader's digest of `now`: a weekly or monthly reader's holds their window's days."""
    day = local_date(now, config.newsletter.timezone)
    window = reader_window(config, to, day) if papers_file is None else None
    if window is not None and not window.single_day:
        papers, problems = papers_over(config, window)
    else:
        papers, problems = papers_for(config, papers_file, day)
    return build_from(config, papers, now=now, to=to, problems=problems, window=window)


def reader_window(config: Config, to: str | None, day: date) -> Window:
    """The days the issue of `day` holds for the reader a preview is for (digest/readers/windows.py)."""
    with stores(config, readonly=True) as opened:
        listed = opened.subscribers if config.list_path is None or config.list_path.exists() else None
        return window_for(choose_reader(listed, to).frequency, day.isoformat())


def papers_over(config: Config, window: Window) -> tuple[list[Paper], list[str]]:
    """Every day's papers of a week's or a month's window, each paper once, and the problems."""
    cache = LazyHttpCache(config.state_at, readonly=True)
    try:
        collected = [sources.for_issue(config, day, cache) for day in window.days]
    finally:
        cache.close()
    problems = [p for c in collected for p in c.problems]
    papers = sources.merge([c.papers for c in collected])
    if not papers:
        raise DigestError([f"no papers from {window.first} to {window.last} from any source", *problems])
    return papers, problems


def build_from(
    config: Config,
    papers: list[Paper],
    *,
    now: datetime,
    to: str | None = None,
    problems: Sequence[str] = (),
    window: Window | None = None,
) -> Preview:
    with stores(config, readonly=True) as opened:
        listed: SubscriberStore | None = opened.subscribers
        if config.list_path is not None and not config.list_path.exists():
            listed = None  # no list yet: preview for a sample reader
        reader = choose_reader(listed, to)
        today = now.astimezone(UTC).date()
        earlier = opened.listings.signals_before(today.isoformat(), (p.id for p in papers))
        issue = replace(issue_for(config, papers, now), growth=growth_of(papers, earlier, today))
        builder = Builder(config, issue, now, config.secret(), window)
        warning = summaries.for_builder(config, builder, opened.tldrs, readonly=True)
        history = builder.history(opened.ledger, reader.email)
        profiles, close_lookup = for_run(config, opened.own_papers, readonly=True)
        try:
            profile = profiles.of(reader)
        finally:
            close_lookup()
        warnings = [*dict.fromkeys(profiles.problems), *([warning] if warning else [])]
    message = builder.message(reader, builder.picks(reader, history, profile))
    return Preview(
        message, problems=list(problems), warnings=warnings, builder=builder, history=history, profile=profile
    )


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


# --- digest preview --serve: the preview on localhost, rebuilt when its files change -------


def _stamp(paths: list[Path]) -> tuple:
    """What changes when someone saves a file: its mtime and size (None when missing)."""
    out: list[tuple[str, int | None, int | None]] = []
    for path in paths:
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


def _template_files(config: Config | None) -> list[Path]:
    folders = template_dirs(config.templates if config else None)
    return [
        f for d in folders for f in sorted(Path(d).glob("*")) if f.is_file() and f.suffix in (".j2", ".html")
    ]


class Live:
    """The preview kept fresh for `preview --serve`. A change to the config, the subscriber
    list or a papers file reloads everything; a change to a template only renders again, with
    the papers already read (sources may be slow). A broken file shows as an error page until
    it is fixed; the server never stops over it."""

    def __init__(self, config_path: Path, *, to: str | None, papers_file: Path | None, now: datetime | None):
        self.config_path = config_path
        self.to = to
        self.papers_file = papers_file
        self.fixed_now = now
        self.lock = threading.Lock()
        self.version = 0
        self.config: Config | None = None
        self.papers: list[Paper] = []
        self.problems: list[str] = []
        self.inputs: list[Path] = [config_path]
        self.preview: Preview | None = None
        self.error: list[str] = []
        self._inputs_stamp: tuple | None = None
        self._templates_stamp: tuple | None = None

    def refresh(self) -> int:
        """Rebuild if anything changed; return the version, which changes with every rebuild."""
        with self.lock:
            inputs = _stamp(self.inputs)
            templates = _stamp(_template_files(self.config))
            if inputs == self._inputs_stamp and templates == self._templates_stamp:
                return self.version
            if inputs != self._inputs_stamp:
                self._load()
            self._render()
            self._inputs_stamp = _stamp(self.inputs)
            self._templates_stamp = _stamp(_template_files(self.config))
            self.version += 1
            return self.version

    def _load(self) -> None:
        from ..config import load

        self.config = None
        self.inputs = [self.config_path]
        try:
            config = load(self.config_path)
            # Local sources are watched; web sources are fetched again only with the config.
            self.inputs += [
                *([config.list_path] if config.list_path is not None else []),
                *(s.path for s in config.sources if isinstance(s, FileSource)),
            ]
            if self.papers_file:
                self.inputs.append(self.papers_file)
            now = self.fixed_now or datetime.now(UTC)
            day = local_date(now, config.newsletter.timezone)
            self.papers, self.problems = papers_for(config, self.papers_file, day)
            self.config = config
        except DigestError as exc:
            self.error = exc.problems

    def _render(self) -> None:
        if self.config is None:
            self.preview = None
            return
        try:
            now = self.fixed_now or datetime.now(UTC)
            self.preview = build_from(self.config, self.papers, now=now, to=self.to, problems=self.problems)
            self.error = []
        except DigestError as exc:
            self.preview = None
            self.error = exc.problems


def serve(
    config_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8025,
    to: str | None = None,
    papers_file: Path | None = None,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda line: print(line, flush=True),  # long-running: piped or not
) -> int:
    """Serve the live preview until interrupted: `/` shows the email at phone and desktop
    widths and reloads itself when a file changes; `/email.html`, `/digest.txt` and
    `/digest.eml` are the parts as a reader gets them."""
    live = Live(config_path, to=to, papers_file=papers_file, now=now)
    live.refresh()
    if live.config is None:  # a wrong --config is a usage error; a broken template is shown
        raise DigestError(live.error)
    try:
        server = QuietHTTPServer((host, port), _handler(live))
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
    url = f"http://{host}:{server.server_address[1]}/"
    log(f"serving the preview on {url} (Ctrl-C to stop)")
    folders = template_dirs(live.config.templates if live.config else None)
    log(f"watching {config_path} and the templates in {', '.join(folders)}")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()
    return EXIT_OK


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A browser that closes a tab or reloads mid-request resets the connection: normal,
        # and not worth a traceback in the terminal of someone restyling the newsletter.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _page(live: Live) -> str:
    env = environment()
    message = live.preview.message if live.preview else None
    return env.get_template(PREVIEW_PAGE).render(
        version=live.version,
        message=message,
        html_kb=len(message.rendered.html.encode()) / 1024 if message else 0,
        clip_kb=GMAIL_CLIP_KB,
        errors=live.error,
        warnings=[*live.problems, *(live.preview.warnings if live.preview else [])],
    )


def _handler(live: Live) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.path.split("?", 1)[0]
            live.refresh()
            message = live.preview.message if live.preview else None
            if path == "/":
                self._send(200, "text/html; charset=utf-8", _page(live).encode())
            elif path == "/__version":
                self._send(200, "text/plain; charset=utf-8", str(live.version).encode())
            elif message is None and path in ("/email.html", "/digest.txt", "/digest.eml"):
                self._send(500, "text/plain; charset=utf-8", "\n".join(live.error).encode())
            elif message is not None and path == "/email.html":
                self._send(200, "text/html; charset=utf-8", message.rendered.html.encode())
            elif message is not None and path == "/digest.txt":
                self._send(200, "text/plain; charset=utf-8", message.rendered.text.encode())
            elif message is not None and path == "/digest.eml":
                self._send(200, "text/plain; charset=utf-8", message.raw)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try / or /email.html\n")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # one line per request would drown the useful output

    return Handler


# --- digest preview --explain ------------------------------------------------------------


def explain(preview: Preview) -> str:
    """Every paper of the issue as the reader's ranking saw it: score, its parts, and why it
    was or was not picked (formula in digest/issue/rank.py)."""
    builder = preview.builder
    reader = preview.message.reader
    if builder is None or reader is None:
        return "nothing to explain"
    options = builder.options
    profile = preview.profile
    weight = options.weight_for(reader, profile)
    scored = rank.score_all(builder.prepared, reader, options, preview.history, profile)
    limit = options.limit_for(reader)
    blend = f"score = {1 - weight:.2f} x trending + {weight:.2f} x relevance"
    lines = [
        f"Why these papers, for {reader.email}: {blend}"
        + ("" if reader.personalised or profile else " (no preferences: trending only)"),
        f"  min score {options.min_score:.2f}, at most {counted(limit, 'paper')}"
        + (f" and {options.max_per_theme} per theme" if options.max_per_theme else "")
        + f"; {counted(len(preview.history), 'paper')} already sent"
        + (" is" if len(preview.history) == 1 else " are")
        + " never sent again",
        *([_profile_line(profile)] if profile else []),
        "",
        f"  {'status':<18} {'score':>5}  {'trend':>5}  {'relev':>5}  paper",
    ]
    labels = builder.prepared.theme_label
    for s in scored:
        t = builder.prepared.breakdown[s.paper.id]
        lines.append(
            f"  {s.status:<18} {s.score:5.3f}  {s.trending:5.3f}  {s.relevance:5.3f}  "
            f"{s.paper.id}  {_cut(s.paper.title, 70)}"
        )
        age = f"{t.age_hours:.0f} h old" if t.age_hours is not None else "age unknown"
        signals = ", ".join(
            f"{getattr(s.paper, name)} {name}"
            for name in ("upvotes", "comments", "stars")
            if getattr(s.paper, name)
        )
        if t.growth is not None:
            signals += f"; {t.growth.words()} (velocity {t.velocity:.2f})"
        lines.append(
            f"{'':22}trending: {signals or 'no engagement figures'} -> popularity {t.popularity:.2f};"
            f" position {t.position} -> listing {t.listing:.2f}; {age} -> freshness {t.freshness:.2f}"
        )
        if s.evidence:
            parts = " + ".join(
                " ".join(word for word in (kind, name, f"{value:.2f}") if word)
                for kind, name, value in s.evidence
            )
            lines.append(f"{'':22}relevance: {parts} -> 1 - exp(-sum) = {s.relevance:.2f}")
        if s.unlike:
            lines.append(f"{'':22}like papers you marked less like this: score x {1 - s.unlike:.2f}")
        lines.append(f"{'':22}theme: {labels.get(s.theme, rank.MORE_LABEL)}")
    return "\n".join(lines)


def _profile_line(profile: Profile) -> str:
    """ "your papers: 3 (2 in your library, 1 marked more like this)": the parts there are."""
    liked = sum(1 for kind, _ in profile.titles if kind == "liked")
    library = len(profile.titles) - liked
    parts = {
        "in your library": library,
        "marked more like this": liked,
        "marked less like this": max(0, profile.papers - library - liked),
    }
    said = ", ".join(f"{n} {what}" for what, n in parts.items() if n)
    return f"  your papers: {profile.papers}" + (f" ({said})" if said else "")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
