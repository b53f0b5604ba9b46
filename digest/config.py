"""digest.yaml: load, validate, resolve paths. Secrets come from the environment, never YAML.

Relative paths in the file are relative to the file's own folder, so `digest --config
/srv/lab/digest.yaml` works from any working directory.
"""

from __future__ import annotations

import os
import re
import string
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import DigestError
from .issue.themes import PACK_NAMES, ThemeSpec
from .models import check_timezone
from .util import yamlfile
from .util.location import Location
from .util.location import check as check_location
from .util.location import resolve as resolve_location

DEFAULT_CONFIG = Path("digest.yaml")
LIST_IN_DATABASE = "database"  # `subscribers: database`
SECRET_ENV = "DIGEST_SECRET"
# Used only for local backends (file://, console://) so the demo runs with no setup;
# links signed with it are worthless on a real server, which refuses to start without one.
DEV_SECRET = "digest-dev-secret-not-for-production"
MAKE_SECRET = f"export {SECRET_ENV}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
# Whoever guesses the secret can forge every reader's unsubscribe, preferences and confirmation
# link, and every tag the inbox trusts. 32 characters of a random alphabet are 128 bits or more
# (hex: 128; token_urlsafe(32) makes 43); a string with a pattern is long without being random,
# so the bits are estimated (digest/util/secret_strength.py), not counted from the length.
MIN_SECRET_CHARS = 32
MIN_SECRET_BITS = 128


def check_secret(secret: str) -> str:
    """`secret` if it is fit to sign links with, else a DigestError saying how to make one.
    The message never repeats the secret."""
    from .util.secret_strength import PUBLISHED, estimated_bits

    if secret != secret.strip():
        problem = "starts or ends with white space (a copy-and-paste slip?)"
    elif secret == DEV_SECRET or secret.lower() in PUBLISHED:
        problem = "is an example printed in digest's documentation, which anyone can read"
    elif any(mark in secret for mark in ("$(", "${", "`", "token_urlsafe")):
        problem = "is a shell command or variable that was never run: put its output there instead"
    elif len(secret) < MIN_SECRET_CHARS:
        problem = f"is {len(secret)} characters long; it needs at least {MIN_SECRET_CHARS}"
    elif (bits := estimated_bits(secret)) < MIN_SECRET_BITS:
        problem = (
            f"has a pattern (repeats or runs of characters): about {bits:.0f} bits of guessing, "
            f"and it needs {MIN_SECRET_BITS}; it must be random"
        )
    else:
        return secret
    raise DigestError(
        f"{SECRET_ENV} {problem}: whoever guesses it can forge the unsubscribe, preferences and "
        f"confirmation links. Make a random one: {MAKE_SECRET}"
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# The subject line's template (`newsletter.subject`) and the fields it may use.
# The inbox already shows the sender and the date, so the default names the lead paper; with no
# other paper in the email " and {more}" is left out.
DEFAULT_SUBJECT = "{lead} and {more}"
SUBJECT_FIELDS = {
    "name": "Trending Papers",  # the newsletter's name
    "date": "26 Nov",  # the issue's day
    "weekday": "Thursday",
    "count": 20,  # papers in this reader's digest
    "papers": "20 papers",  # the same, with the noun
    "lead_theme": "Language models",  # the label of the reader's first theme
    "lead": "Self-Forcing++",  # the lead paper's title, before its colon if it has one
    "others": 19,  # papers besides the lead
    "more": "19 more trending papers",  # the same, with the words
}


def check_subject(template: str) -> str:
    """A `newsletter.subject` that can only name the fields above: it is formatted with
    str.format, which must not reach anything else."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{template!r}: {exc}; write literal braces as {{{{ and }}}}") from None
    for name in names:
        if name not in SUBJECT_FIELDS:
            known = ", ".join("{" + f + "}" for f in SUBJECT_FIELDS)
            raise ValueError(f"unknown field {{{name}}} in {template!r}; use {known}")
    try:
        template.format_map(SUBJECT_FIELDS)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{template!r}: {exc}") from None
    return template


def http_base(value: str, example: str) -> str:
    """An absolute http(s) URL that paths are appended to, without its trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an absolute http(s) URL, e.g. {example}")
    return value.rstrip("/")


class Newsletter(_Strict):
    name: str = "Trending Papers"
    subject: str = DEFAULT_SUBJECT
    sender: str = Field("Trending Papers <papers@example.org>", alias="from")
    base_url: str = "https://papers.example.org"
    # A postal address in the footer is required for bulk mail in several countries.
    address: str | None = None
    reply_to: str | None = None
    # The issue's day for `fetch` and the archive, and the zone of every reader whose entry
    # (in the list, an import or a CSV row) names none.
    timezone: str = "UTC"
    # Each paper's thumbnail above its title. Off by default: images make a long email longer
    # and many clients block them until the reader allows it.
    thumbnails: bool = False
    # "More like this" / "less like this" under each paper: a reader's clicks teach their ranking.
    feedback: bool = True
    # A "Rising" section of up to this many papers from the days before the issue's that
    # gained the most upvotes since an earlier day (0: none). Daily issues only.
    rising: int = Field(0, ge=0, le=10)
    # Who hears about a run that failed or sent nothing (digest/jobs/watch.py): never a reader.
    operator: str | None = None

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        return check_subject(value)

    @field_validator("sender", "reply_to", "operator")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, addr = parseaddr(value)
        try:
            validate_email(addr, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not a mailbox like 'Name <you@example.org>': {exc}") from None
        return " ".join(value.split())

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_base(value, "https://papers.example.org")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class FileSource(_Strict):
    """Papers from a local file: JSON lines, or a saved Hugging Face daily_papers response."""

    kind: Literal["file"]
    path: Path
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or f"file:{self.path.name}"


# --- network sources (issue 3) --------------------------------------------------------------


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} must be an absolute http(s) URL, e.g. https://huggingface.co")
    return value.rstrip("/")


class _WebSource(_Strict):
    name: str | None = None  # how reports name the source; each kind has a default

    # On hf_daily, arxiv_rss and arxiv_api, `url` replaces only the scheme and host: the
    # standard paths are appended, so a mirror or a loopback test server can stand in.
    @field_validator("url", check_fields=False)
    @classmethod
    def _http(cls, value: str) -> str:
        return _base_url(value)


class HFDailySource(_WebSource):
    """Hugging Face Daily Papers: GET {url}/api/daily_papers?date=... (or week=, month=)."""

    kind: Literal["hf_daily"]
    url: str = "https://huggingface.co"
    period: Literal["day", "week", "month"] = "day"
    sort: Literal["trending", "publishedAt"] | None = None
    limit: int = Field(100, ge=1, le=100)  # papers per page; the API caps it at 100
    max_pages: int = Field(5, ge=1, le=50)
    # Look up the linked models, datasets and Spaces (GET /api/arxiv/{id}/repos) of this many
    # papers of each listing, the most upvoted first; 0: none. A failed look-up is a warning.
    repos: int = Field(0, ge=0, le=50)

    @property
    def label(self) -> str:
        return self.name or "hf_daily"


_ARXIV_CATEGORY = r"[a-z][a-z\-]*(\.[A-Za-z\-]+)?"


class ArxivRssSource(_WebSource):
    """The day's announcements on arXiv: GET {url}/rss/cat1+cat2."""

    kind: Literal["arxiv_rss"]
    url: str = "https://rss.arxiv.org"
    categories: list[str] = Field(min_length=1)
    # new: first announcement; cross: cross-listed from another category; replace: a new
    # version of an older paper, usually not news.
    announce_types: list[Literal["new", "cross", "replace", "replace-cross"]] = Field(
        default=["new", "cross"], min_length=1
    )

    @field_validator("categories")
    @classmethod
    def _arxiv_categories(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(_ARXIV_CATEGORY, value):
                raise ValueError(
                    f"{value!r} is not an arXiv category; write e.g. cs.LG, hep-th or astro-ph.CO"
                )
        return values

    @property
    def label(self) -> str:
        return self.name or "arxiv_rss:" + "+".join(self.categories)


class ArxivApiSource(_WebSource):
    """An arXiv API search: GET {url}/api/query?search_query=... (Atom)."""

    kind: Literal["arxiv_api"]
    url: str = "https://export.arxiv.org"
    query: str = Field(min_length=1)  # arXiv search_query syntax, e.g. "cat:cs.CL AND abs:retrieval"
    max_results: int = Field(100, ge=1, le=2000)
    sort_by: Literal["submittedDate", "lastUpdatedDate", "relevance"] = "submittedDate"
    sort_order: Literal["descending", "ascending"] = "descending"

    @property
    def label(self) -> str:
        return self.name or f"arxiv_api:{self.query}"


class FeedSource(_WebSource):
    """Any RSS or Atom feed; `url` is the feed itself. arXiv ids in links are recognised."""

    kind: Literal["feed"]
    url: str

    @property
    def label(self) -> str:
        return self.name or f"feed:{urlsplit(self.url).netloc}"


SourceConfig = Annotated[
    FileSource | HFDailySource | ArxivRssSource | ArxivApiSource | FeedSource,
    Field(discriminator="kind"),
]


class Fetch(_Strict):
    """How sources are fetched: limits for every HTTP request, and what an empty day means."""

    timeout: float = Field(20.0, gt=0, le=600)  # seconds one attempt may take, all in
    retries: int = Field(3, ge=0, le=10)  # on 429, 5xx, timeouts and dropped connections
    backoff: float = Field(1.0, ge=0, le=60)  # first wait in seconds; doubles, with jitter
    max_wait: float = Field(60.0, ge=0, le=3600)  # longest single wait, Retry-After included
    max_bytes: int = Field(20_000_000, ge=1024)  # per response, after decompression
    max_redirects: int = Field(5, ge=0, le=20)
    concurrency: int = Field(8, ge=1, le=64)  # sources fetched at once
    user_agent: str | None = None  # default: digest/<version>; add a contact address here
    # A day with no papers from any source (weekends on Hugging Face) either skips the
    # issue or reaches back for the last `lookback_days` days; readers never get a paper twice.
    empty_day: Literal["skip", "lookback"] = "skip"
    lookback_days: int = Field(3, ge=1, le=14)
    # One large or hostile source must not stop the day's digest: past these, the papers with
    # the strongest signals (upvotes, stars, comments), then the first listed, are kept.
    max_papers_per_source: int = Field(2000, ge=1, le=100_000)
    max_papers_per_issue: int = Field(3000, ge=1, le=100_000)


# --- delivery (issue 6) ----------------------------------------------------------------------

SMTP_PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"
# Mail providers' HTTP APIs (digest/delivery/providers.py), and the environment variables each needs:
# the key never goes in digest.yaml.
API_KEYS = {
    "ses": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "postmark": ("DIGEST_POSTMARK_TOKEN",),
    "mailgun": ("DIGEST_MAILGUN_API_KEY",),
    "sendgrid": ("DIGEST_SENDGRID_API_KEY",),
    "resend": ("DIGEST_RESEND_API_KEY",),
}
API_SCHEMES = tuple(API_KEYS)
# What each takes after "?", beside endpoint=URL (another host: a proxy, a test server).
API_OPTIONS = {
    "ses": ("configuration_set",),
    "postmark": ("stream",),
    "mailgun": ("region",),
    "sendgrid": ("region",),
    "resend": (),
}
# The APIs that rebuild the message from its fields, and sign it themselves.
UNSIGNED_APIS = ("postmark", "sendgrid", "resend")
DELIVERY_SCHEMES = ("smtp", "smtps", "file", "maildir", "console", *API_SCHEMES)
LOCAL_SCHEMES = ("file", "maildir", "console")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


class Dkim(_Strict):
    """DKIM signing of every message (needs the optional `dkim` extra: dkimpy)."""

    selector: str = Field(min_length=1)  # the DNS record is <selector>._domainkey.<domain>
    key_file: Path  # PEM private key (RSA or Ed25519); relative to the config file
    domain: str | None = None  # default: the domain of newsletter.from

    @field_validator("selector", "domain")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?", value):
            raise ValueError(f"{value!r} is not a DNS name")
        return value


class Delivery(_Strict):
    url: str = "file://outbox"
    concurrency: int = Field(4, ge=1, le=64)  # SMTP connections (or file writers) at once
    rate: float | None = Field(None, gt=0)  # at most this many messages per second, all connections
    connect_timeout: float = Field(10.0, gt=0, le=300)  # seconds to connect and get a greeting
    timeout: float = Field(60.0, gt=0, le=600)  # seconds for any one SMTP reply but the last
    # The reply to the end of a message: RFC 5321 (4.5.3.2.6) waits 10 minutes for it, and a
    # message whose reply never comes is counted uncertain, never sent again.
    final_reply_timeout: float = Field(600.0, gt=0, le=3600)
    # 4xx replies, dropped connections and timeouts: tries after the first, waiting `backoff`
    # seconds, then doubling (with jitter) up to `max_wait`.
    retries: int = Field(3, ge=0, le=10)
    backoff: float = Field(2.0, ge=0, le=600)
    max_wait: float = Field(60.0, ge=0, le=3600)
    # This many messages in a row not delivered (failed or bounced) stops the run: something
    # is wrong with the relay, not with the readers. A rerun resumes.
    error_threshold: int = Field(20, ge=1)
    # `send --due`: a slot is caught up at most this many hours late (digest/readers/due.py). At most
    # 12, so that two issues to one daily reader are always at least 12 hours apart.
    catch_up_hours: float = Field(12.0, ge=0, le=12)
    tls_verify: bool = True  # false only for a local relay with a self-signed certificate
    dkim: Dkim | None = None

    @model_validator(mode="after")
    def _dkim_is_ours_to_sign(self) -> Delivery:
        scheme = urlsplit(self.url).scheme
        if self.dkim is not None and scheme in UNSIGNED_APIS:
            raise ValueError(
                f"dkim: {scheme}:// builds the message from its fields and signs it with the domain "
                f"set up at the provider; remove delivery.dkim (it applies to smtp, ses and mailgun)"
            )
        return self

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in DELIVERY_SCHEMES:
            raise ValueError(
                f"delivery URL scheme {parts.scheme!r} is not supported; use smtp://HOST:PORT, "
                "smtps://HOST:465, file://DIR, maildir://DIR, console:// or a provider's API: "
                "ses://REGION, postmark://, mailgun://DOMAIN, sendgrid://, resend://"
            )
        if parts.scheme in API_SCHEMES:
            return _api_url(value)
        if parts.scheme in ("smtp", "smtps"):
            # First, and never echoing the URL: whatever follows "user:" may be a password,
            # and an error message ends up in logs and terminals.
            if _has_password(value):
                raise ValueError(
                    f"the password does not belong in the URL: remove it and set {SMTP_PASSWORD_ENV}"
                )
            if not parts.hostname:
                raise ValueError(f"{value!r} names no host; write e.g. smtp://user@mail.example.org:587")
            try:
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                raise ValueError(f"{value!r}: the port must be a number, e.g. :587") from None
        elif parts.scheme in ("file", "maildir") and not (parts.netloc + parts.path):
            raise ValueError(f"{value!r} names no folder; write e.g. {parts.scheme}://outbox")
        return value


def _api_url(value: str) -> str:
    """A provider's URL (digest/delivery/providers.py): its host part, and only the options it takes."""
    parts = urlsplit(value)
    scheme = parts.scheme
    if parts.username or parts.password:
        raise ValueError(f"no key in the URL: set {API_KEYS[scheme][0]} in the environment instead")
    host = parts.netloc
    if scheme == "ses" and not _AWS_REGION.fullmatch(host):
        raise ValueError(f"{value!r}: name the SES region, e.g. ses://eu-west-1")
    if scheme == "mailgun" and not re.fullmatch(
        r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,}", host
    ):
        raise ValueError(f"{value!r}: name the Mailgun sending domain, e.g. mailgun://mg.example.org")
    if scheme not in ("ses", "mailgun") and (host or parts.path.strip("/")):
        raise ValueError(f"{value!r}: write {scheme}:// with nothing before the options, e.g. {scheme}://")
    try:
        options = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"{value!r}: the options after '?' are not name=value pairs") from None
    known = ("endpoint", *API_OPTIONS[scheme])
    for name, values in options.items():
        if name not in known:
            raise ValueError(f"{value!r}: unknown option {name!r}; {scheme}:// takes {', '.join(known)}")
        if not values[-1]:
            raise ValueError(f"{value!r}: option {name!r} has no value")
    if "endpoint" in options:
        http_base(options["endpoint"][-1], "https://api.example.org")
    if "region" in options and options["region"][-1] not in ("us", "eu"):
        raise ValueError(f"{value!r}: region is us (the default) or eu")
    return value


def _has_password(url: str) -> bool:
    """Whether an smtp(s) URL carries a password: a colon in what comes before its last "@".
    Read by hand, since urlsplit ends the user part at a "/", "?" or "#" the password may
    hold, and then takes the password for a host and a port."""
    rest = url.partition("://")[2]
    userinfo, at, _ = rest.rpartition("@")
    return bool(at) and ":" in userinfo


class Ranking(_Strict):
    """How each reader's papers are chosen (formula in digest/issue/rank.py and the README)."""

    max_papers: int = Field(20, ge=1, le=100)
    # Weight of personal relevance against trending score, 0 (pure trending) to 1.
    relevance_weight: float = Field(0.6, ge=0, le=1)
    # Papers scoring below this are left out: a thin day makes a short digest, not a padded one.
    min_score: float = Field(0.1, ge=0, le=1)
    # A paper's trending score halves every this many hours after it was submitted.
    half_life_hours: float = Field(72.0, gt=0)
    # No theme takes more than this many of a reader's picks; 0 = no cap.
    max_per_theme: int = Field(6, ge=0, le=100)
    # A paper is never sent twice to a reader within this many days; 0 = ever.
    history_days: int = Field(365, ge=0)
    # How a paper is compared with a reader's own papers (library, "more / less like this"):
    # tfidf (words and word pairs, built in), or embeddings (the embeddings extra: wordllama).
    similarity: Literal["tfidf", "embeddings"] = "tfidf"

    @field_validator("similarity")
    @classmethod
    def _installed(cls, value: str) -> str:
        from .issue.embed import INSTALL, available

        if value == "embeddings" and not available():
            raise ValueError(f"embeddings needs the embeddings extra, which is not installed: {INSTALL}")
        return value


class Themes(_Strict):
    """How an issue's papers are grouped: the taxonomy and how many themes a day may have."""

    # Field packs whose themes readers follow as topics and that may name a day's groups:
    # ml, physics, maths, life, economics (grouping itself reads every pack either way).
    packs: list[str] = Field(default_factory=lambda: ["ml"], min_length=1)
    # Themes added to the packs' themes; one with a pack theme's key replaces that theme.
    custom: list[ThemeSpec] = Field(default_factory=list)
    # true: use only `custom`, not the built-in taxonomy.
    replace: bool = False
    max_themes: int = Field(7, ge=1, le=30)
    min_papers: int = Field(2, ge=1, le=20)

    @field_validator("packs")
    @classmethod
    def _known_packs(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in PACK_NAMES]
        if unknown:
            raise ValueError(
                f"unknown field pack(s) {', '.join(unknown)}; choose from {', '.join(PACK_NAMES)}"
            )
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def _something_to_use(self) -> Themes:
        if self.replace and not self.custom:
            raise ValueError("replace: true needs themes under custom:")
        keys = [t.key for t in self.custom]
        doubled = sorted({k for k in keys if keys.count(k) > 1})
        if doubled:
            raise ValueError(f"custom theme keys must be unique; repeated: {', '.join(doubled)}")
        return self


class Libraries(_Strict):
    """Readers' libraries (`library:` in their entry, `digest subscribe --library`, an upload on
    the preferences page): where entries that give only an arXiv id get their title and abstract."""

    arxiv_url: str = "https://export.arxiv.org"
    lookup: bool = True  # false: entries without a title and abstract are left out

    @field_validator("arxiv_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _base_url(value)


INBOX_PASSWORD_ENV = "DIGEST_INBOX_PASSWORD"


class Inbox(_Strict):
    """`digest inbox`: the mailbox bounces, complaints and mailto unsubscribes come back to.

    Each reader's messages go out with the envelope sender `address` plus a tag of theirs
    (VERP: bounces+3f2a...@example.org), and List-Unsubscribe's mailto is their own
    address+unsubscribe-<tag>:
    so the mailbox must take plus addresses (Postfix: recipient_delimiter = +; most hosted
    mail does)."""

    url: str  # imaps://user@host:993/INBOX, imap://user@host:143/INBOX (STARTTLS) or maildir://PATH
    address: str  # the mailbox's own address, e.g. bounces@example.org
    tls_verify: bool = True

    @field_validator("url")
    @classmethod
    def _inbox_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("imap", "imaps", "maildir"):
            raise ValueError(
                f"{value!r}: use imaps://user@host:993/INBOX, imap://user@host:143/INBOX or maildir://PATH"
            )
        if parts.password is not None:
            raise ValueError(
                f"the password does not belong in the URL: remove it and set {INBOX_PASSWORD_ENV}"
            )
        if parts.scheme != "maildir" and not (parts.hostname and parts.username):
            raise ValueError(
                f"{value!r} names no user or host; write e.g. imaps://bounces%40example.org@mail.example.org/INBOX"
            )
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not an address like bounces@example.org: {exc}") from None
        if "+" in value.split("@")[0]:
            raise ValueError(f"{value!r}: give the address without a +tag; digest adds its own")
        return value


class Webhooks(_Strict):
    """Mail providers' bounce and complaint notifications on `digest serve` (digest/inbox/webhooks.py).
    Postmark and Mailgun are on once their secret is in the environment; SES takes only the
    SNS topics listed here."""

    ses_topics: list[str] = Field(default_factory=list)  # arn:aws:sns:REGION:ACCOUNT:TOPIC

    @field_validator("ses_topics")
    @classmethod
    def _arns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"arn:aws(-[a-z]+)?:sns:[a-z0-9-]+:\d{12}:[\w-]+", value):
                raise ValueError(
                    f"{value!r} is not an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:ses-bounces"
                )
        return values


class Summaries(_Strict):
    """An OpenAI-compatible chat completions endpoint writing one-sentence TL;DRs for papers
    whose source gives no summary (digest/jobs/summaries.py). `url` is the API base, e.g.
    http://localhost:11434/v1 (Ollama) or http://localhost:8080/v1 (llama.cpp); without a
    trailing /v1 one is added. digest POSTs {url}/chat/completions."""

    url: str
    model: str = Field(min_length=1)
    api_key_env: str | None = None  # the environment variable holding a bearer key, never the key
    timeout: float = Field(20.0, gt=0, le=300)  # seconds one request may take
    deadline: float = Field(60.0, gt=0, le=600)  # seconds for all of an issue's requests
    concurrency: int = Field(4, ge=1, le=16)  # requests at once
    max_papers: int = Field(30, ge=1, le=500)  # papers per issue sent to it, most trending first

    @field_validator("url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.username or parts.password:
            raise ValueError("no credentials in the URL: name an environment variable in api_key_env")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: give the API base without a query, e.g. http://localhost:11434/v1")
        return http_base(value, "http://localhost:11434/v1")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(
                f"{value!r} is not an environment variable name such as SUMMARIES_API_KEY "
                "(the key itself never goes in digest.yaml)"
            )
        return value

    @property
    def endpoint(self) -> str:
        """Where the requests go: {url}/chat/completions, with /v1 added when missing."""
        base = self.url.removesuffix("/chat/completions")
        if not urlsplit(base).path.rstrip("/").endswith("/v1"):
            base += "/v1"
        return f"{base}/chat/completions"

    def api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        return key or None


# --- other channels (digest/delivery/channels.py) -----------------------------------------------------


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError(f"{value!r} is not an environment variable name (the secret itself never goes here)")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


class _Channel(_Strict):
    papers: int = Field(5, ge=1, le=20)  # the issue's most trending papers in the post


class SlackChannel(_Channel):
    """A Slack incoming webhook; its URL is a credential, read from `url_env`."""

    kind: Literal["slack"]
    url_env: EnvName = "DIGEST_SLACK_WEBHOOK_URL"


class DiscordChannel(_Channel):
    kind: Literal["discord"]
    url_env: EnvName = "DIGEST_DISCORD_WEBHOOK_URL"


class TelegramChannel(_Channel):
    """A Telegram bot's sendMessage to `chat_id` (a channel's @name, or a chat's number)."""

    kind: Literal["telegram"]
    chat_id: str = Field(min_length=1)
    token_env: EnvName = "DIGEST_TELEGRAM_BOT_TOKEN"
    api: str = "https://api.telegram.org"  # a base-URL override (a Bot API server of your own, tests)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("api")
    @classmethod
    def _api(cls, value: str) -> str:
        return http_base(value, "https://api.telegram.org")


Channel = Annotated[SlackChannel | DiscordChannel | TelegramChannel, Field(discriminator="kind")]


class Web(_Strict):
    """`digest serve`: how long a confirmation link lives and how often one may be asked for.

    The limits stop a script (or a stranger's form on another site) from using the list to
    mail-bomb an address: a third confirmation email to the same address within a day is not
    sent, and an address still gets the same "check your inbox" answer.
    """

    confirm_hours: int = Field(48, ge=1, le=24 * 30)
    confirmations_per_address_per_day: int = Field(3, ge=1, le=100)
    subscribes_per_ip_per_hour: int = Field(20, ge=1, le=10_000)


class Monitoring(_Strict):
    """The run history and the reports to `newsletter.operator` (digest/jobs/history.py, watch.py)."""

    keep_days: int = Field(90, ge=1, le=3650)  # runs kept in the history
    # A run that bounced or failed more than this share of the messages it tried is reported.
    fail_share: float = Field(0.1, gt=0, le=1)
    source_days: int = Field(3, ge=1, le=60)  # a source failing this many issue days in a row is reported
    # A short weekly summary to the operator on this day (mon ... sun), or none.
    weekly_summary: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None


class Config(_Strict):
    newsletter: Newsletter = Field(default_factory=Newsletter)
    sources: list[SourceConfig] = Field(min_length=1)
    fetch: Fetch = Field(default_factory=Fetch)
    # A YAML file (hand-edited; the default), or `database`: a table in the `state:` database.
    subscribers: str = "subscribers.yaml"
    # A SQLite file (default) or postgresql://user@host/db (digest/util/location.py).
    state: str = ".digest/state.db"
    delivery: Delivery = Field(default_factory=Delivery)
    templates: Path | None = None
    # The web archive (one page per issue, index.html, feed.xml); null turns it off.
    archive: Path | None = Path("archive")
    ranking: Ranking = Field(default_factory=Ranking)
    web: Web = Field(default_factory=Web)
    themes: Themes = Field(default_factory=Themes)
    libraries: Libraries = Field(default_factory=Libraries)
    inbox: Inbox | None = None
    summaries: Summaries | None = None  # TL;DRs from an OpenAI-compatible endpoint
    webhooks: Webhooks = Field(default_factory=Webhooks)
    # Slack, Discord, Telegram: a post per issue with its top papers (digest/delivery/channels.py).
    channels: list[Channel] = Field(default_factory=list)
    monitoring: Monitoring = Field(default_factory=Monitoring)

    # Set by load(), not by the file.
    path: Path = Field(DEFAULT_CONFIG, exclude=True)
    store: Location | None = Field(None, exclude=True)  # where `state:` (or DIGEST_STATE_URL) points
    list_path: Path | None = Field(None, exclude=True)  # the YAML list; None: `subscribers: database`
    delivery_where: str = Field("", exclude=True)  # file:line of delivery.url, for its problems

    @property
    def state_at(self) -> Location:
        """Where the database is; set by load(), so a Config built by hand has none yet."""
        if self.store is None:
            raise DigestError("no state location: load the configuration with digest.load_config(path)")
        return self.store

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        return check_location(value)

    @field_validator("subscribers")
    @classmethod
    def _subscribers(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("write a YAML file such as subscribers.yaml, or `database`")
        return value

    @model_validator(mode="after")
    def _labels_are_unique(self) -> Config:
        seen: set[str] = set()
        for source in self.sources:
            if source.label in seen:
                raise ValueError(
                    f"sources: two sources are both called {source.label!r} in reports; "
                    "give one of them a different `name:`"
                )
            seen.add(source.label)
        return self

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    @property
    def outbox(self) -> Path | None:
        parts = urlsplit(self.delivery.url)
        if parts.scheme != "file":
            return None
        return self.resolve(Path(parts.netloc + parts.path))

    def secret(self) -> str:
        secret = os.environ.get(SECRET_ENV)
        if secret:
            return check_secret(secret)
        if urlsplit(self.delivery.url).scheme in LOCAL_SCHEMES:
            return DEV_SECRET
        raise DigestError(
            f"{SECRET_ENV} is not set: links in emails are signed with it. "
            f"Set it to a long random string, e.g. {MAKE_SECRET}"
        )

    def check_smtp_login(self) -> None:
        """A delivery URL that names a user needs its password in the environment: said with
        the rest of the configuration (exit 2, under --dry-run too), not by the first message
        ("the server refuses us", exit 1, after the fetch and the claims)."""
        parts = urlsplit(self.delivery.url)
        if parts.scheme in ("smtp", "smtps") and parts.username and not os.environ.get(SMTP_PASSWORD_ENV):
            raise DigestError(
                f"{self.delivery_where or self.path}: delivery.url names user {unquote(parts.username)!r} "
                f"but {SMTP_PASSWORD_ENV} is not set: set it to that user's password, or take the user "
                "out of the URL for a relay that needs no login"
            )


def load(path: str | Path = DEFAULT_CONFIG) -> Config:
    path = Path(path)
    if not path.exists():
        raise DigestError(
            f"{path}: file not found; run digest in the folder that holds it, or give --config PATH"
        )
    doc = yamlfile.load(path)
    if not isinstance(doc.data, dict):
        raise DigestError(f"{path}: expected a mapping with newsletter:, sources:, ... at the top")
    if "path" in doc.data:
        raise DigestError(f"{doc.where(('path',))}: unknown field 'path'")
    try:
        config = Config.model_validate({**doc.data, "path": path})
    except ValidationError as exc:
        raise DigestError(yamlfile.validation_problems(doc, exc, Config)) from None
    for source in config.sources:
        if isinstance(source, FileSource):
            source.path = config.resolve(source.path)
    config.store = resolve_location(config.state, config.root)
    config.delivery_where = doc.where(("delivery", "url"))
    if config.subscribers != LIST_IN_DATABASE:
        config.list_path = config.resolve(Path(config.subscribers))
    if config.archive is not None:
        config.archive = config.resolve(config.archive)
    if config.delivery.dkim is not None:
        dkim = config.delivery.dkim
        dkim.key_file = config.resolve(dkim.key_file)
        if not dkim.key_file.is_file():
            where = doc.where(("delivery", "dkim", "key_file"))
            raise DigestError(f"{where}: delivery.dkim.key_file: {dkim.key_file} is not a file")
    if config.templates is not None:
        config.templates = config.resolve(config.templates)
        if not config.templates.is_dir():
            raise DigestError(f"{doc.where(('templates',))}: templates: {config.templates} is not a folder")
    return config
