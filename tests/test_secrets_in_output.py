"""No configured secret appears in anything digest prints or logs, whatever its source: a
channel's error page that repeats the request path (Telegram's, with the bot token in it),
httpx's request lines in `digest schedule`'s log, an error, a warning. Every command runs with
every kind of secret configured, and its output is searched for each."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from digest.util.output import MASK, Redactor

from .helpers_http import ReplayServer, Reply
from .helpers_smtp import NOW, write_project
from .helpers_web import serving, wait_for

TOKEN = "918273:AAFq7Zr2Lx9WvB4nKp0sTyU6eHcM3dJgQw"
SLACK_PART = "T0A1B2C3/B4D5E6F7/Xq9Lm2Nb7Vc4Zx8Kw3Jh6Gf1"
DISCORD_PART = "1234567890/pW8xK2mN5qR9tV3yZ6bC1dF4gH7jL0"
CHANNELS = """channels:
  - kind: slack
    url_env: TEAM_CHAT
  - kind: discord
  - kind: telegram
    chat_id: "@trending_papers"
    api: {api}
inbox:
  url: maildir://mail
  address: bounces@example.org
"""


@pytest.fixture
def secrets(monkeypatch) -> dict[str, str]:
    """Every kind of secret digest reads, set; the channels' ones point at `chat`."""
    values = {
        "DIGEST_SECRET": "Vb7-kQ2xZp9LmR4tW8yN3cF6hJ1dG5sA0eU",
        "DIGEST_SMTP_PASSWORD": "smtp-Pw-4Rt9Qz2Lk7",
        "DIGEST_INBOX_PASSWORD": "imap-Pw-8Hy3Nc6Vb1",
        "PGPASSWORD": "pg-Pw-5Tg2Wq9Ej4",
        "DIGEST_POSTMARK_WEBHOOK": "digest:pm-Pw-3Ks8Dx1Zf6",
        "DIGEST_MAILGUN_SIGNING_KEY": "key-mg-7Yu2Io9Pa4Sd1Fg",
        "DIGEST_TELEGRAM_BOT_TOKEN": TOKEN,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def chat(monkeypatch, secrets):
    """Slack and Discord take the post; Telegram answers with an error page that repeats the
    request path, bot token and all, as its front end does for a path it does not know."""
    with ReplayServer() as server:
        server.routes[f"/slack/{SLACK_PART}"] = Reply(b"ok", 200, "text/plain")
        server.routes[f"/api/webhooks/{DISCORD_PART}"] = Reply(b"", 204, "text/plain")
        page = f"<html><body>404 Not Found: /bot{TOKEN}/sendMessage</body></html>".encode()
        server.routes[f"/bot{TOKEN}/sendMessage"] = Reply(page, 404, "text/html")
        monkeypatch.setenv("TEAM_CHAT", f"{server.url}/slack/{SLACK_PART}")  # a name of the user's
        monkeypatch.setenv("DIGEST_DISCORD_WEBHOOK_URL", f"{server.url}/api/webhooks/{DISCORD_PART}")
        secrets["TEAM_CHAT"] = f"{server.url}/slack/{SLACK_PART}"
        secrets["DIGEST_DISCORD_WEBHOOK_URL"] = f"{server.url}/api/webhooks/{DISCORD_PART}"
        yield server


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """The secrets (or the secret parts of the webhook URLs), as they are or percent-encoded,
    found in `text`: names only, never the values."""
    found = []
    for name, value in secrets.items():
        parts = [value, value.rsplit("/", 1)[-1], value.partition(":")[2] or value]
        if any(p and (p in text or quote(p, safe="") in text) for p in parts):
            found.append(name)
    return found


def _project(root: Path, chat: ReplayServer) -> list[str]:
    emails = write_project(root, url="file://outbox", readers=2)
    with (root / "digest.yaml").open("a") as config:
        config.write(CHANNELS.format(api=chat.url))
    for sub in ("new", "cur", "tmp"):
        (root / "mail" / sub).mkdir(parents=True)
    return emails


def test_a_telegram_error_page_that_repeats_the_path_shows_no_bot_token(tmp_path, cli, chat, secrets):
    root = tmp_path / "p"
    _project(root, chat)
    sent = cli("send", "--now", NOW, cwd=root)
    assert sent.returncode == 0, sent.stderr
    warning = next(line for line in sent.stderr.splitlines() if "telegram" in line)
    assert "404 Not Found: /bot" in warning and MASK in warning
    assert _leaks(sent.stdout + sent.stderr, secrets) == []


def test_no_configured_secret_appears_in_the_output_of_any_command(tmp_path, cli, chat, secrets):
    root = tmp_path / "p"
    emails = _project(root, chat)
    commands = [
        ("fetch", "--date", NOW[:10], "--out", "fetched.jsonl"),
        ("themes", "--papers", "papers.jsonl"),
        ("preview", "--to", emails[0], "--out", "preview"),
        ("send", "--dry-run", "--now", NOW),
        ("send", "--now", NOW),
        ("send", "--now", NOW),  # nothing left to send
        ("archive", "--now", NOW),
        ("subscribe", "new@example.org"),
        ("subscribers",),
        ("subscribers", "--check"),
        ("subscribers", "export", "--format", "csv"),
        ("subscribers", "export", "--out", "exported.yaml"),
        ("subscribers", "import", "exported.yaml"),
        ("unsubscribe", "new@example.org"),
        ("inbox",),
        ("bounces",),
        ("bounces", "--clear", emails[1]),
        ("db", "status"),
        ("db", "upgrade"),
        ("db", "check"),
        ("init", "elsewhere"),
        ("send", "--to", "nobody@example.org", "--now", NOW),  # an error
        ("status", "--now", NOW),
        ("status", "--json", "--now", NOW),
        ("doctor", "--now", NOW, "--nameserver", "127.0.0.1:9"),  # no DNS answers there: FAIL lines
        ("--help",),
    ]
    for command in commands:
        result = cli(*command, cwd=root)
        assert result.returncode in (0, 1, 2), (command, result.stderr)
        assert _leaks(result.stdout + result.stderr, secrets) == [], command


def test_the_scheduler_and_the_web_server_log_no_secret(tmp_path, cli, chat, secrets):
    """`digest schedule` as a process at an injected instant (its readers' slot), until it has
    posted the issue to the channels; `digest serve` answering a page. httpx logs each request's
    URL at INFO, webhook secrets and all: that never reaches their logs."""
    root = tmp_path / "p"
    _project(root, chat)
    readers = [{"email": "london@example.org", "timezone": "Europe/London", "send_at": "07:00",
                "created": "2026-11-25T14:00:00Z"}]  # fmt: skip
    (root / "subscribers.yaml").write_text(yaml.safe_dump({"subscribers": readers}, sort_keys=False))
    seen = cli("send", "--due", "--now", "2026-11-26T06:59:00+00:00", cwd=root)  # a run sees them first
    assert seen.returncode == 0, seen.stderr
    log = root / "schedule.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "schedule", "--now", NOW, "--poll", "0.3"],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: chat.hits(f"/api/webhooks/{DISCORD_PART}"), "the post to Discord")
        wait_for(lambda: "telegram" in log.read_text(), "the Telegram warning")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert _leaks(log.read_text(), secrets) == [], log.read_text()
    with serving(root, secret=secrets["DIGEST_SECRET"]) as base:
        import httpx

        assert httpx.get(f"{base}/subscribe", timeout=10).status_code == 200
    assert _leaks((root / "serve.log").read_text(), secrets) == []


def test_a_secret_is_taken_out_whole_by_its_path_and_percent_encoded():
    url = f"https://hooks.slack.com/services/{SLACK_PART}"
    redact = Redactor([url, "p@ss word/x", "short"])
    text = f"POST {url} failed; page said /services/{SLACK_PART}; sent p%40ss%20word%2Fx; short"
    assert redact(text) == f"POST {MASK} failed; page said {MASK}; sent {MASK}; short"
