"""What digest prints and logs, with every configured secret taken out, whatever its source.

An error page that repeats the request path (Telegram's, with the bot token in it), an httpx
log line with a webhook URL, a traceback holding a database URL: a secret can reach the
output from anywhere, so it is taken out at the one place all output passes through, not
where each message is made. `redacting()` wraps stdout and stderr (what `print`, warnings,
tracebacks and logging handlers write) and the logging record factory (for a handler that
writes elsewhere), for the length of one command.

Which values are secrets: every environment variable whose name says so (SECRET, PASSWORD,
TOKEN, KEY, WEBHOOK, ...), the variables the configuration names (`url_env`, `token_env`,
`api_key_env`: any field ending in `_env`), and the password of any URL in the environment
(a database URL). A URL-valued secret (a webhook) is also taken out by its path and query,
and each value in its percent-encoded form too, as an HTTP log line shows it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import quote, unquote, urlsplit

MASK = "[redacted]"
SECRET_NAME = re.compile(r"SECRET|PASSW|TOKEN|KEY|WEBHOOK|CREDENTIAL|AUTH|SIGNING", re.IGNORECASE)
MIN_CHARS = 6  # shorter values are too common in ordinary text to take out
# Libraries that log a request's URL (a webhook's secret path, a bot token) or a job's
# arguments at INFO: their INFO lines never reach the journal.
QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "uvicorn.access", "hpack", "urllib3", "asyncio")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for value in secrets:
            self.secrets.update(v for v in _forms(value.strip()) if len(v) >= MIN_CHARS)
        if self.secrets:  # the longest first, so a URL goes whole before its path
            ordered = sorted(self.secrets, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        return self.pattern.sub(MASK, text) if self.pattern is not None and text else text


def _forms(value: str) -> Iterator[str]:
    """A secret as it may appear: itself, percent-encoded or decoded, and for a URL its
    password, its path and its query (an error page may repeat only the path)."""
    yield from {value, quote(value, safe=""), quote(value, safe="/:"), unquote(value)}
    if "://" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return
        if password:
            yield password
            yield unquote(password)
        if len(parts.path.strip("/")) >= MIN_CHARS:
            yield parts.path
        if parts.query:
            yield parts.query


def from_environment(environ: Mapping[str, str], names: Iterable[str] = ()) -> list[str]:
    """The secrets in the environment: by their variable's name, by the names the
    configuration gives, and the password of any URL."""
    wanted = set(names)
    found = []
    for name, value in environ.items():
        if name in wanted or SECRET_NAME.search(name):
            found.append(value)
        elif "://" in value and "@" in value:
            try:
                password = urlsplit(value.strip()).password
            except ValueError:
                continue
            if password:
                found += [password, unquote(password)]
    return found


def env_names(section: Any) -> set[str]:
    """Every environment variable a configuration (or a part of it) names in an `*_env` field."""
    found: set[str] = set()
    fields = getattr(type(section), "model_fields", None)
    if fields is None:
        if isinstance(section, list | tuple):
            for item in section:
                found |= env_names(item)
        return found
    for name in fields:
        value = getattr(section, name, None)
        if name.endswith("_env") and isinstance(value, str):
            found.add(value)
        else:
            found |= env_names(value)
    return found


class RedactingStream:
    """A text stream that writes through `redact`; everything else is the stream's own."""

    def __init__(self, stream: TextIO, redact: Redactor):
        self.stream, self.redact = stream, redact

    def write(self, text: str) -> int:
        self.stream.write(self.redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


_active: Redactor | None = None


def active() -> Redactor:
    """The running command's redactor (one that changes nothing outside a command)."""
    return _active or Redactor()


def protect(config: Any) -> None:
    """Add the secrets a loaded configuration names (its `*_env` variables) to the redaction."""
    if _active is not None:
        _active.add(from_environment({n: os.environ[n] for n in env_names(config) if n in os.environ}))


@contextmanager
def redacting(environ: Mapping[str, str] | None = None) -> Iterator[Redactor]:
    global _active
    redact = Redactor(from_environment(os.environ if environ is None else environ))
    saved = (sys.stdout, sys.stderr, logging.getLogRecordFactory(), _active)
    make_record = saved[2]

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        made = make_record(*args, **kwargs)
        try:
            message = made.getMessage()
        except (TypeError, ValueError):  # logging reports a bad format when it emits
            return made
        cleaned = redact(message)
        if cleaned != message:
            made.msg, made.args = cleaned, None
        return made

    sys.stdout = RedactingStream(sys.stdout, redact)
    sys.stderr = RedactingStream(sys.stderr, redact)
    logging.setLogRecordFactory(record)
    _active = redact
    try:
        yield redact
    finally:
        sys.stdout, sys.stderr, _, _active = saved
        logging.setLogRecordFactory(saved[2])


def configure_logging(fmt: str, stream: TextIO | None = None) -> None:
    """Log digest's INFO lines to `stream` (stderr by default), libraries' from WARNING."""
    logging.basicConfig(level=logging.INFO, format=fmt, stream=stream or sys.stderr, force=True)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
