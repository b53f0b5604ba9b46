"""The `file` source: a local JSON-lines file or a saved Hugging Face daily_papers response."""

from __future__ import annotations

from pathlib import Path

from ..errors import DigestError
from ..models import Paper
from . import jsonlines
from .hf import paper_from_hf, withdrawn
from .intake import bounded
from .result import Fetched


def read(path: str | Path, source: str = "file") -> list[Paper]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(64).lstrip()
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head.startswith(b"["):
        return read_hf_response(path, source)
    return jsonlines.read(path, source)


def read_hf_response(path: Path, source: str = "file") -> list[Paper]:
    """A JSON array as `/api/daily_papers` returns it; entries keep their listing order."""
    try:
        entries = jsonlines.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DigestError(f"{path}: not a valid daily_papers JSON response: {exc}") from None
    papers: list[Paper] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        if withdrawn(entry):  # never sent, as from the live listing
            continue
        try:
            papers.append(bounded(paper_from_hf(entry, position=len(papers) + 1, source=source)))
        except ValueError as exc:
            problems.append(f"{path}: entry {index + 1}: {exc}")
    if problems:
        raise DigestError(problems)
    return papers


def fetch(source, client, day) -> Fetched:
    """The `file` source as `collect` runs it: no network, the same file every day."""
    return Fetched(read(source.path, source.label))
