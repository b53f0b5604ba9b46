"""Papers as JSON lines: one object per line with at least `title` and `abstract`.

`id` should be there too; a line without one (the shipped sample, whose source page lists no
ids) gets a stable id derived from its title. Unknown fields are ignored so the output of a
newer `digest fetch` still reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DigestError
from ..models import PAPER_FIELDS, Paper, arxiv_id, one_line, title_id
from .intake import bounded

_LIST_FIELDS = {"authors", "categories", "keywords", "sources", "repos"}
_INT_FIELDS = {"upvotes", "comments", "stars", "position"}


class TooDeep(ValueError):
    """JSON nested past what Python's parser can follow: bad input, not a bug."""


def loads(data: str | bytes) -> Any:
    """json.loads, with JSON nested too deeply for it a TooDeep (a ValueError) rather than
    a RecursionError: no listing of papers nests more than a few levels."""
    try:
        return json.loads(data)
    except RecursionError:
        raise TooDeep(
            "JSON nested too deeply (arrays or objects over about 1,000 levels inside each other)"
        ) from None


def paper_from_dict(data: Any, position: int | None = None) -> Paper:
    """Validate one decoded line and pass it through the intake's caps (intake.bounded).
    Raises ValueError naming the field at fault."""
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object like {"id": ..., "title": ..., "abstract": ...}')
    values: dict[str, Any] = {}
    for name in PAPER_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if name in _LIST_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"field '{name}' must be a list of strings")
        elif name in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"field '{name}' must be a whole number >= 0")
        elif not isinstance(value, str):
            raise ValueError(f"field '{name}' must be a string")
        values[name] = value
    for name in ("title", "abstract"):
        if not str(values.get(name, "")).strip():
            raise ValueError(f"field '{name}' is missing or empty; every paper needs a title and an abstract")
    values["title"] = one_line(values["title"])
    raw_id = str(values.get("id") or "").strip()
    values["id"] = (arxiv_id(raw_id) or raw_id) if raw_id else title_id(values["title"])
    if values.get("position") is None:
        values["position"] = position
    return bounded(Paper(**values))


def read(path: Path, source: str | None = None) -> list[Paper]:
    """Every paper in a JSON-lines file; a DigestError lists every bad line."""
    papers: list[Paper] = []
    problems: list[str] = []
    try:
        handle = path.open("rb")  # decoded line by line, so a bad byte is reported with its line
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{path}:{number}: not UTF-8 text; save the file as UTF-8")
                continue
            if not line.strip():
                continue
            try:
                paper = paper_from_dict(loads(line), position=len(papers) + 1)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            except (ValueError, TypeError) as exc:
                problems.append(f"{path}:{number}: {exc}")
                continue
            if source and source not in paper.sources:
                paper.sources.append(source)
            papers.append(paper)
    if problems:
        raise DigestError(problems)
    return papers


def write(papers: list[Paper], handle: Any) -> None:
    for paper in papers:
        handle.write(json.dumps(paper.to_dict(), ensure_ascii=False) + "\n")
