"""Command line: parse arguments, call the library, print. Exit codes: 0 done, 1 some items
failed (reported), 2 bad usage, config or input."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .errors import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, DigestError


def _now(value: str | None) -> datetime:
    """--now: an ISO 8601 instant; without an offset it is taken as UTC."""
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DigestError(f"--now {value!r}: not an ISO 8601 time, e.g. 2026-11-26T07:30:00+00:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _config(args: argparse.Namespace):
    from .config import load

    return load(args.config)


def cmd_preview(args: argparse.Namespace) -> int:
    from . import preview

    config = _config(args)
    result = preview.build(config, now=_now(args.now), to=args.to, papers_file=args.papers)
    files = preview.write(result, args.out)
    message = result.message
    print(
        f"preview for {message.envelope.to_email}: {len(message.picks)} papers, "
        f"subject {message.rendered.subject!r}"
    )
    print(f"  HTML  {files['html']}  ({len(message.rendered.html.encode()) / 1024:.1f} KB)")
    print(f"  text  {files['text']}")
    print(f"  email {files['eml']}")
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_PARTIAL if result.problems else EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    from . import send

    config = _config(args)
    report = send.run(config, now=_now(args.now), to=args.to, dry_run=args.dry_run)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.issue:
        parts = [
            f"sent {report.sent}",
            f"already sent {report.skipped}",
            f"nothing new {report.empty}",
            f"failed {report.failed}",
        ]
        if args.dry_run:
            parts.insert(0, f"dry run: would send {report.dry_run}")
        print(f"issue {report.issue}: " + ", ".join(parts) + f" in {report.seconds:.2f}s")
    if report.sent and config.outbox is not None:
        print(f"messages in {config.outbox / report.issue}/")
    return report.exit_code


def cmd_themes(args: argparse.Namespace) -> int:
    from . import themes
    from .sources import file as file_source

    papers = file_source.read(args.papers)
    grouped = themes.group(papers, themes.load_taxonomy())
    if args.json:
        out = {"themes": [{"label": t.label, "papers": t.ids()} for t in grouped]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return EXIT_OK
    for theme in grouped:
        print(f"{theme.label} ({len(theme.papers)})")
        for paper in theme.papers:
            print(f"  {paper.id}  {paper.title}")
    return EXIT_OK


def cmd_subscribers(args: argparse.Namespace) -> int:
    from . import subscribers

    config = _config(args)
    checked = subscribers.check(config.subscribers)
    if checked.problems:
        for problem in checked.problems:
            print(problem, file=sys.stderr)
        print(f"{len(checked.problems)} problem(s) in {config.subscribers}", file=sys.stderr)
        return EXIT_USAGE
    counts = Counter(s.status for s in checked.subscribers)
    summary = ", ".join(
        f"{counts[s]} {s}" for s in ("active", "pending", "unsubscribed", "bounced") if counts[s]
    )
    if not args.check:
        for s in checked.subscribers:
            print(f"{s.email:<36} {s.status:<12} {s.frequency:<10} {s.send_at} {s.timezone}")
    print(
        f"{config.subscribers}: {len(checked.subscribers)} subscribers" + (f" ({summary})" if summary else "")
    )
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=Path("digest.yaml"),
        metavar="PATH",
        help="configuration file (default: ./digest.yaml)",
    )

    top = argparse.ArgumentParser(
        prog="digest", parents=[common], description="Trending research papers in your inbox."
    )
    top.add_argument("--version", action="version", version=f"digest {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("preview", parents=[common], help="build one reader's digest as .html, .txt and .eml")
    p.add_argument("--to", metavar="EMAIL", help="the reader (default: the first active subscriber)")
    p.add_argument(
        "--papers", type=Path, metavar="FILE", help="papers as JSON lines instead of the configured sources"
    )
    p.add_argument(
        "--out", type=Path, default=Path("preview"), metavar="DIR", help="output folder (default: ./preview)"
    )
    p.add_argument("--now", metavar="ISO", help="pretend it is this time (default: now)")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("send", parents=[common], help="deliver the current issue to every active subscriber")
    p.add_argument("--to", metavar="EMAIL", help="send to this one subscriber only")
    p.add_argument("--dry-run", action="store_true", help="build every message but send and record nothing")
    p.add_argument("--now", metavar="ISO", help="pretend it is this time (default: now)")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("themes", parents=[common], help="group papers from a JSON-lines file into themes")
    p.add_argument("--papers", type=Path, required=True, metavar="FILE")
    p.add_argument(
        "--json", action="store_true", help='print {"themes": [{"label": ..., "papers": [id, ...]}]}'
    )
    p.set_defaults(func=cmd_themes)

    p = sub.add_parser("subscribers", parents=[common], help="list subscribers; --check validates the list")
    p.add_argument("--check", action="store_true", help="only validate: report every problem with its line")
    p.set_defaults(func=cmd_subscribers)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except DigestError as exc:
        for problem in exc.problems:
            print(f"digest: {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("digest: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
