"""subscribers.yaml: read and validate the list, reporting every problem with its line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from . import yamlfile
from .errors import DigestError
from .models import Subscriber


@dataclass
class Checked:
    """The valid entries of a list and one line per problem found in it."""

    subscribers: list[Subscriber] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check(path: Path) -> Checked:
    """Validate every entry; never stops at the first problem."""
    doc = yamlfile.load(path)
    result = Checked()
    data = doc.data
    if data is None:
        return result
    if not isinstance(data, dict) or not isinstance(data.get("subscribers", []), list):
        result.problems.append(f"{doc.where()}: expected 'subscribers:' followed by a list of entries")
        return result
    unknown = sorted(str(k) for k in data if k != "subscribers")
    for key in unknown:
        result.problems.append(
            f"{doc.where((key,))}: unknown top-level key {key!r}; only 'subscribers' is allowed"
        )

    seen: dict[str, int] = {}
    for index, entry in enumerate(data.get("subscribers") or []):
        loc = ("subscribers", index)
        label = f"entry {index + 1}"
        if isinstance(entry, dict) and entry.get("email"):
            label += f" ({entry['email']})"
        if not isinstance(entry, dict):
            result.problems.append(f"{doc.where(loc)}: {label}: expected a mapping with at least 'email:'")
            continue
        try:
            subscriber = Subscriber.model_validate(entry)
        except ValidationError as exc:
            result.problems.extend(yamlfile.validation_problems(doc, exc, Subscriber, loc, label))
            continue
        key = subscriber.email.lower()
        if key in seen:
            where = doc.where((*loc, "email"))
            result.problems.append(f"{where}: {label}: duplicate address, already listed at line {seen[key]}")
            continue
        seen[key] = doc.line((*loc, "email")) or 0
        result.subscribers.append(subscriber)
    return result


def load(path: Path) -> list[Subscriber]:
    """All entries, or a DigestError listing every problem (nothing is sent from a bad list)."""
    checked = check(path)
    if checked.problems:
        raise DigestError(checked.problems)
    return checked.subscribers
