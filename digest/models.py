"""The data that flows through a digest: papers, readers, themes and issues.

Everything here is plain data. Parsing of source formats lives in `digest.sources`,
validation of files in `digest.config` and `digest.readers.subscribers`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Container
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .util.text import Fields

# New-style ids (2403.12345, 0704.0001) and old-style ones (hep-th/9901001, math.GT/0309136),
# optionally with a version, optionally inside an arXiv URL or behind an "arXiv:" prefix.
_ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_OLD = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ARXIV_ID = re.compile(
    rf"(?<![\w.\-])(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v\d+)?(?:\.pdf)?$",
    re.IGNORECASE,
)


def arxiv_id(value: str) -> str | None:
    """The version-less arXiv id in `value` (an id, `arXiv:` id or arXiv URL), or None."""
    match = _ARXIV_ID.search(value.strip().rstrip("/"))
    return match.group("id") if match else None


def in_category(category: str, wanted: Container[str]) -> bool:
    """Whether an arXiv category is one of `wanted` (lower case) or in an archive `wanted`
    names whole: "cs" takes "cs.CL"."""
    c = category.lower()
    return c in wanted or c.split(".", 1)[0] in wanted


def title_id(title: str) -> str:
    """A stable id for a paper known only by its title (no arXiv id to go on)."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    digest = hashlib.sha1(" ".join(words).encode()).hexdigest()[:10]
    return f"title:{digest}"


def json_object(value: Any) -> dict[str, Any]:
    """`value` if a JSON document gave an object there, else an empty one: a source or a
    webhook body may put anything anywhere."""
    return value if isinstance(value, dict) else {}


def one_line(text: str) -> str:
    """Collapse all whitespace, newlines included, to single spaces."""
    return " ".join(text.split())


# Characters no text from a source or a form may carry (README, "Papers as JSON lines"):
# - what XML 1.0 forbids: C0 controls but tab, LF and CR (NUL, BEL, ESC, ...), U+FFFE,
#   U+FFFF, and lone surrogates, which are not text at all (UTF-8 cannot even encode them);
#   one of them in a title made feed.xml unreadable for as long as the issue stayed in it;
# - DEL, as much a control as BEL;
# - the explicit bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069:
#   invisible, never needed by right-to-left text (the bidi algorithm orders Arabic and
#   Hebrew by itself; the marks LRM, RLM and ALM stay), and an unclosed override reverses
#   everything after it: the author line, the links, the next card, a name in a header.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str) -> str:
    """`text` without the characters above."""
    return _UNSAFE.sub("", text)


@dataclass(slots=True)
class Paper:
    """One paper, normalised from whichever source listed it.

    `id` is the version-less arXiv id when one is known. `position` is the 1-based place in
    the listing it came from: the order a trending page shows is itself a signal.
    """

    id: str
    title: str
    abstract: str
    authors: list[str] = field(default_factory=list)
    organization: str | None = None
    published: str | None = None
    submitted: str | None = None
    url: str | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    thumbnail: str | None = None
    categories: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    summary: str | None = None
    upvotes: int | None = None
    comments: int | None = None
    stars: int | None = None
    position: int | None = None
    sources: list[str] = field(default_factory=list)
    # The paper's models, datasets and Spaces on Hugging Face, as "model:org/name",
    # "dataset:org/name", "space:org/name" (hf_daily's `repos` option looks them up).
    repos: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PAPER_FIELDS: dict[str, Any] = {f.name: f.type for f in fields(Paper)}


@dataclass(slots=True)
class Theme:
    """A labelled group of papers, computed once per issue."""

    label: str
    papers: list[Paper]
    key: str = ""

    def ids(self) -> list[str]:
        return [p.id for p in self.papers]


@dataclass(slots=True)
class Issue:
    """One edition of the newsletter: the papers of a day and their themes."""

    id: str
    date: date
    papers: list[Paper]
    themes: list[Theme]
    built_at: datetime
    # How well each paper fits each theme of the taxonomy (paper id -> theme key -> 0..1) and
    # the taxonomy's labels: readers follow topics, whether or not today has a theme for them.
    fit: dict[str, dict[str, float]] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    # Each paper's text ready for phrase lookups (themes.paper_fields), in `papers` order:
    # theming builds it and ranking reuses it. None for an issue put together by hand.
    fields: list[Fields] | None = field(default=None, repr=False, compare=False)
    # How each paper's engagement grew since an earlier day's snapshot (digest/issue/signals.py):
    # paper id -> Growth, for papers seen before; ranking counts it beside the levels.
    growth: dict[str, Growth] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Growth:
    """What a paper gained since the snapshot of `since` (a date, `days` before the issue)."""

    since: str
    days: int
    upvotes: int = 0
    comments: int = 0
    stars: int = 0

    def per_day(self, name: str) -> float:
        return max(0, getattr(self, name)) / max(1, self.days)

    def words(self) -> str:
        """ "+38 upvotes since yesterday", "+12 upvotes, +3 stars in 3 days"."""
        when = "since yesterday" if self.days == 1 else f"in {self.days} days"
        gained = [
            f"+{n} {name}" for name in ("upvotes", "comments", "stars") if (n := getattr(self, name)) > 0
        ]
        return f"{', '.join(gained)} {when}" if gained else f"no new upvotes, comments or stars {when}"


@dataclass(slots=True)
class Pick:
    """A paper chosen for one reader, with its score and the reason it was chosen."""

    paper: Paper
    score: float
    trending: float
    relevance: float
    reason: str | None = None


@dataclass(slots=True)
class Section:
    """One theme as one reader sees it: only the papers picked for them."""

    label: str
    picks: list[Pick]
    key: str = ""


@dataclass(slots=True)
class Rendered:
    """One reader's email body as render.py writes it and mail.compose sends it."""

    subject: str
    html: str
    text: str


# --- readers -------------------------------------------------------------------------------

Status = Literal["pending", "active", "unsubscribed", "bounced"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FREQUENCIES = ("daily", "weekdays", *(f"weekly:{d}" for d in WEEKDAYS))
# monthly:N: on day N of each month (on its last day when the month is shorter).
MONTHLY = re.compile(r"monthly:([1-9]|[12]\d|3[01])")


# Abbreviations and legacy names people type for a zone, and the place zone to use instead.
# Some are valid zone names (EST, EST5EDT, CET) but keep a fixed offset or one country's old
# rules; the others (PST, BST, JST) are not zones at all.
_PLACES = {
    **dict.fromkeys(("EST", "EDT", "EST5EDT"), "America/New_York"),
    **dict.fromkeys(("CST", "CDT", "CST6CDT"), "America/Chicago"),
    **dict.fromkeys(("MST", "MDT", "MST7MDT"), "America/Denver"),
    **dict.fromkeys(("PST", "PDT", "PST8PDT"), "America/Los_Angeles"),
    **dict.fromkeys(("AKST", "AKDT"), "America/Anchorage"),
    "HST": "Pacific/Honolulu",
    **dict.fromkeys(("CET", "CEST", "MET", "MEST"), "Europe/Paris"),
    **dict.fromkeys(("EET", "EEST"), "Europe/Athens"),
    **dict.fromkeys(("WET", "WEST"), "Europe/Lisbon"),
    "BST": "Europe/London",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul",
    **dict.fromkeys(("AEST", "AEDT"), "Australia/Sydney"),
    **dict.fromkeys(("NZST", "NZDT"), "Pacific/Auckland"),
}
_OFFSET = re.compile(r"(?:UTC|GMT)\s*([+-])\s*(\d{1,2})(?::?(\d\d))?", re.IGNORECASE)
_OWN = "or the IANA name of the reader's own place, Area/City"


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        if place := _PLACES.get(value.strip().upper()):
            raise ValueError(f"unknown time zone {value!r}; use {place} ({_OWN})") from None
        if offset := _OFFSET.fullmatch(value.strip()):
            sign, hours, minutes = offset.groups()
            etc = f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}"  # POSIX: the sign is inverted
            fixed = "" if minutes else f"; {etc} is UTC{sign}{int(hours)} all year, with no daylight saving"
            raise ValueError(
                f"unknown time zone {value!r}: an offset is not a zone; use the IANA name of the "
                f"reader's place, Area/City, such as America/New_York{fixed}"
            ) from None
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as Europe/London or America/New_York"
        ) from None
    return value


ADDRESSES = 8192  # addresses whose check is remembered: a list's first 8,192 readers, ~2 MB


@functools.lru_cache(maxsize=ADDRESSES)
def normalized_address(email: str) -> str:
    """An address as email_validator normalises it (EmailNotValidError if it is not one),
    worked out once per process: a send reads the list twice (the whole list's check, then
    each reader as their turn comes) and looks each reader up by it (address_key)."""
    from email_validator import validate_email

    return validate_email(email, check_deliverability=False).normalized


if TYPE_CHECKING:
    Address = EmailStr
else:

    class Address(EmailStr):
        """EmailStr, a bare address checked through `normalized_address`; anything else
        (a `Name <address>` form, spaces around it) as EmailStr checks it."""

        @classmethod
        def _validate(cls, input_value: str, /) -> str:
            if len(input_value) > 254 or not _BARE_ADDRESS.fullmatch(input_value):
                return EmailStr._validate(input_value)
            from email_validator import EmailNotValidError
            from pydantic_core import PydanticCustomError

            try:
                return normalized_address(input_value)
            except EmailNotValidError as exc:  # EmailStr's own words
                raise PydanticCustomError(
                    "value_error",
                    "value is not a valid email address: {reason}",
                    {"reason": str(exc.args[0])},
                ) from exc


_BARE_ADDRESS = re.compile(r"[^\s<>]+")


def zone_advice(value: str) -> str | None:
    """Why a valid zone name is probably not what the reader meant, and what to use instead;
    None for a place's zone. EST is UTC-5 all year: a New York reader's 07:00 would come at
    08:00 from March to November."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # not a zone at all: check_timezone says so, and what to use
    place = _PLACES.get(value)
    if place is not None and _fixed(value) and not _fixed(place):
        return (
            f"timezone {value!r} is {_offset(value)} all year, with no daylight saving time: its send "
            f"time is an hour off for half the year; use {place} ({_OWN})"
        )
    if place is not None:
        return f"timezone {value!r} is a legacy name; use {place} ({_OWN})"
    if value.startswith("Etc/GMT") and _offset(value) != "UTC":
        return (
            f"timezone {value!r} is {_offset(value)} all year, with no daylight saving time; "
            f"use the IANA name of the reader's place, Area/City, such as America/New_York"
        )
    return None


def _offset(zone: str) -> str:
    delta = datetime(2026, 1, 15, tzinfo=ZoneInfo(zone)).utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def _fixed(zone: str) -> bool:
    """Whether a zone keeps one offset all year (2026: January against July)."""
    tz = ZoneInfo(zone)
    return datetime(2026, 1, 15, tzinfo=tz).utcoffset() == datetime(2026, 7, 15, tzinfo=tz).utcoffset()


def zone_context(zone: str) -> dict[str, str]:
    """The validation context that gives an entry without `timezone` the newsletter's zone:
    `Subscriber.model_validate(entry, context=zone_context(config.newsletter.timezone))`."""
    return {"timezone": zone}


class Subscriber(BaseModel):
    """One entry of subscribers.yaml. An entry without `status` is active: the list owner
    added it by hand. An entry without `timezone` takes the newsletter's (`newsletter.timezone`,
    passed in as the validation context; UTC without one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Address
    name: str | None = None
    status: Status = "active"
    frequency: str = "daily"
    send_at: str = "07:00"
    timezone: str = "UTC"
    topics: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    # The labs the reader follows (`follow:` in their entry says the same): their papers are
    # lifted and pinned first, "From the labs you follow".
    organizations: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("organizations", "follow")
    )
    exclude: list[str] = Field(default_factory=list)
    max_papers: int | None = Field(default=None, ge=1, le=100)
    # Papers the reader cares about: a BibTeX file, a Zotero CSV export or a list of arXiv ids
    # (relative to digest.yaml); their digest leans towards papers like these.
    library: str | None = None
    created: datetime | None = None
    confirmed: datetime | None = None
    unsubscribed: datetime | None = None  # when they left: older confirmation links no longer work

    @model_validator(mode="before")
    @classmethod
    def _newsletter_zone(cls, data: Any, info: ValidationInfo) -> Any:
        zone = (info.context or {}).get("timezone")
        if zone and isinstance(data, dict) and data.get("timezone") is None:
            return {**data, "timezone": zone}
        return data

    @field_validator("name")
    @classmethod
    def _name_is_one_line(cls, value: str | None) -> str | None:
        return one_line(safe_text(value)) or None if value else None

    @field_validator("frequency")
    @classmethod
    def _known_frequency(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in FREQUENCIES and not MONTHLY.fullmatch(value):
            raise ValueError(
                f"unknown frequency {value!r}; use daily, weekdays, weekly:mon ... weekly:sun "
                "or monthly:1 ... monthly:31"
            )
        return value

    @field_validator("send_at", mode="before")
    @classmethod
    def _quoted_clock_time(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 12:30 as 750 (minutes); 07:30 stays a string.
        if isinstance(value, int) and not isinstance(value, bool):
            hours, minutes = divmod(value, 60)
            clock = f"{hours:02d}:{minutes:02d}" if 0 <= hours < 24 else "07:30"
            raise ValueError(
                f'{value} is how YAML reads a time without quotes; write it in quotes: send_at: "{clock}"'
            )
        return value

    @field_validator("send_at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
        if not match:
            raise ValueError(f"send_at {value!r} is not a time of day; write HH:MM, e.g. 07:30")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("topics", "keywords", "authors", "categories", "organizations", "exclude")
    @classmethod
    def _clean_terms(cls, values: list[str]) -> list[str]:
        return [one_line(v) for v in values if v and v.strip()]

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def personalised(self) -> bool:
        return bool(self.topics or self.keywords or self.authors or self.categories or self.organizations)
