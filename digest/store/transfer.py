"""Moving a list in and out: `digest subscribers import FILE` and `digest subscribers export`.

Import reads this project's YAML or a CSV file with an `email` column (what listmonk,
Mailchimp, Buttondown and most newsletter tools export), checks every row first and reports
each bad one by line, then applies the good ones through the same rules as every other change
(digest/readers/subscribers.py), in one transaction: an address that unsubscribed here is not
resubscribed because the old tool still lists it. Importing the same file twice changes
nothing the second time. Export writes every entry, whatever its status, so it doubles as a
backup that import reads back.

CSV: the first line names the columns. `email` is required; any of the list's fields may
follow (name, status, frequency, send_at, timezone, topics, keywords, authors, categories,
organizations, exclude, max_papers, created, confirmed, unsubscribed), under the names other
tools use too (`Email Address`, `First Name` + `Last Name`, `created_at`, listmonk's
`attributes` JSON). Several values in one cell are separated by `;` (or written as a JSON
list). An empty cell leaves the field as it is; other columns are reported once and ignored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import ValidationError

from ..errors import DigestError
from ..models import Subscriber, zone_context
from ..readers.subscribers import Change, Import, Outcome, Topics, unknown_topics
from ..util import yamlfile
from ..util.files import replacing
from .base import SubscriberStore
from .yamllist import FIELD_ORDER, HEADER, NOT_A_LIST, EntryCheck

LIST_FIELDS = ("topics", "keywords", "authors", "categories", "organizations", "exclude")
DATE_FIELDS = ("created", "confirmed", "unsubscribed")
CSV_COLUMNS = [f for f in FIELD_ORDER]
ALWAYS = ("email", "status", "frequency", "send_at", "timezone")  # written even when they are defaults
# Column names other tools use, normalised (lower case, words joined by _), -> our field.
ALIASES = {
    "email_address": "email", "e_mail": "email", "mail": "email", "address": "email",
    "full_name": "name", "display_name": "name",
    "created_at": "created", "subscribed_at": "created", "date_added": "created", "optin_time": "created",
    "signup_date": "created",
    "confirmed_at": "confirmed", "confirm_time": "confirmed", "opted_in_at": "confirmed",
    "unsubscribed_at": "unsubscribed", "unsub_time": "unsubscribed",
    "time_zone": "timezone", "tz": "timezone",
    "send_time": "send_at",
}  # fmt: skip
# Statuses other tools use -> ours. Blocklisted (listmonk) and cleaned (Mailchimp: bounced
# for good) readers must not be mailed again, so they arrive unsubscribed or bounced.
STATUSES = {
    "active": "active", "enabled": "active", "subscribed": "active", "confirmed": "active",
    "pending": "pending", "unconfirmed": "pending", "optin_pending": "pending",
    "unsubscribed": "unsubscribed", "blocklisted": "unsubscribed", "blacklisted": "unsubscribed",
    "disabled": "unsubscribed", "inactive": "unsubscribed",
    "bounced": "bounced", "cleaned": "bounced",
}  # fmt: skip


@dataclass
class Row:
    line: int
    fields: dict[str, Any]  # the fields the file gives for this address (email included)


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each names the file and line
    warnings: list[str] = field(default_factory=list)  # e.g. columns that were ignored


# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list, with the
# full-width forms some locales' spreadsheets also take); leading spaces do not disarm them.
_FORMULA_START = tuple("=+-@\t\r\n") + ("\uff1d", "\uff0b", "\uff0d", "\uff20")


def _formula_like(cell: str) -> bool:
    bare = cell.lstrip("'")  # a quote we would add must not hide one: the escape stays reversible
    return bare.startswith(_FORMULA_START) or bare.lstrip(" ").startswith(_FORMULA_START)


def neutralised(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: a formula-like one gets a leading `'`."""
    return "'" + cell if _formula_like(cell) else cell


def restored(cell: str) -> str:
    """The cell `neutralised` was given: its `'` comes off, and only from cells it added one to."""
    return cell[1:] if cell.startswith("'") and _formula_like(cell[1:]) else cell


def _column(name: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return ALIASES.get(key, key)


def _cell_list(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [part.strip() for part in re.split(r"[;|]", value) if part.strip()]


def read(path: Path, topics: Topics | None = None, zone: str | None = None) -> Parsed:
    """Every row of an import file, checked; the problems name file and line. A row without
    `timezone` gets `zone` (the newsletter's), written into the list as it is imported."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path, topics, zone)
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, topics, zone)
    raise DigestError(
        f"{path}: give a .yaml/.yml list (this project's format) or a .csv file with an email column"
    )


def _read_yaml(path: Path, topics: Topics | None, zone: str | None) -> Parsed:
    try:
        streamed = ((e.doc, e.index, e.value) for e in yamlfile.stream_list(path, "subscribers"))
        return _yaml_rows(streamed, topics, zone)
    except yamlfile.NotStreamable:  # anchors, merge keys, other top-level keys: read it whole
        doc = yamlfile.load(path)
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("subscribers"), list | None):
            raise DigestError(f"{doc.where()}: {NOT_A_LIST}") from None
        rows = ((doc, i, v) for i, v in enumerate(doc.data.get("subscribers") or []))
        return _yaml_rows(rows, topics, zone)


def _yaml_rows(
    entries: Iterator[tuple[yamlfile.Document, int, Any]], topics: Topics | None, zone: str | None
) -> Parsed:
    parsed = Parsed()
    check = EntryCheck(topics, zone)
    for doc, index, value in entries:
        reader = check(doc, index, value, parsed.problems)
        if reader is not None:
            # An entry without `status` is active (the list owner added it by hand), one without
            # `timezone` is in the newsletter's zone: say so.
            given = {str(k) for k in value} | {"status", "timezone"}
            fields = {k: getattr(reader, k) for k in FIELD_ORDER if k in given}
            fields["email"] = reader.email
            parsed.rows.append(Row(doc.line(("subscribers", index)) or 0, fields))
    return parsed


def _read_csv(path: Path, topics: Topics | None, zone: str | None) -> Parsed:
    parsed = Parsed()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # spreadsheets often start a UTF-8 file with a BOM
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DigestError(f"{path}:{line}: not UTF-8 text; save the file as CSV UTF-8") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise DigestError(
            f"{path}: the file is empty; the first line must name the columns, e.g. email,name"
        ) from None
    columns = [_column(name) for name in header]
    if "email" not in columns:
        raise DigestError(
            f"{path}:1: no email column (found: {', '.join(header) or 'nothing'}); the first line must "
            "name the columns, e.g. email,name,timezone"
        )
    known = set(FIELD_ORDER) | {"first_name", "last_name", "attributes"}
    ignored = [name for name, col in zip(header, columns, strict=True) if col not in known]
    if ignored:
        parsed.warnings.append(f"{path}: columns ignored (digest has no such field): {', '.join(ignored)}")
    seen: dict[str, int] = {}
    start = 2
    for cells in reader:
        line, start = start, reader.line_num + 1
        cells = [restored(cell) for cell in cells]  # our own export's formula guard comes off
        if not any(cell.strip() for cell in cells):
            continue
        values = dict(zip(columns, cells, strict=False))
        fields, problems = _fields(values)
        label = f"{path}:{line}: {values.get('email', '').strip() or 'row'}"
        if problems:
            parsed.problems.extend(f"{label}: {p}" for p in problems)
            continue
        try:
            checked = Subscriber.model_validate(fields, context=zone_context(zone) if zone else None)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                name = ".".join(str(p) for p in err["loc"]) or "row"
                parsed.problems.append(f"{label}: {name}: {err['msg'].removeprefix('Value error, ')}")
            continue
        if problem := unknown_topics(checked.topics, topics):
            parsed.problems.append(f"{label}: topics: {problem}")
            continue
        key = checked.email.lower()
        if key in seen:
            parsed.problems.append(f"{label}: duplicate address, already at line {seen[key]}")
            continue
        seen[key] = line
        given = {k: getattr(checked, k) for k in fields}
        given["email"], given["timezone"] = checked.email, checked.timezone
        parsed.rows.append(Row(line, given))
    return parsed


def _fields(values: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """One CSV row as Subscriber fields (empty cells left out), and what is wrong with it."""
    fields: dict[str, Any] = {}
    problems: list[str] = []
    attributes = values.pop("attributes", "").strip()
    if attributes:  # listmonk keeps custom fields as a JSON object
        try:
            extra = json.loads(attributes)
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            problems.append("attributes: not a JSON object")
        else:
            for key, value in extra.items():
                if _column(key) in FIELD_ORDER and value not in (None, "", []):
                    fields[_column(key)] = value
    first, last = values.pop("first_name", "").strip(), values.pop("last_name", "").strip()
    if (first or last) and not values.get("name", "").strip():
        values["name"] = f"{first} {last}".strip()
    for key, value in values.items():
        value = value.strip()
        if key not in FIELD_ORDER or not value:
            continue
        if key in LIST_FIELDS:
            fields[key] = _cell_list(value)
        elif key == "status":
            status = STATUSES.get(_column(value))
            if status is None:
                problems.append(
                    f"status: unknown status {value!r}; use active, pending, unsubscribed or bounced"
                )
            else:
                fields[key] = status
        elif key in DATE_FIELDS:
            try:  # Python reads the forms other tools write ("2025-03-01 09:12:44.123+00")
                fields[key] = datetime.fromisoformat(value)
            except ValueError:
                fields[key] = value  # pydantic names what is wrong with it
        else:
            fields[key] = value
    return fields, problems


@dataclass
class Imported:
    outcomes: Counter = field(default_factory=Counter)
    kept: list[str] = field(default_factory=list)  # addresses whose status the rules kept, and why


def apply(listed: SubscriberStore, rows: list[Row], *, now: datetime) -> Imported:
    """The rows through the rules, in one change of the list (all or nothing)."""
    result = Imported()

    def each(change: Change) -> None:
        result.outcomes[change.outcome] += 1
        if change.reason and change.after is not None:
            result.kept.append(f"{change.after.email}: {change.reason}")

    listed.apply_all(((row.fields["email"], Import(row.fields)) for row in rows), now=now, each=each)
    return result


def summary(imported: Imported) -> str:
    o = imported.outcomes
    line = f"{o[Outcome.ADDED]} added, {o[Outcome.UPDATED]} updated, {o[Outcome.UNCHANGED]} unchanged"
    return line + (f", {len(imported.kept)} kept as they were" if imported.kept else "")


# --- export ----------------------------------------------------------------------------------


def _entry(reader: Subscriber) -> dict[str, Any]:
    """The fields worth writing: the address, its status and schedule, and whatever else it has."""
    out: dict[str, Any] = {}
    for key in FIELD_ORDER:
        value = getattr(reader, key)
        if key in ALWAYS or value not in (None, []):
            out[key] = value.isoformat() if isinstance(value, datetime) else value
    out["email"] = str(reader.email)
    return out


class _Dumper(yaml.SafeDumper):
    """Entries as block mappings with their lists on one line, as people write them by hand."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if re.fullmatch(r"\d\d:\d\d", value) else None  # send_at: "07:30", as the README says
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", value, flow_style=True))  # fmt: skip
_Dumper.add_representer(str, _represent_str)


def write_yaml(readers: Iterator[Subscriber], out: IO[str]) -> int:
    out.write(HEADER)
    n = 0
    for reader in readers:
        text = yaml.dump(_entry(reader), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
        lines = text.splitlines()
        out.write("".join(f"{'  - ' if i == 0 else '    '}{line}\n" for i, line in enumerate(lines)))
        n += 1
    return n


def write_csv(readers: Iterator[Subscriber], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for reader in readers:
        row = []
        for key in CSV_COLUMNS:
            value = getattr(reader, key)
            if isinstance(value, list):
                joined = "; ".join(value)
                value = (
                    json.dumps(value, ensure_ascii=False)
                    if any(";" in v or "|" in v for v in value)
                    else joined
                )
            elif isinstance(value, datetime):
                value = value.isoformat()
            row.append("" if value is None else neutralised(str(value)))
        writer.writerow(row)
        n += 1
    return n


def export(readers: Iterator[Subscriber], fmt: str, out: Path | None, stdout: IO[str]) -> int:
    """Write every entry as YAML or CSV to `out` (atomically: a reader of the file never sees
    half of it) or to `stdout`; the number written."""
    write: Callable[[Iterator[Subscriber], IO[str]], int] = write_yaml if fmt == "yaml" else write_csv
    if out is None:
        return write(readers, stdout)
    with replacing(out) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        n = write(readers, text)
        text.flush()
        text.detach()  # the handle stays open for replacing() to fsync and rename
    return n
