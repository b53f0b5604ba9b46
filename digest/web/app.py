"""`digest serve`: subscribe, confirm, one-click unsubscribe, preferences, and the archive.

    GET  /subscribe                 the form          POST /subscribe      "check your inbox"
    GET  /confirm?token=...         a button          POST /confirm        activates
    GET  /unsubscribe?token=...     a button          POST /unsubscribe    unsubscribes (RFC 8058)
    GET  /preferences?token=...     the reader's form POST /preferences    saves
    GET  /issues, /issues/<id>, /issues/latest, /issues/feed.xml   the web archive (`archive:`)

Rules the routes keep:
- A GET never changes anything: mail scanners and link previewers follow every link in an
  email, so confirming and unsubscribing take a POST (a button, or the one-click POST mail
  providers send for `List-Unsubscribe-Post`). Nor does a HEAD, which Starlette answers on
  every GET route and link checkers send: only a POST changes state.
- POST /subscribe answers the same "check your inbox" page whether the address is new,
  pending, already active or over its limit: the form never tells who is on the list. An
  active reader signing up again (to change topics) is mailed their preferences link.
- Forms carry a CSRF token bound to a SameSite=Strict cookie, so another site cannot post
  them from a visitor's browser. Token links (confirm, unsubscribe, preferences) need no
  cookie: the signed token is the credential, and a one-click POST comes without cookies.
- A honeypot field that people never see, a limit per IP and a limit per address keep
  scripts from using the form to mail-bomb someone.
- Pages set `Referrer-Policy: no-referrer` (token URLs must not leak to other sites), a strict
  Content-Security-Policy and `frame-ancestors 'none'` (no clickjacking of the buttons). `Guard`
  gives every other response (archive, feed, static files, errors) the same protection.

Blocking work (the list, the database, delivery) runs in Starlette's thread pool; the
stores (digest/store) are opened once per process, with a connection per thread. A web
process imports no fetching or ranking code, so it stays small and starts fast; the renderer
comes in only for the confirmation email.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, available_timezones

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..compose import tokens
from ..compose.templating import checked, environment
from ..compose.tokens import LinkProblem
from ..config import Config
from ..errors import DigestError, cannot_listen
from ..jobs import optin
from ..models import FREQUENCIES
from ..readers import subscribers
from ..readers.due import describe, next_slot
from ..readers.subscribers import NotListed, Unsubscribe, Update
from ..store import open_stores
from ..util import output

log = logging.getLogger("digest.web")

CSRF_COOKIE = "digest_csrf"
HONEYPOT = "website"  # a field name bots like to fill
MAX_BODY = 64 * 1024  # every form here is a few hundred bytes
LIBRARY_BYTES = 2 * 1024 * 1024  # a library upload: a 1,000-paper BibTeX file with abstracts is ~1.5 MB
LIBRARY_WORKERS, LIBRARY_WAITING = 2, 4  # uploads read at once, and waiting; more are told to retry
BODY_CAPS = {"/preferences/library": LIBRARY_BYTES}
VOTES = {"more": 1, "less": -1}
ISSUE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,63}")
HOUR, DAY = 3600.0, 86400.0
FETCH_BYTES = 64_000  # an SNS certificate is ~2 KB, a subscription's confirmation less
CERT_KEEP, CERT_RETRY, CERT_URLS = 6 * HOUR, 0.25 * HOUR, 64  # SNS certificates: kept, failures, URLs

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# Every response gets these unless it sets its own (Guard), whichever route or error made it.
BASE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
# An archived issue is the email's HTML: inline styles and remote thumbnails, never a script.
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC = {"web.css": "text/css; charset=utf-8", "web.js": "text/javascript; charset=utf-8"}
FREQUENCY_LABELS = {
    "daily": "Every day",
    "weekdays": "Weekdays (Mon-Fri)",
    **{f: f"Weekly, on {d}" for f, d in zip(FREQUENCIES[2:], ("Monday", "Tuesday", "Wednesday",
       "Thursday", "Friday", "Saturday", "Sunday"), strict=True)},
    "monthly:1": "Monthly, on the 1st",
}  # fmt: skip


def frequency_choices(current: str | None) -> dict[str, str]:
    """The form's frequencies, with the reader's own when the list has none like it (a
    `monthly:15` written by hand): saving the page must not change it behind their back."""
    if current and current not in FREQUENCY_LABELS:
        return {**FREQUENCY_LABELS, current: f"Monthly, on day {current.partition(':')[2]}"}
    return FREQUENCY_LABELS


class Site:
    """Everything the routes share: config, secret, templates, topics, time zones."""

    def __init__(self, config: Config, secret: str, fetch: Callable[[str], bytes] | None = None):
        from ..issue.themes import configured

        self.config = config
        self.secret = secret
        self.stores = open_stores(config)
        self.fetch = fetch or _fetch  # the network, for SNS certificates and confirmations
        self._certificates: dict[str, tuple[float, bytes | str]] = {}  # url -> (until, pem or failure)
        self._certificates_lock = threading.Lock()
        self.library_pool = ThreadPoolExecutor(LIBRARY_WORKERS, thread_name_prefix="digest-library")
        self.library_slots = threading.BoundedSemaphore(LIBRARY_WORKERS + LIBRARY_WAITING)
        self.env = environment(config.templates, sub="web")
        for name in self.env.list_templates(extensions=["html"]):  # a broken page stops the start
            checked(self.env, name)
        self.topics = [(t.key, t.label, t.description) for t in configured(config.themes)]
        self.known = subscribers.known_topics(config)  # what the list may name in `topics`
        self.zones = sorted(
            z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))
        )
        self.zones.append("UTC")
        shipped = resources.files("digest.templates").joinpath("web")
        self.static = {name: shipped.joinpath(name).read_bytes() for name in STATIC}

    # --- responses ---------------------------------------------------------------------------

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(newsletter=self.config.newsletter.name, **context)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def message(self, title: str, text: str, status: int = 200, **extra: Any) -> HTMLResponse:
        return self.page("message.html", status, title=title, text=text, **extra)

    def links(self, email: str | None) -> list[tuple[str, str]]:
        """Where a page that reports something done leads on: the reader's preferences, the archive."""
        found = []
        if email is not None:
            token = tokens.sign(self.secret, "preferences", email)
            found.append(("Your preferences", f"/preferences?token={token}"))
        if self.config.archive is not None:
            found.append(("Past issues", "/issues"))
        return found

    def unavailable(self, exc: Exception) -> HTMLResponse:
        log.error("could not complete a request: %s", exc)
        return self.message(
            "Please try again later", "We could not complete this just now. Nothing was changed.", 503
        )

    # --- helpers ---------------------------------------------------------------------------

    def sns_certificate(self, url: str) -> bytes:
        """SNS's signing certificate at `url` (checked to be on an SNS host). The outcome of a
        fetch, a failure too, is kept for a while: a forged notification naming a dead host
        costs one outbound fetch per period, not one per request. The memory is bounded."""
        now = time.monotonic()
        with self._certificates_lock:
            kept = self._certificates.get(url)
        if kept is None or kept[0] <= now:
            try:
                outcome: bytes | str = self.fetch(url)
                until = now + CERT_KEEP
            except Exception as exc:
                outcome, until = f"{type(exc).__name__}: {exc}"[:200], now + CERT_RETRY
            kept = (until, outcome)
            with self._certificates_lock:
                self._certificates.pop(url, None)
                while len(self._certificates) >= CERT_URLS:
                    del self._certificates[next(iter(self._certificates))]  # the oldest
                self._certificates[url] = kept
        if isinstance(kept[1], str):
            raise LookupError(f"fetching the certificate failed, not tried again for a while ({kept[1]})")
        return kept[1]

    def hashed(self, value: str) -> str:
        """Rate-limit keys: an HMAC, so the state file holds no addresses or IPs."""
        return hmac.new(self.secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]

    def allow(self, bucket: str, value: str, *, window: float, limit: int) -> bool:
        return self.wait(bucket, value, window=window, limit=limit) is None

    def wait(self, bucket: str, value: str, *, window: float, limit: int) -> int | None:
        """None when the event is admitted (and counted), else whole seconds to wait."""
        seconds = self.stores.rates.admit(
            bucket, self.hashed(value), now=time.time(), window=window, limit=limit
        )
        return None if seconds is None else max(1, math.ceil(seconds))

    def csrf_pair(self, request: Request) -> tuple[str, str]:
        """(cookie value, form token): the form token is the cookie's nonce, signed."""
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_hex(16)
        return nonce, tokens.sign(self.secret, "csrf", nonce)

    def csrf_ok(self, request: Request, form: Any) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return False
        nonce = request.cookies.get(CSRF_COOKIE)
        signed = tokens.verify(self.secret, "csrf", str(form.get("csrf", "")))
        if not nonce or signed is None:
            return False
        return hmac.compare_digest(signed, nonce)

    def with_form(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce, token = self.csrf_pair(request)
        response = self.page(name, status, csrf=token, **context)
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    def form_context(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "topics": self.topics,
            "frequencies": frequency_choices(values.get("frequency")),
            "zones": self.zones,
            "values": values,
        }


def _token(request: Request, form: Any = None) -> str:
    return str(request.query_params.get("token") or (form.get("token") if form is not None else "") or "")


def _comma_list(form: Any, name: str) -> list[str]:
    return [w for w in (w.strip() for w in str(form.get(name, "")).split(",")) if w]


def _typed(form: Any) -> dict[str, str]:
    """The free-text fields as typed, to show again with a problem."""
    return {name: str(form.get(name, "")) for name in ("keywords", "follow")}


def _prefs(form: Any) -> dict[str, Any]:
    """Preferences from a submitted form, in the shape subscribers.yaml stores them."""
    prefs: dict[str, Any] = {
        "topics": [str(t) for t in form.getlist("topics")],
        "keywords": _comma_list(form, "keywords"),
        "organizations": _comma_list(form, "follow"),  # the labs they follow
    }
    for key in ("frequency", "send_at", "timezone"):
        if form.get(key):
            prefs[key] = str(form.get(key)).strip()
    return prefs


def _check(site: Site, email: str, prefs: dict[str, Any]) -> str | None:
    """What is wrong with a submitted form, in words for the person who filled it in."""
    try:
        subscribers.validated({**optin.defaults(site.config), **prefs, "email": email})
    except DigestError as exc:
        problem = exc.problems[0]
        if problem.startswith("email:"):
            return "Enter an email address like name@example.org."
        return problem.split(": ", 1)[-1]
    return "Pick topics from the list." if subscribers.unknown_topics(prefs["topics"], site.known) else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def client_key(host: str) -> str:
    """Who the per-IP sign-up limit counts: an IPv4 address, or an IPv6 /64. A home or a
    server gets a whole /64 and picks addresses in it at will, so counting IPv6 addresses one
    by one would give one client an unlimited supply."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # "unknown", or whatever a proxy put there
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# --- routes --------------------------------------------------------------------------------


async def subscribe_form(request: Request) -> Response:
    site: Site = request.app.state.site
    values = {"timezone": site.config.newsletter.timezone, "frequency": "daily", "send_at": "07:00"}
    return site.with_form(request, "subscribe.html", **site.form_context(values))


async def subscribe(request: Request) -> Response:
    site: Site = request.app.state.site
    form = await request.form(max_fields=100, max_files=0)
    if not site.csrf_ok(request, form):
        return site.message("This form has expired", "Reload the page and try again.", 403)
    ip = client_key(request.client.host if request.client else "unknown")
    limits = site.config.web
    wait = await run_in_threadpool(site.wait, "ip", ip, window=HOUR, limit=limits.subscribes_per_ip_per_hour)
    if wait is not None:
        refused = site.message(
            "Too many requests",
            f"Too many sign-ups from your network; try again in {_minutes(wait)}.",
            429,
        )
        refused.headers["Retry-After"] = str(wait)  # RFC 9110: seconds until a retry can succeed
        return refused

    done = site.message(
        "Check your inbox",
        "If this address can be subscribed, an email is on its way: a link to confirm a new "
        "subscription (nothing is sent until you open it), or, if the address already receives "
        "the digest, a link to change its preferences.",
    )
    if form.get(HONEYPOT):
        log.info("honeypot filled: ignored a sign-up")
        return done
    email = str(form.get("email", "")).strip()
    prefs = _prefs(form)
    if problem := _check(site, email, prefs):
        values = {**prefs, "email": email, **_typed(form)}
        return site.with_form(request, "subscribe.html", 400, error=problem, **site.form_context(values))
    allowed = await run_in_threadpool(
        site.allow, "address", email.lower(), window=DAY, limit=limits.confirmations_per_address_per_day
    )
    if not allowed:
        log.info("address over its daily limit: no confirmation sent")
        return done
    # After the answer is sent: the page must take as long for a listed address (nothing to
    # do) as for a new one (a list write and an email), or its timing would tell them apart.
    done.background = BackgroundTask(_request_confirmation, site, email, prefs)
    return done


def _minutes(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _request_confirmation(site: Site, email: str, prefs: dict[str, Any]) -> None:
    try:
        optin.request(site.config, site.stores.subscribers, email, prefs, now=_utcnow(), secret=site.secret)
    except Exception as exc:  # nobody is waiting on it: the log gets the reason
        log.error("sign-up not recorded: %s", exc)


async def confirm(request: Request) -> Response:
    site: Site = request.app.state.site
    form = await request.form(max_fields=10, max_files=0) if request.method == "POST" else None
    token = _token(request, form)
    verified = tokens.verify_expiring(site.secret, optin.PURPOSE, token, _utcnow())
    if verified.email is None:
        return _bad_link(site, verified.problem)
    if form is None:  # GET or HEAD: show the button, change nothing
        try:
            reader = await run_in_threadpool(site.stores.subscribers.find, verified.email)
        except Exception as exc:
            return site.unavailable(exc)
        if reader is not None and reader.status == "active":  # a link already used
            return site.message(
                "Already confirmed",
                f"{reader.email} already receives {site.config.newsletter.name} {describe(reader)}.",
                links=site.links(reader.email),
            )
        return site.page("confirm.html", email=verified.email, token=token)
    try:
        result = await run_in_threadpool(
            optin.confirm, site.config, site.stores.subscribers, token, now=_utcnow(), secret=site.secret
        )
    except Exception as exc:
        return site.unavailable(exc)
    if result.subscriber is None:
        return _bad_link(site, result.problem)
    reader = result.subscriber
    first = next_slot(reader, _utcnow()).at.astimezone(ZoneInfo(reader.timezone))
    return site.message(
        "You're subscribed",
        f"{reader.email} will receive {site.config.newsletter.name} {describe(reader)}. "
        f"The first issue arrives on {first:%A %d %B at %H:%M}.",
        links=site.links(reader.email),
    )


def _bad_link(site: Site, problem: LinkProblem | None) -> HTMLResponse:
    if problem is LinkProblem.EXPIRED:
        return site.message("This link has expired", "Subscribe again to get a fresh link.", 400, retry=True)
    if problem is LinkProblem.UNKNOWN:
        return site.message("Not on the list", "This address is no longer on the list.", 404, retry=True)
    if problem is LinkProblem.STALE:
        return site.message(
            "This link is from before you unsubscribed",
            "It no longer subscribes you. To receive the digest again, subscribe again for a fresh link.",
            400,
            retry=True,
        )
    if problem is LinkProblem.REFUSED:
        return site.message(
            "This address cannot be subscribed", "Mail to it has bounced. Contact the list's owner.", 400
        )
    return site.message(
        "This link is not valid", "It may have been cut or changed. Use the link from your email.", 400
    )


async def _signed(request: Request, purpose: str) -> tuple[Site, Any, str, str | None]:
    """The site, the posted form (None unless a POST), the token and the address it was signed for."""
    site: Site = request.app.state.site
    form = await request.form(max_fields=100, max_files=0) if request.method == "POST" else None
    token = _token(request, form)
    return site, form, token, tokens.verify(site.secret, purpose, token)


async def unsubscribe(request: Request) -> Response:
    site, form, token, email = await _signed(request, "unsubscribe")
    if email is None:
        return _bad_link(site, LinkProblem.INVALID)
    if form is None:  # GET or HEAD
        try:
            reader = await run_in_threadpool(site.stores.subscribers.find, email)
        except Exception as exc:
            return site.unavailable(exc)
        if reader is None or reader.status == "unsubscribed":  # e.g. after a one-click unsubscribe
            return _unsubscribed(site, email)
        return site.page("unsubscribe.html", email=email, token=token)
    if email == tokens.DOCTOR_ADDRESS:  # `digest doctor`'s check: the endpoint works, nobody leaves
        return site.message("One-click unsubscribe works", "This was digest doctor's test: nothing changed.")
    # RFC 8058: the mail provider POSTs `List-Unsubscribe=One-Click` to the URL from the header,
    # without cookies. The button below the GET page posts the same URL. Both just need the token.
    try:
        await run_in_threadpool(lambda: site.stores.subscribers.apply(email, Unsubscribe(), now=_utcnow()))
    except NotListed:
        return site.message("You are unsubscribed", f"{email} is not on the list.", retry=True)
    except Exception as exc:
        return site.unavailable(exc)
    return _unsubscribed(site, email)


def _unsubscribed(site: Site, email: str) -> HTMLResponse:
    """The page after an unsubscribe, and what its link shows from then on: the subscribe
    form is the way back (a fresh confirmation, since consent was withdrawn)."""
    return site.message(
        "You are unsubscribed",
        f"{email} does not receive {site.config.newsletter.name} any more. "
        "To receive it again, subscribe again.",
        retry=True,
        links=site.links(None),
    )


async def preferences(request: Request) -> Response:
    site, form, token, email = await _signed(request, "preferences")
    if email is None:
        return _bad_link(site, LinkProblem.INVALID)
    try:
        reader = await run_in_threadpool(site.stores.subscribers.find, email)
    except Exception as exc:
        return site.unavailable(exc)
    if reader is None:
        return _bad_link(site, LinkProblem.UNKNOWN)
    unsubscribe_url = f"/unsubscribe?token={tokens.sign(site.secret, 'unsubscribe', email)}"
    context: dict[str, Any] = {
        "email": email,
        "token": token,
        "unsubscribe_url": unsubscribe_url,
        "reader_status": reader.status,
        "library_size": len(await run_in_threadpool(site.stores.own_papers.library, email)),
    }
    if form is None:
        context["feed_url"] = await run_in_threadpool(_reader_feed_url, site, email, False)
        values = reader.model_dump()
        values["topics"] = [site.known.get(t.casefold(), t) for t in reader.topics]  # labels -> keys
        values["keywords"] = ", ".join(reader.keywords)
        values["follow"] = ", ".join(reader.organizations)
        return site.with_form(request, "preferences.html", **context, **site.form_context(values))
    if not site.csrf_ok(request, form):
        return site.message("This form has expired", "Reload the page and try again.", 403)
    prefs = _prefs(form)
    if problem := _check(site, email, prefs):
        values = {**prefs, **_typed(form)}
        return site.with_form(
            request, "preferences.html", 400, error=problem, **context, **site.form_context(values)
        )
    try:
        change = await run_in_threadpool(
            lambda: site.stores.subscribers.apply(email, Update(prefs), now=_utcnow())
        )
    except NotListed:
        return _bad_link(site, LinkProblem.UNKNOWN)
    except Exception as exc:
        return site.unavailable(exc)
    if change.after is None:  # removed between the page and the save
        return _bad_link(site, LinkProblem.UNKNOWN)
    return site.message(
        "Preferences saved",
        f"{email} will receive the digest {describe(change.after)}.",
        links=site.links(email),
    )


async def _preferences_post(request: Request, max_files: int) -> tuple[Site, Any, str] | Response:
    """A form posted from the preferences page: (site, form, address), or the page refusing it."""
    site: Site = request.app.state.site
    form = await request.form(max_fields=10, max_files=max_files)
    email = tokens.verify(site.secret, "preferences", _token(request, form))
    if email is None:
        return _bad_link(site, LinkProblem.INVALID)
    if not site.csrf_ok(request, form):
        return site.message("This form has expired", "Reload the page and try again.", 403)
    return site, form, email


async def library_upload(request: Request) -> Response:
    """POST /preferences/library: the reader's library file, from the preferences page."""
    posted = await _preferences_post(request, max_files=1)
    if isinstance(posted, Response):
        return posted
    site, form, email = posted
    upload = form.get("library")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return site.message("No file", "Choose a library file to upload, then press Upload.", 400)
    if not site.library_slots.acquire(blocking=False):
        return site.message(
            "Busy just now", "Many libraries are being read at the moment. Try again in a minute.", 503
        )
    try:
        data = await upload.read()
        # Its own few threads, never the pool that answers unsubscribes and confirmations:
        # uploads that parse or look up slowly wait for each other, not for everyone else.
        work = site.library_pool.submit(_store_library, site, email, upload.filename, data)
        found = await asyncio.wrap_future(work)
    except DigestError as exc:
        return site.message("This file cannot be used", exc.problems[0].split(": ", 1)[-1], 400)
    except Exception as exc:
        return site.unavailable(exc)
    finally:
        site.library_slots.release()
    left_out = f" {found[1]} could not be used." if found[1] else ""
    return site.message(
        "Library saved",
        f"{found[0]} papers: your digest now leans towards papers like them.{left_out}",
        links=site.links(email),
    )


async def reader_feed_renew(request: Request) -> Response:
    """POST /preferences/feed: a new address for the reader's private feed; the old one stops."""
    posted = await _preferences_post(request, max_files=0)
    if isinstance(posted, Response):
        return posted
    site, _, email = posted
    try:
        url = await run_in_threadpool(_reader_feed_url, site, email, True)
    except Exception as exc:
        return site.unavailable(exc)
    return site.message(
        "New feed address", "The old address no longer works. Give your feed reader this one:", feed_url=url
    )


async def reader_feed(request: Request) -> Response:
    """GET /feeds/reader.xml?token=...: the reader's own issues, as Atom."""
    from . import reader_feed as feeds

    site: Site = request.app.state.site
    token = str(request.query_params.get("token") or "")
    try:
        email = await run_in_threadpool(feeds.reader_of, site.stores.reader_feeds, site.secret, token)
        if email is None:
            return PlainTextResponse(
                "This feed address is not valid (any more): "
                "copy the current one from your preferences page.\n",
                status_code=404,
            )
        news = site.config.newsletter
        self_url = f"{news.base_url}{feeds.PATH}?token={quote(token)}"
        body = await run_in_threadpool(
            feeds.feed, site.stores.reader_feeds, email, self_url, base_url=news.base_url, name=news.name
        )
    except Exception as exc:
        return site.unavailable(exc)
    return Response(
        body, media_type="application/atom+xml; charset=utf-8", headers={"Cache-Control": "private, no-cache"}
    )


def _reader_feed_url(site: Site, email: str, renew: bool) -> str:
    from . import reader_feed as feeds

    key = site.stores.reader_feeds.feed_key(email, renew=renew)
    return feeds.feed_url(site.config.newsletter.base_url, site.secret, email, key)


def _web_url(url: str | None) -> str | None:
    """A paper's link as the page may show it: absolute http(s) only (no javascript:, data:)."""
    return url if url and urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


def _store_library(site: Site, email: str, filename: str, data: bytes) -> tuple[int, int]:
    """(papers kept, papers left out). Entries that give only an arXiv id are looked up."""
    from ..issue import library
    from ..jobs.profiles import arxiv_lookup, complete

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DigestError(f"{filename}: not UTF-8 text; export the library as UTF-8") from None
    found = library.parse(text, Path(filename).name, Path(filename).suffix.lower())
    lookup, close = arxiv_lookup(site.config)
    problems: list[str] = []
    try:
        done = complete(found, Path(filename).name, site.stores.own_papers, lookup, False, problems)
    finally:
        close()
    if not done.entries:
        raise DigestError(f"{filename}: no paper in it could be used; give BibTeX, a Zotero CSV or arXiv ids")
    n = site.stores.own_papers.set_library(email, ((e.id, e.title, e.abstract) for e in done.entries))
    return n, len(problems)


async def feedback(request: Request) -> Response:
    """The "more / less like this" links under each paper of a digest. A GET (or HEAD) shows
    the paper and asks; only the POST of its button counts, so a mail scanner following every
    link of an email changes nobody's profile."""
    site: Site = request.app.state.site
    form = await request.form(max_fields=10, max_files=0) if request.method == "POST" else None
    token = _token(request, form)
    found = tokens.verify_feedback(site.secret, token)
    if found is None:
        return _bad_link(site, LinkProblem.INVALID)
    email, paper_id = found
    vote = str((form.get("vote") if form is not None else request.query_params.get("vote")) or "")
    try:
        paper = await run_in_threadpool(site.stores.own_papers.paper, paper_id)
    except Exception as exc:
        return site.unavailable(exc)
    title, url = (paper[0], _web_url(paper[2])) if paper else (None, None)
    if form is None:
        shown = vote if vote in VOTES else "more"
        return site.page("feedback.html", email=email, token=token, vote=shown, title=title, url=url)
    if vote not in VOTES:
        return site.message("Choose more or less", "Use the buttons on the page the email's link opens.", 400)
    if paper is None:
        return site.message("Not found", "This paper is no longer known here; nothing was changed.", 404)
    try:
        await run_in_threadpool(site.stores.own_papers.record_feedback, email, paper_id, VOTES[vote])
    except Exception as exc:
        return site.unavailable(exc)
    more = "more" if VOTES[vote] > 0 else "fewer"
    return site.message(
        "Thank you", f"Your next digests will have {more} papers like “{title}”.", links=site.links(email)
    )


async def webhook(request: Request) -> Response:
    """POST /webhooks/{postmark,mailgun,ses}: a provider's bounce and complaint notifications,
    checked as their provider signs them (digest/inbox/webhooks.py) and applied by the list's rules."""
    from ..inbox import webhooks
    from ..jobs import bounces

    site: Site = request.app.state.site
    provider = request.path_params["provider"]
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        return PlainTextResponse("not JSON", status_code=400)
    if not isinstance(body, dict):
        return PlainTextResponse("expected a JSON object", status_code=400)
    try:
        if provider == "postmark" and (credentials := os.environ.get(webhooks.POSTMARK_ENV)):
            verified = webhooks.postmark(body, request.headers.get("authorization"), credentials)
        elif provider == "mailgun" and (key := os.environ.get(webhooks.MAILGUN_ENV)):
            verified = webhooks.mailgun(body, key, time.time())
            if verified.token and not await run_in_threadpool(
                site.allow, "mailgun-token", verified.token, window=DAY, limit=1
            ):
                raise webhooks.Refused("a token already used (a replay)")
        elif provider == "ses" and site.config.webhooks.ses_topics:
            verified = await run_in_threadpool(
                webhooks.ses, body, site.config.webhooks.ses_topics, site.sns_certificate
            )
        else:
            return site.message("Not found", "There is nothing here.", 404)
    except webhooks.Refused as exc:
        log.warning("webhook %s refused: %s", provider, exc)
        return PlainTextResponse("refused", status_code=403)
    try:
        if verified.subscribe_url:
            await run_in_threadpool(site.fetch, verified.subscribe_url)  # confirms the SNS subscription
        await run_in_threadpool(lambda: bounces.apply(site.stores, verified.found, now=_utcnow()))
    except Exception as exc:
        log.error("webhook %s not applied: %s", provider, exc)
        return PlainTextResponse("try again later", status_code=503)  # the provider retries
    for found in verified.found:
        log.info("webhook %s: %s %s", provider, found.kind, "(an address)" if found.email else "")
    return PlainTextResponse("ok")


# --- the archive (written by the send side; served here as files) ---------------------------


def _archive_file(site: Site, name: str, media_type: str) -> Response:
    if site.config.archive is None:
        return site.message("No archive", "This newsletter keeps no web archive.", 404, retry=True)
    path = site.config.archive / name
    if not path.is_file():
        return site.message(
            "Not in the archive", "There is no such issue in the archive yet.", 404, retry=True
        )
    headers = {"Content-Security-Policy": ARCHIVE_CSP} if media_type.startswith("text/html") else {}
    return FileResponse(path, media_type=media_type, headers=headers)


async def issue_page(request: Request) -> Response:
    site: Site = request.app.state.site
    issue_id = request.path_params["issue"].removesuffix(".html")
    if issue_id == "latest" and site.config.archive is not None:
        latest = sorted(p.stem for p in site.config.archive.glob("*.html") if p.stem != "index")
        if not latest:
            return site.message("No issues yet", "The first issue has not been published.", 404)
        issue_id = latest[-1]
    if not ISSUE_ID.fullmatch(issue_id):
        return site.message("Not in the archive", "There is no such issue in the archive.", 404)
    return _archive_file(site, f"{issue_id}.html", "text/html; charset=utf-8")


async def index(request: Request) -> Response:
    return _archive_file(request.app.state.site, "index.html", "text/html; charset=utf-8")


async def home(request: Request) -> Response:
    site: Site = request.app.state.site
    if site.config.archive is not None and (site.config.archive / "index.html").is_file():
        return await index(request)
    return RedirectResponse("/subscribe", status_code=303)


async def feed(request: Request) -> Response:
    return _archive_file(request.app.state.site, "feed.xml", "application/atom+xml; charset=utf-8")


async def static(request: Request) -> Response:
    site: Site = request.app.state.site
    name = request.path_params["name"]
    if name not in STATIC:
        return site.message("Not found", "There is nothing here.", 404)
    return Response(site.static[name], media_type=STATIC[name], headers={"Cache-Control": "max-age=3600"})


async def health(request: Request) -> Response:
    """Up, and the database answers: what a load balancer or an uptime check asks."""
    site: Site = request.app.state.site
    try:
        await run_in_threadpool(site.stores.database.one, "SELECT 1")
    except Exception as exc:
        log.error("healthz: the database does not answer: %s", exc)
        return PlainTextResponse("database unreachable\n", status_code=503)
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    """Prometheus's text format, behind a bearer token from the environment (never YAML);
    without the variable set, there is no /metrics."""
    from .metrics import TOKEN_ENV

    token = os.environ.get(TOKEN_ENV)
    site: Site = request.app.state.site
    if not token:
        return await not_found(request, Exception())
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return PlainTextResponse(
            "a bearer token is needed\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    from .metrics import exposition

    try:
        body, content_type = await run_in_threadpool(exposition, site.stores)
    except Exception as exc:
        log.error("metrics: %s", exc)
        return PlainTextResponse("database unreachable\n", status_code=503)
    return Response(body, media_type=content_type)


async def not_found(request: Request, exc: Exception) -> Response:
    site: Site = request.app.state.site
    return site.message("Not found", "There is nothing here.", 404)


class Guard:
    """Outermost layer: caps request bodies, gives every response the protective headers
    (BASE_HEADERS) it does not set itself, and logs each request without its query string
    (tokens live there; uvicorn's own access log, which prints them, is switched off)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def guarded_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                given = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in BASE_HEADERS.items()]
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in given)]
            await send(message)

        try:
            body = await self._body(scope, receive, BODY_CAPS.get(scope["path"], self.max_body))
        except _ClientGone:  # nobody is left to answer, and half a form is no form
            return
        if body is None:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, guarded_send)
        else:
            await self.app(scope, _replay(body, receive), guarded_send)
        log.info("%s %s %s", scope["method"], scope["path"], status)

    async def _body(self, scope: Scope, receive: Receive, cap: int) -> bytes | None:
        """The whole request body, or None when it is over the cap. Read here, before any
        route sees it: a chunked body declares no length, and one that outgrows the cap
        half-way through a form parse could only end in an error."""
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > cap:
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)


class _ClientGone(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body read by Guard, then the client's own messages (a
    disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _fetch(url: str) -> bytes:
    import httpx

    from ..util import capped

    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        response, cut = capped.get(client, url, FETCH_BYTES, 10.0)
    response.raise_for_status()
    if cut:
        raise ValueError(f"{url}: the answer is over {FETCH_BYTES // 1000} KB")
    return response.content


def create_app(config: Config, secret: str, fetch: Callable[[str], bytes] | None = None) -> ASGIApp:
    routes = [
        Route("/", home),
        Route("/subscribe", subscribe_form, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm", confirm, methods=["GET", "POST"]),
        Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
        Route("/preferences", preferences, methods=["GET", "POST"]),
        Route("/preferences/library", library_upload, methods=["POST"]),
        Route("/preferences/feed", reader_feed_renew, methods=["POST"]),
        Route("/feeds/reader.xml", reader_feed, methods=["GET"]),
        Route("/feedback", feedback, methods=["GET", "POST"]),
        Route("/webhooks/{provider}", webhook, methods=["POST"]),
        # The archive's own links (digest/jobs/archive.py): {base_url}/issues, /issues/feed.xml,
        # /issues/<id>; the short forms are for people typing addresses.
        Route("/issues", index),
        Route("/issues/", index),
        Route("/issues/feed.xml", feed),
        Route("/feed.xml", feed),
        Route("/issues/{issue}", issue_page),
        Route("/{issue:str}.html", issue_page),
        Route("/static/{name}", static),
        Route("/healthz", health),
        Route("/metrics", metrics),
    ]
    site = Site(config, secret, fetch)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        site.library_pool.shutdown(wait=False, cancel_futures=True)
        site.stores.close()

    app = Starlette(routes=routes, exception_handlers={404: not_found}, lifespan=lifespan)
    app.state.site = site
    return Guard(app)


def serve(config: Config, secret: str, *, host: str, port: int) -> None:
    import uvicorn

    # Bind here rather than in uvicorn, which exits with its own code on a taken port.
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
    output.configure_logging("%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = uvicorn.Config(
        create_app(config, secret),
        host=host,
        port=port,
        access_log=False,
        server_header=False,
        log_level="info",
    )
    # uvicorn names the address only when it binds the socket itself.
    shown = f"[{host}]" if ":" in host else host
    print(f"serving on http://{shown}:{listening.getsockname()[1]}/ (Ctrl-C to stop)", flush=True)
    with listening:
        uvicorn.Server(settings).run(sockets=[listening])
