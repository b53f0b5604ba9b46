"""`digest doctor`: a setup checked end to end before the first send, and again when
something seems wrong. Each check is one line, OK / WARN / FAIL, with what to do.

It never mails a reader: the delivery check logs in and quits, the unsubscribe check posts a
token for an address that cannot exist (tokens.DOCTOR_ADDRESS), and `--send-test` mails one
real issue to the address given, nobody else.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..delivery.dnscheck import Found
from ..errors import DigestError

if TYPE_CHECKING:
    from ..config import Config

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    says: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.level:<4}  {self.name:<12} {self.says}" + (f" -> {self.fix}" if self.fix else "")


def run(
    path: Path,
    *,
    now: datetime,
    nameserver: str | None = None,
    send_test: str | None = None,
    each: Callable[[Check], None] = lambda check: None,
) -> list[Check]:
    """Every check, each handed to `each` as it is done (a slow DNS server shows progress)."""
    if nameserver is not None:
        from ..delivery.dnscheck import host_port

        host_port(nameserver)  # a bad --nameserver is a usage error, said before any check runs
    done: list[Check] = []
    for check in _checks(path, now=now, nameserver=nameserver, send_test=send_test):
        done.append(check)
        each(check)
    return done


def _checks(path: Path, *, now: datetime, nameserver: str | None, send_test: str | None) -> Iterator[Check]:
    from ..config import load

    try:
        config = load(path)
    except DigestError as exc:
        yield Check("config", FAIL, "; ".join(exc.problems), "fix the file, then run digest doctor again")
        return
    yield Check(
        "config", OK, f"{path} is valid ({len(config.sources)} source(s), delivery {config.delivery.url})"
    )
    yield from secrets(config)
    yield state(config)
    yield from source_checks(config, now)
    yield delivery_login(config)
    yield from dns_checks(config, nameserver)
    yield from web_checks(config)
    if send_test:
        yield test_issue(config, send_test, now)


def secrets(config: Config) -> Iterator[Check]:
    from ..config import API_KEYS, INBOX_PASSWORD_ENV, LOCAL_SCHEMES, MAKE_SECRET, SECRET_ENV, check_secret

    scheme = urlsplit(config.delivery.url).scheme
    secret = os.environ.get(SECRET_ENV)
    if secret:
        try:
            check_secret(secret)
            yield Check("secret", OK, f"{SECRET_ENV} is set and long enough")
        except DigestError as exc:
            yield Check("secret", FAIL, exc.problems[0], MAKE_SECRET)
    elif scheme in LOCAL_SCHEMES:
        yield Check("secret", WARN, f"{SECRET_ENV} is not set: links use the development secret", MAKE_SECRET)
    else:
        yield Check("secret", FAIL, f"{SECRET_ENV} is not set: links in emails cannot be signed", MAKE_SECRET)
    try:
        config.check_smtp_login()
    except DigestError as exc:
        yield Check("password", FAIL, exc.problems[0])
    missing = [name for name in API_KEYS.get(scheme, ()) if not os.environ.get(name)]
    if missing:
        yield Check("api key", FAIL, f"{scheme}:// needs {', '.join(missing)}", "set it in the environment")
    if (
        config.inbox is not None
        and urlsplit(config.inbox.url).username
        and not os.environ.get(INBOX_PASSWORD_ENV)
    ):
        yield Check("inbox", FAIL, f"inbox.url names a user but {INBOX_PASSWORD_ENV} is not set", "set it")


def state(config: Config) -> Check:
    from ..store import open_database
    from ..store.schema import LATEST

    where = config.state_at
    if where.engine == "sqlite" and where.path is not None and not where.path.exists():
        return Check("state", OK, f"{where.path}: not there yet; the first send creates it")
    try:
        with open_database(where, check=False) as db:
            version = db.version_or_zero()
            if version != LATEST:
                return Check(
                    "state",
                    FAIL,
                    f"{db.where}: schema version {version} of {LATEST}",
                    "run `digest db upgrade`",
                )
            problems = db.integrity()
            if problems:
                return Check("state", FAIL, f"{db.where}: {problems[0]}", "restore it from a backup")
            return Check("state", OK, f"{db.where}: schema version {LATEST}, integrity ok")
    except DigestError as exc:
        return Check("state", FAIL, "; ".join(exc.problems))


def source_checks(config: Config, now: datetime) -> Iterator[Check]:
    from .. import sources
    from ..readers.due import local_date

    day = local_date(now, config.newsletter.timezone)
    for source in config.sources:
        collected = sources.collect([source], day=day, options=config.fetch)
        report = collected.reports[0]
        name = "source"
        if report.error:
            yield Check(name, FAIL, f"{report.label} ({day}): {report.error}", "check its url, or remove it")
        elif report.papers:
            yield Check(name, OK, f"{report.label}: {report.papers} papers for {day}")
        elif day.weekday() >= 5:
            yield Check(name, OK, f"{report.label}: no papers for {day}, a weekend")
        else:
            yield Check(name, WARN, f"{report.label}: answered, no papers for {day} (a holiday?)")


def delivery_login(config: Config) -> Check:
    from ..delivery.backends import DeliveryError, SmtpBackend, open_backend

    scheme = urlsplit(config.delivery.url).scheme
    if scheme in ("file", "maildir"):
        return Check("delivery", WARN, f"{scheme}:// writes files: no reader gets mail", "set delivery.url")
    if scheme == "console":
        return Check("delivery", WARN, "console:// prints messages: no reader gets mail", "set delivery.url")
    try:
        backend = open_backend(config.delivery, config.root)
    except DigestError as exc:
        return Check("delivery", FAIL, "; ".join(exc.problems))
    inner = getattr(backend, "inner", backend)  # under DKIM signing
    try:
        if isinstance(inner, SmtpBackend):
            return Check("delivery", OK, inner.check_login())
        from ..delivery.providers import ApiBackend

        if isinstance(inner, ApiBackend):
            return Check("delivery", OK, inner.check_key())
        return Check("delivery", WARN, f"{scheme}://: nothing to check")
    except DeliveryError as exc:
        return Check("delivery", FAIL, str(exc), _login_fix(str(exc)))
    finally:
        backend.close()


def _login_fix(error: str) -> str:
    from ..config import SMTP_PASSWORD_ENV

    if "login" in error:
        return f"check the user in delivery.url and {SMTP_PASSWORD_ENV}"
    if "(check " in error:
        return "the provider refuses the key: set the right one in the environment"
    if "connect" in error:
        return "check delivery.url's host and port, and that the relay is up"
    return "see the server's reply"


def dns_checks(config: Config, nameserver: str | None) -> Iterator[Check]:
    from ..compose.mail import domain_of
    from ..delivery import dnscheck

    domain = domain_of(config.newsletter.sender)
    try:
        lookup = dnscheck.Lookup(dnscheck.resolver(nameserver))
    except DigestError:
        raise  # a bad --nameserver is a usage error
    except Exception as exc:  # no resolv.conf, say
        yield Check("dns", FAIL, f"no DNS resolver: {exc}", "give --nameserver IP")
        return
    checks: list[tuple[str, Callable[[], Found]]] = [
        ("dns mx", lambda: dnscheck.check_mx(lookup, domain)),
        ("dns spf", lambda: dnscheck.check_spf(lookup, domain, config.delivery)),
        ("dns dmarc", lambda: dnscheck.check_dmarc(lookup, domain)),
        ("dns dkim", lambda: dnscheck.check_dkim(lookup, domain, config.delivery, config.newsletter.sender)),
    ]
    silent = ""  # after one timeout, the other questions would only wait as long again
    for name, check in checks:
        if silent:
            yield Check(name, FAIL, f"not asked: {silent}")
            continue
        try:
            found = check()
        except LookupError as exc:
            silent = str(exc)
            found = Found(FAIL, silent, "check --nameserver or the machine's DNS")
        yield Check(name, found.level, found.says, found.fix)


def web_checks(config: Config) -> Iterator[Check]:
    import httpx

    from ..compose import tokens
    from ..config import SECRET_ENV

    base = config.newsletter.base_url
    try:
        answer = httpx.get(f"{base}/", timeout=10.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        yield Check("base_url", FAIL, f"{base} does not answer: {exc}", "start `digest serve` behind it")
        return
    if answer.status_code >= 400:
        yield Check(
            "base_url", FAIL, f"{base}/ answers HTTP {answer.status_code}", "point it at `digest serve`"
        )
        return
    yield Check("base_url", OK, f"{base}/ answers HTTP {answer.status_code}")
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        yield Check("unsubscribe", WARN, f"not checked: {SECRET_ENV} is not set")
        return
    token = tokens.sign(secret, "unsubscribe", tokens.DOCTOR_ADDRESS)
    try:
        posted = httpx.post(
            f"{base}/unsubscribe",
            params={"token": token},
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        yield Check("unsubscribe", FAIL, f"POST {base}/unsubscribe: {exc}")
        return
    if posted.status_code != 200 or "digest doctor" not in posted.text:
        yield Check(
            "unsubscribe",
            FAIL,
            f"one-click unsubscribe answered HTTP {posted.status_code} to a test token",
            f"run `digest serve` there with the same {SECRET_ENV} as `digest send`",
        )
        return
    yield Check("unsubscribe", OK, f"POST {base}/unsubscribe takes a one-click token (RFC 8058)")


def test_issue(config: Config, address: str, now: datetime) -> Check:
    """One real issue, built for `address` (as listed, or with the defaults), mailed to it only."""
    from ..delivery.backends import DeliveryError, open_backend
    from . import preview

    try:
        message = preview.build(config, now=now, to=address).message
        backend = open_backend(config.delivery, config.root)
        try:
            where = backend.deliver(message.raw, message.envelope)
        finally:
            backend.close()
    except DigestError as exc:
        return Check("send-test", FAIL, f"could not build an issue for {address}: {'; '.join(exc.problems)}")
    except DeliveryError as exc:
        return Check("send-test", FAIL, f"could not mail {address}: {exc}", _login_fix(str(exc)))
    return Check("send-test", OK, f"one issue ({len(message.picks)} papers) mailed to {address} ({where})")
