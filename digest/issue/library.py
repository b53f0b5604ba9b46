"""A reader's library: the papers they care about, from the files people already have.

    .bib         BibTeX, as Zotero, Mendeley, JabRef and Google Scholar export it
    .csv         a Zotero CSV export ("Title", "Abstract Note", "DOI", "Url", "Extra")
    anything else  one paper per line: an arXiv id or URL, or a DOI; `#` starts a comment

Each entry becomes (id, title, abstract): the version-less arXiv id when one is known
(`eprint`, an arxiv.org URL, `arXiv:` in a journal or Extra field, the 10.48550 DOI), else
`doi:` and the DOI, else the title's id. Entries with an arXiv id and no abstract are looked
up on the arXiv API (`lookup`); an entry with neither title nor a way to look it up is
reported with its line and left out, never guessed at.

The BibTeX reader is written here: it is short, it names the line of every entry it cannot
use, and the libraries for it either report no lines (bibtexparser 1.x) or are still
pre-releases (2.x).

Files come from readers' browsers, so reading one is bounded (MAX_CHARS, MAX_RECORDS) and linear:
every bracket is matched in one pass before the entries are read, line numbers are counted
as the reader moves forward, an entry that never closes costs one look-up, not a scan to the
end of the file, and every pattern's repeats are bounded. `Library.steps` counts the
characters the reader went over; past MAX_STEPS it stops with an error (a backstop: a linear
read of MAX_CHARS stays far below it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DigestError
from ..models import arxiv_id, one_line, title_id

MAX_ENTRIES = 2000  # a library far past any reader's; more is cut, and said
MAX_CHARS = 4_000_000  # a 2,000-paper BibTeX export with abstracts is ~3 MB
MAX_RECORDS = 10_000  # entries, rows or lines with an id, usable or not: more is refused
MAX_STEPS = 25 * 1_000_000  # characters gone over in all (about 6 per character of MAX_CHARS)
_ENTRY = re.compile(r"@\s{0,16}([A-Za-z]{1,32})\s{0,16}[{(]")
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_ARXIV_MENTION = re.compile(  # repeats bounded: "arxiv" * 20,000 must not rescan the rest each time
    r"arxiv[:\s]{0,8}(?:abs/)?([a-z\-]{1,24}(?:\.[A-Z]{2})?/\d{7}|\d{4}\.\d{4,5})(?:v\d+)?", re.I
)
_FIELD = re.compile(r"\s*([A-Za-z][\w\-]{0,63})\s*=\s*")
_ID_CHARS = 2000  # of a field searched for an id: a URL, DOI or journal line is far shorter


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    abstract: str
    line: int
    arxiv: str | None = None  # the arXiv id, when known (it can be looked up)


@dataclass
class Library:
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # entries left out, each with its line
    steps: int = 0  # characters the reader went over (linear in the file's size)


class _Budget:
    """Counts the characters a read goes over; an error naming the file past MAX_STEPS."""

    def __init__(self, where: str, limit: int):
        self.where, self.limit, self.spent = where, limit, 0

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > self.limit:
            raise DigestError(
                f"{self.where}: too complex to read (over {self.limit:,} steps); "
                "export the library again from Zotero or your reference manager, or split it"
            )


def read(path: Path) -> Library:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CHARS * 4 + 1)  # UTF-8: at most four bytes a character
    except OSError as exc:
        raise DigestError(f"{path}: cannot read the library: {exc.strerror or exc}") from None
    if len(raw) > MAX_CHARS * 4:
        raise DigestError(f"{path}: over {MAX_CHARS * 4 // 1_000_000} MB, far past any reader's library")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DigestError(f"{path}:{line}: not UTF-8 text; export the library as UTF-8") from None
    return parse(text, str(path), path.suffix.lower())


def parse(text: str, where: str, suffix: str, *, max_steps: int = MAX_STEPS) -> Library:
    if len(text) > MAX_CHARS:
        raise DigestError(
            f"{where}: {len(text):,} characters, over the {MAX_CHARS:,} a library may have; "
            "export only the collection you read from, or split the file"
        )
    budget = _Budget(where, max_steps)
    if suffix == ".bib" or (suffix not in (".csv", ".txt") and text.lstrip().startswith("@")):
        found = _bibtex(text, where, budget)
    elif suffix == ".csv":
        found = _zotero_csv(text, where, budget)
    else:
        found = _id_list(text, where, budget)
    seen: set[str] = set()
    unique = Library(problems=found.problems, steps=budget.spent)
    for entry in found.entries:
        if entry.id not in seen:
            seen.add(entry.id)
            unique.entries.append(entry)
    if len(unique.entries) > MAX_ENTRIES:
        unique.problems.append(
            f"{where}: {len(unique.entries)} papers; only the first {MAX_ENTRIES} are used"
        )
        unique.entries = unique.entries[:MAX_ENTRIES]
    return unique


def _records(where: str, line: int, n: int) -> None:
    if n > MAX_RECORDS:
        raise DigestError(
            f"{where}:{line}: more than {MAX_RECORDS:,} entries, far past any reader's library; "
            "export only the collection you read from"
        )


def _entry(budget: _Budget, where: str, line: int, title: str, abstract: str, *ids: str) -> Entry | str:
    """An entry from what a file says about a paper, or the problem (a line for the reader)."""
    aid = None
    doi = None
    budget.spend(len(title) + len(abstract))
    for value in ids:
        if not value:
            continue
        value = value[:_ID_CHARS]
        budget.spend(len(value))
        if (found := _ARXIV_DOI.search(value)) and (aid := arxiv_id(found.group(1))):
            break
        if aid := arxiv_id(value):
            break
        if (mention := _ARXIV_MENTION.search(value)) and (aid := arxiv_id(mention.group(1))):
            break
        if doi is None and (found := _DOI.search(value)):
            doi = found.group(1).rstrip(".,;").lower()
    title, abstract = one_line(_tex(title)), one_line(_tex(abstract))
    if not title and not aid:
        return f"{where}:{line}: no title and no arXiv id to look it up by; left out"
    key = aid or (f"doi:{doi}" if doi else title_id(title))
    return Entry(key, title, abstract, line, aid)


def _tex(value: str) -> str:
    """BibTeX's markup out of a title or abstract: braces that protect case, \\emph{...}."""
    value = re.sub(r"\\[a-zA-Z]+\s*\{([^{}]*)\}", r"\1", value)
    return value.replace("{", "").replace("}", "").replace("\\&", "&").replace("~", " ")


def _bibtex(text: str, where: str, budget: _Budget) -> Library:
    out = Library()
    closing = _Closing(text, budget)
    pos, line, counted, records = 0, 1, 0, 0
    while match := _ENTRY.search(text, pos):
        budget.spend(match.end() - pos)
        line += text.count("\n", counted, match.start())  # forward only: each newline counted once
        counted = match.start()
        records += 1
        _records(where, line, records)
        end = closing.of(match.end() - 1)
        if end < 0:
            out.problems.append(f"{where}:{line}: the entry never closes (a brace is missing); left out")
            pos = match.end()  # the entries after it are read on their own
            continue
        pos = end + 1  # an entry's inside is never read again as entries of its own
        if match.group(1).lower() in ("comment", "preamble", "string"):
            continue
        fields = _fields(text[match.end() : end], budget)
        made = _entry(
            budget,
            where,
            line,
            fields.get("title", ""),
            fields.get("abstract", ""),
            fields.get("eprint", "") if fields.get("archiveprefix", "arxiv").lower() == "arxiv" else "",
            fields.get("arxivid", ""),
            fields.get("doi", ""),
            fields.get("url", ""),
            fields.get("journal", ""),
            fields.get("note", ""),
        )
        if isinstance(made, str):
            out.problems.append(made)
        else:
            out.entries.append(made)
    return out


class _Closing:
    """Where each bracket of a text closes: `{` and `(` matched in one pass each (the second
    only when an entry opens with `(`), so asking about any bracket costs nothing more."""

    def __init__(self, text: str, budget: _Budget):
        self.text, self.budget = text, budget
        self._pairs: dict[str, dict[int, int]] = {}

    def of(self, start: int) -> int:
        """Where the bracket at `start` closes, or -1 when it never does."""
        opening = self.text[start]
        if opening not in self._pairs:
            self.budget.spend(len(self.text))
            closing = "}" if opening == "{" else ")"
            pairs: dict[int, int] = {}
            stack: list[int] = []
            for found in re.finditer(re.escape(opening) + "|" + re.escape(closing), self.text):
                if found.group() == opening:
                    stack.append(found.start())
                elif stack:
                    pairs[stack.pop()] = found.start()
            self._pairs[opening] = pairs
        return self._pairs[opening].get(start, -1)


def _braced(text: str, start: int) -> tuple[str, int]:
    """The text inside the bracket at `start` (nested ones allowed), and where it ends."""
    opening, closing = text[start], "}" if text[start] == "{" else ")"
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i
    return "", -1


def _fields(body: str, budget: _Budget) -> dict[str, str]:
    """`key = {value}`, `key = "value"` or `key = 123` pairs after the citation key. One pass:
    each value is read from where the last one ended."""
    budget.spend(2 * len(body))
    out: dict[str, str] = {}
    i = body.find(",") + 1
    while 0 < i < len(body):
        match = _FIELD.match(body, i)
        if not match:
            break
        name, i = match.group(1).lower(), match.end()
        if i < len(body) and body[i] == "{":
            value, end = _braced(body, i)
            i = end + 1 if end >= 0 else len(body)
        elif i < len(body) and body[i] == '"':
            end = body.find('"', i + 1)
            value, i = (body[i + 1 : end], end + 1) if end > 0 else (body[i + 1 :], len(body))
        else:
            end = body.find(",", i)
            end = len(body) if end < 0 else end
            value, i = body[i:end].strip(), end
        out.setdefault(name, value)
        comma = body.find(",", i)
        i = comma + 1 if comma >= 0 else len(body)
    return out


def _zotero_csv(text: str, where: str, budget: _Budget) -> Library:
    out = Library()
    budget.spend(len(text))  # the csv module reads it once
    reader = csv.DictReader(io.StringIO(text))
    line = 1
    try:
        if not reader.fieldnames or "Title" not in reader.fieldnames:
            raise DigestError(
                f"{where}:1: not a Zotero CSV export (no Title column); export the library as CSV "
                "from Zotero, or as BibTeX"
            )
        for n, row in enumerate(reader, start=1):
            line, start = reader.line_num, line + 1
            _records(where, start, n)
            out_row = _csv_row(budget, where, start, row)
            (out.problems if isinstance(out_row, str) else out.entries).append(out_row)  # type: ignore[arg-type]
    except csv.Error as exc:  # a cell past the csv module's 128 KB, a stray NUL, ...
        raise DigestError(
            f"{where}:{line + 1 if reader.line_num else 1}: not readable as CSV ({exc}); export the library "
            "as CSV from Zotero again, or as BibTeX"
        ) from None
    return out


def _csv_row(budget: _Budget, where: str, start: int, row: dict[str, str]) -> Entry | str:
    return _entry(
        budget,
        where,
        start,
        row.get("Title") or "",
        row.get("Abstract Note") or "",
        row.get("Extra") or "",
        row.get("Url") or "",
        row.get("DOI") or "",
        row.get("Publication Title") or "",
    )


def _id_list(text: str, where: str, budget: _Budget) -> Library:
    out = Library()
    records = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        budget.spend(len(raw) + 1)
        value = raw.split("#", 1)[0].strip()[:_ID_CHARS]
        if not value:
            continue
        records += 1
        _records(where, n, records)
        aid = arxiv_id(value) or arxiv_id(_ARXIV_DOI.sub(r"\1", value))
        if aid:
            out.entries.append(Entry(aid, "", "", n, aid))
        elif found := _DOI.search(value):
            out.problems.append(
                f"{where}:{n}: {found.group(1)}: a DOI alone cannot be looked up; give its arXiv id, or "
                "the library as BibTeX, which carries titles and abstracts"
            )
        else:
            out.problems.append(f"{where}:{n}: {value[:60]!r} is not an arXiv id, arXiv URL or DOI")
    return out


def missing(library: Library) -> list[str]:
    """arXiv ids of the entries that want a title or abstract from the arXiv API."""
    return [e.arxiv for e in library.entries if e.arxiv and (not e.title or not e.abstract)]


def completed(
    library: Library,
    found: dict[str, tuple[str, str]],
    where: str,
    unanswered: str | None = None,
    asked: Collection[str] = (),
) -> Library:
    """The library with looked-up titles and abstracts filled in; entries still without a
    title are left out and reported: arXiv does not know them, or, when the ids were not
    looked up (`unanswered` says why), nothing is claimed about them beyond that."""
    out = Library(problems=list(library.problems))
    for entry in library.entries:
        title, abstract = entry.title, entry.abstract
        if entry.arxiv in found:
            got_title, got_abstract = found[entry.arxiv]
            title, abstract = title or got_title, abstract or got_abstract
        if not title:
            if unanswered is None and entry.arxiv in asked:
                why = f"arXiv has no paper {entry.arxiv}"
            else:
                why = f"{entry.arxiv} has no title and was not looked up ({unanswered or 'not asked'})"
            out.problems.append(f"{where}:{entry.line}: {why}; left out")
            continue
        out.entries.append(Entry(entry.id, title, abstract, entry.line, entry.arxiv))
    return out
