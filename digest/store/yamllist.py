"""The subscriber list as a YAML file (`subscribers: subscribers.yaml`): read and validate it,
reporting every problem with its line; and change it safely while the web app, the CLI and a
person with an editor share it.

Every change takes a lock, re-reads the file, edits it with a round-trip YAML library (so
comments, key order, quoting and blank lines survive), checks the result as a reader would,
writes a temporary file, fsyncs it and renames it over the old one. A crash leaves the old
file or the new one, never half of either; two writers never lose each other's entries.
Which changes are allowed is digest/readers/subscribers.py's business (`decide`), as for the database.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import DigestError
from ..models import Subscriber, zone_context
from ..readers.subscribers import (
    Change,
    Event,
    NotListed,
    Outcome,
    Topics,
    address_key,
    after,
    decide,
    known_topics,
    unknown_topics,
)
from ..util import yamlfile
from ..util.files import write_atomic
from .locks import file_lock

HEADER = """\
# Who gets the digest. An entry without `status` is active: the list owner added it by hand.
# Fields: email, name, status (pending, active, unsubscribed, bounced), frequency (daily,
# weekdays, weekly:mon ... weekly:sun), send_at (HH:MM local), timezone (IANA; default: the
# newsletter's), topics (theme keys or labels), keywords, authors, organizations, categories,
# exclude, max_papers, library (a .bib, Zotero .csv or list of arXiv ids), created, confirmed,
# unsubscribed.
subscribers:
"""
LOCK_WAIT = 30.0  # seconds; an edit holds the lock for milliseconds
FIELD_ORDER = list(Subscriber.model_fields)
_CLOCK = re.compile(r"\d\d:\d\d")
_ENTRY = re.compile(r"^( *)- +\w+ *:", re.MULTILINE)
NOT_A_LIST = "expected 'subscribers:' followed by a list of entries, each like '  - email: you@example.org'"


@dataclass
class Checked:
    """The valid entries of a list and one line per problem found in it."""

    subscribers: list[Subscriber] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check(path: Path, topics: Topics | None = None, zone: str | None = None) -> Checked:
    """Validate every entry; never stops at the first problem. `zone`: the newsletter's, the
    zone of an entry without `timezone`."""
    return check_document(yamlfile.load(path), topics, zone)


def check_document(doc: yamlfile.Document, topics: Topics | None = None, zone: str | None = None) -> Checked:
    result = Checked()
    data = doc.data
    if data is None:
        return result
    # `subscribers:` with nothing under it (every entry deleted) is an empty list.
    if not isinstance(data, dict) or not isinstance(data.get("subscribers"), list | None):
        result.problems.append(f"{doc.where()}: {NOT_A_LIST}")
        return result
    unknown = sorted(str(k) for k in data if k != "subscribers")
    for key in unknown:
        result.problems.append(
            f"{doc.where((key,))}: unknown top-level key {key!r}; only 'subscribers' is allowed"
        )
    check_entry = EntryCheck(topics, zone)
    for index, entry in enumerate(data.get("subscribers") or []):
        subscriber = check_entry(doc, index, entry, result.problems)
        if subscriber is not None:
            result.subscribers.append(subscriber)
    return result


class SeenAddresses:
    """The addresses a pass over the list has met, and the line each was first at, in about
    24 bytes an address: a 64-bit hash of each in an open-addressing table, not a string
    (checking a 100,000-entry list held 18 MB of them). Two addresses share a hash about once
    in 10^10 lists of that size."""

    def __init__(self) -> None:
        self.hashes = array("Q", bytes(8 * 1024))  # 0: an empty slot
        self.lines = array("I", bytes(4 * 1024))
        self.count = 0

    @staticmethod
    def _hash(key: str) -> int:
        return (
            int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()) or 1
        )

    def _slot(self, h: int) -> int:
        mask = len(self.hashes) - 1
        i = h & mask
        while self.hashes[i] and self.hashes[i] != h:
            i = (i + 1) & mask
        return i

    def line(self, key: str) -> int | None:
        i = self._slot(self._hash(key))
        return self.lines[i] if self.hashes[i] else None

    def add(self, key: str, line: int) -> None:
        h = self._hash(key)
        i = self._slot(h)
        if not self.hashes[i]:
            self.count += 1
        self.hashes[i], self.lines[i] = h, line
        if self.count * 2 > len(self.hashes):
            hashes, lines = self.hashes, self.lines
            self.hashes = array("Q", bytes(16 * len(hashes)))
            self.lines = array("I", bytes(8 * len(hashes)))
            for k, old in enumerate(hashes):
                if old:
                    j = self._slot(old)
                    self.hashes[j], self.lines[j] = old, lines[k]


class EntryCheck:
    """Checks one entry at a time, remembering the addresses seen so far (duplicates)."""

    def __init__(self, topics: Topics | None = None, zone: str | None = None):
        self.topics = known_topics() if topics is None else topics
        self.context = zone_context(zone) if zone else None
        self.seen = SeenAddresses()

    def __call__(
        self, doc: yamlfile.Document, index: int, entry: Any, problems: list[str]
    ) -> Subscriber | None:
        """The entry as a Subscriber, or None with its problems added to `problems`."""
        loc = ("subscribers", index)
        label = f"entry {index + 1}"
        if isinstance(entry, dict) and entry.get("email"):
            label += f" ({entry['email']})"
        if not isinstance(entry, dict):
            hint = f"; write '- email: {entry}'" if isinstance(entry, str) and "@" in entry else ""
            problems.append(f"{doc.where(loc)}: {label}: expected a mapping with at least 'email:'{hint}")
            return None
        try:
            subscriber = Subscriber.model_validate(entry, context=self.context)
        except ValidationError as exc:
            problems.extend(yamlfile.validation_problems(doc, exc, Subscriber, loc, label))
            return None
        key = subscriber.email.lower()
        if (first := self.seen.line(key)) is not None:
            where = doc.where((*loc, "email"))
            problems.append(f"{where}: {label}: duplicate address, already listed at line {first}")
            return None
        if problem := unknown_topics(subscriber.topics, self.topics):
            problems.append(f"{doc.where((*loc, 'topics'))}: {label}: {problem}")
            return None
        self.seen.add(key, doc.line((*loc, "email")) or 0)
        return subscriber


def load(path: Path, topics: Topics | None = None, zone: str | None = None) -> list[Subscriber]:
    """All entries, or a DigestError listing every problem (nothing is sent from a bad list)."""
    checked = check(path, topics, zone)
    if checked.problems:
        raise DigestError(checked.problems)
    return checked.subscribers


# --- long lists, streamed (issue 6) -----------------------------------------------------------
# `digest send` to 20,000 readers need not hold 20,000 entries, let alone their YAML: it checks
# the whole list in one streamed pass (nothing is sent from a bad list), then streams it again
# to send. Memory stays flat however long the list.


def scan(path: Path, topics: Topics | None = None) -> list[str]:
    """Every problem `check` would report, found without holding the list (none: it is good)."""
    problems: list[str] = []
    try:
        for _ in _streamed(path, topics, problems):
            pass
    except yamlfile.NotStreamable:  # anchors, merge keys, other top-level keys: read it whole
        return check(path, topics).problems
    return problems


def stream(path: Path, topics: Topics | None = None, zone: str | None = None) -> Iterator[Subscriber]:
    """The valid entries, one at a time, read afresh from the file (after `scan` found it
    good; an entry broken since is left out)."""
    yielded = 0
    try:
        for subscriber in _streamed(path, topics, [], zone):
            yield subscriber
            yielded += 1
    except yamlfile.NotStreamable:  # the same entries, in the same order, from the whole file
        yield from check(path, topics, zone).subscribers[yielded:]


def _streamed(
    path: Path, topics: Topics | None, problems: list[str], zone: str | None = None
) -> Iterator[Subscriber]:
    check_entry = EntryCheck(topics, zone)
    for entry in yamlfile.stream_list(path, "subscribers"):
        subscriber = check_entry(entry.doc, entry.index, entry.value, problems)
        if subscriber is not None:
            yield subscriber


def find(path: Path, email: str, topics: Topics | None = None, zone: str | None = None) -> Subscriber | None:
    if not path.exists():
        return None
    wanted = address_key(email)
    return next((s for s in load(path, topics, zone) if s.email.lower() == wanted), None)


# --- writing ---------------------------------------------------------------------------------


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the list's lock: a file beside the list, not the list itself, because the list
    is replaced by rename on every write and a lock on the old inode would guard nothing."""
    lock_path = path.with_name(path.name + ".lock")
    with file_lock(
        lock_path,
        wait=LOCK_WAIT,
        poll=0.01,
        taken=lambda p: DigestError(f"another edit holds {p}; try again"),
    ):
        yield


def _yaml(text: str) -> tuple[Any, Any]:
    """A round-trip loader set up to write the file back in the style it was written."""
    from ruamel.yaml import YAML

    handler = YAML()  # round-trip mode: comments, order and quoting are kept
    handler.preserve_quotes = True
    handler.width = 4096  # never fold a long line the person wrote on one
    # The list's own indentation ("  - email:" or "- email:"), read off its first entry.
    first = _ENTRY.search(text)
    offset = len(first.group(1)) if first else 2
    handler.indent(mapping=2, sequence=offset + 2, offset=offset)
    return handler, handler.load(text)


def _scalar(value: Any) -> Any:
    """A value as ruamel should write it. The file is read back with PyYAML (YAML 1.1), where
    07:00 is the number 420 and `no` is False: any string PyYAML would not read back as the
    same string is written in double quotes."""
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, datetime):
        value = value.isoformat(timespec="seconds")
    if isinstance(value, str) and _CLOCK.fullmatch(value):
        return DoubleQuotedScalarString(value)  # "07:00", as people write send_at by hand
    if isinstance(value, list):
        seq = CommentedSeq(_scalar(v) for v in value)
        seq.fa.set_flow_style()  # [a, b] like the hand-written entries
        return seq
    if isinstance(value, str):
        try:
            plain = yaml.safe_load(value)
        except yaml.YAMLError:
            plain = None
        if plain != value or value != value.strip():
            return DoubleQuotedScalarString(value)
    return value


class Editor:
    """The list's entries as a round-trip document, for changes made inside `edit()`."""

    def __init__(self, path: Path, doc: Any):
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        self.path = path
        self.doc = doc if doc is not None else CommentedMap()
        if not isinstance(self.doc, dict):
            raise DigestError(f"{path}: {NOT_A_LIST}")
        if self.doc.get("subscribers") is None:
            self.doc["subscribers"] = CommentedSeq()
        self.entries = self.doc["subscribers"]
        if not isinstance(self.entries, list):
            raise DigestError(f"{path}: {NOT_A_LIST}")
        self.changed = False

    def find(self, email: str) -> Any | None:
        wanted = address_key(email)
        for entry in self.entries:
            if isinstance(entry, dict) and str(entry.get("email", "")).lower() == wanted:
                return entry
        return None

    def add(self, fields: dict[str, Any]) -> Any:
        from ruamel.yaml.comments import CommentedMap

        entry = CommentedMap()
        for key in FIELD_ORDER:
            if fields.get(key) not in (None, []):
                entry[key] = _scalar(fields[key])
        self.entries.append(entry)
        self._blank_line_before(len(self.entries) - 1)
        self.changed = True
        return entry

    def set(self, entry: Any, key: str, value: Any) -> None:
        """Set (or with None, remove) one field, keeping the entry's other lines as they are.
        A new key goes where the model lists it, so entries stay in a familiar order."""
        if value is None or value == []:
            if key in entry:
                del entry[key]
                self.changed = True
            return
        value = _scalar(value)
        if key in entry:
            if entry[key] != value or type(entry[key]) is not type(value):
                entry[key] = value
                self.changed = True
            return
        rank = FIELD_ORDER.index(key)
        keys = list(entry)
        later = [i for i, k in enumerate(keys) if k in FIELD_ORDER and FIELD_ORDER.index(k) > rank]
        if later:
            entry.insert(later[0], key, value)
        else:
            self._append_key(entry, key, value)
        self.changed = True

    @staticmethod
    def _append_key(entry: Any, key: str, value: Any) -> None:
        # ruamel keeps the blank line or comment that follows an entry on its last key; a key
        # appended after it would land below the blank line. Move that trailing comment to the
        # new last key.
        last = next(reversed(entry), None) if len(entry) else None
        entry[key] = value
        comments = entry.ca.items.get(last) if last is not None else None
        if comments and len(comments) > 2 and comments[2] is not None:
            entry.ca.items[key] = [None, None, comments[2], None]
            comments[2] = None

    def _blank_line_before(self, index: int) -> None:
        """Separate a new entry by a blank line when the list already does so."""
        if any(comments[1] for comments in self.entries.ca.items.values() if len(comments) > 1):
            self.entries.yaml_set_comment_before_after_key(index, before="\n")


@contextmanager
def edit(path: Path, topics: Topics | None = None) -> Iterator[Editor]:
    """Lock, re-read, let the caller change entries, check the result, replace the file.

    Nothing is written if the caller raises, if nothing changed, or if the result would not
    pass `digest subscribers --check` (a problem already in the file must be fixed first).
    """
    with locked(path):
        try:
            text = yamlfile.read_text(path) if path.exists() else HEADER
            mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
        except OSError as exc:
            raise DigestError(f"{path}: cannot read: {exc}") from None
        try:
            handler, doc = _yaml(text)
        except Exception as exc:  # ruamel's errors: say it as the readers of the list do
            yamlfile.parse(text, path)  # a syntax error or a duplicate key, named by its line
            raise DigestError(f"{path}: cannot edit: {exc}") from None
        editor = Editor(path, doc)
        yield editor
        if not editor.changed:
            return
        out = io.StringIO()
        handler.dump(editor.doc, out)
        new_text = out.getvalue()
        after = check_document(yamlfile.parse(new_text, path), topics)
        # A problem already in the file (a typo made in an editor) must not block an
        # unsubscribe; an edit is refused only if it would add a problem.
        if after.problems and len(after.problems) > len(
            check_document(yamlfile.parse(text, path), topics).problems
        ):
            raise DigestError([f"{path} was not changed: the edit would make it invalid", *after.problems])
        _replace(path, new_text.encode("utf-8"), mode)


def _replace(path: Path, data: bytes, mode: int | None) -> None:
    try:
        write_atomic(path, data, mode=mode)
        # The rename is durable only once the folder's entry is on disk too.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise DigestError(f"{path}: cannot write: {exc.strerror or exc}") from None


# --- changes, by the rules -------------------------------------------------------------------


def _snapshot(entry: Any, zone: str | None = None) -> Subscriber:
    fields = {str(k): (list(v) if isinstance(v, list) else v) for k, v in entry.items()}
    try:
        return Subscriber.model_validate(fields, context=zone_context(zone) if zone else None)
    except ValidationError:  # a mistake made in an editor: named by `digest subscribers --check`
        from ..readers.subscribers import validated

        return validated(fields, zone=zone)


def _apply(
    editor: Editor, email: str, event: Event, now: datetime, topics: Topics | None, zone: str | None = None
) -> Change:
    entry = editor.find(email)
    before = _snapshot(entry, zone) if entry is not None else None
    decision = decide(before, event, now)
    if not decision.writes(before):
        return Change(before, before, decision.outcome, decision.reason)
    result = after(before, email, decision, topics, zone)  # validated before anything is written
    if entry is None:
        # The fields as given (a default left out stays out); the address as email-validator
        # writes it (the domain lowercased).
        entry = editor.add({**decision.fields, "email": result.email})
        return Change(None, _snapshot(entry, zone), decision.outcome, decision.reason)
    for key, value in decision.fields.items():
        # An entry that says `follow:` keeps saying it: `organizations` is its other name.
        editor.set(entry, "follow" if key == "organizations" and "follow" in entry else key, value)
    return Change(before, _snapshot(entry, zone), decision.outcome, decision.reason)


class YamlList:
    """A SubscriberStore (digest/store/base.py) over a YAML file."""

    def __init__(self, path: Path, topics: Topics | None = None, zone: str | None = None):
        self.path = path
        self.topics = topics
        self.zone = zone  # the newsletter's: an entry without `timezone` gets it
        self.where = str(path)

    def problems(self, *, thorough: bool = False) -> list[str]:
        return scan(self.path, self.topics)  # every entry is checked every time

    def readers(self) -> Iterator[Subscriber]:
        return stream(self.path, self.topics, self.zone)

    def check(self) -> Checked:
        return check(self.path, self.topics, self.zone)

    def find(self, email: str) -> Subscriber | None:
        return find(self.path, email, self.topics, self.zone)

    def apply(self, email: str, event: Event, *, now: datetime) -> Change:
        with edit(self.path, self.topics) as editor:
            change = _apply(editor, email, event, now, self.topics, self.zone)
        if change.outcome is Outcome.NOT_LISTED:
            raise NotListed(f"{self.path}: {email} is not on the list")
        return change

    def apply_all(
        self,
        changes: Iterable[tuple[str, Event]],
        *,
        now: datetime,
        each: Callable[[Change], None] | None = None,
    ) -> None:
        """Many changes in one locked edit (an import, the bounces of a run): the file is
        rewritten once, and not at all if any of them would make it invalid. `each` hears
        every change's outcome."""
        with edit(self.path, self.topics) as editor:
            for email, event in changes:
                change = _apply(editor, email, event, now, self.topics, self.zone)
                if each is not None:
                    each(change)

    def signature(self) -> object:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def close(self) -> None:
        pass
