"""Slack, Discord and Telegram posts of an issue (digest/delivery/channels.py), through `digest send`
with the chat services on the loopback replay server answering as their documentation shows
(tests/fixtures/channels/README.md): one post per issue and channel, none again on a rerun,
and a post that fails is a warning while every email still goes out."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from digest import config as config_mod
from digest.delivery.channels import Post, discord_body, slack_body, telegram_body
from digest.jobs import send

from .helpers_http import ReplayServer, Reply
from .helpers_smtp import NOW, reader_email, write_project

FIXTURES = Path(__file__).parent / "fixtures" / "channels"
TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHANNELS = """channels:
  - kind: slack
  - kind: discord
    papers: 3
  - kind: telegram
    chat_id: "@trending_papers"
    api: {api}
"""
ISSUE_LINK = "https://papers.example.org/issues/2026-11-26"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-smtp-0123456789abcdef")


@pytest.fixture
def chat(monkeypatch):
    with ReplayServer() as server:
        server.routes["/slack/T000/B000/XXXX"] = Reply(b"ok", 200, "text/plain")
        server.routes["/api/webhooks/1/abc"] = Reply(b"", 204, "text/plain")
        server.routes[f"/bot{TOKEN}/sendMessage"] = Reply((FIXTURES / "telegram_sent.json").read_bytes())
        monkeypatch.setenv("DIGEST_SLACK_WEBHOOK_URL", f"{server.url}/slack/T000/B000/XXXX")
        monkeypatch.setenv("DIGEST_DISCORD_WEBHOOK_URL", f"{server.url}/api/webhooks/1/abc")
        monkeypatch.setenv("DIGEST_TELEGRAM_BOT_TOKEN", TOKEN)
        yield server


def _project(root: Path, server: ReplayServer, readers: int = 3) -> list[str]:
    emails = write_project(root, url="file://outbox", readers=readers)
    with (root / "digest.yaml").open("a") as config:
        config.write(CHANNELS.format(api=server.url))
    return emails


def _send(root: Path) -> send.SendReport:
    config = config_mod.load(root / "digest.yaml")
    return send.run(config, now=datetime.fromisoformat(NOW), log=lambda line: None)


def _add_reader(root: Path, i: int) -> None:
    """A new reader, so the next run builds the issue again (and would post it again)."""
    with (root / "subscribers.yaml").open("a") as listed:
        listed.write(f"  - email: {reader_email(i)}\n")


def _posts(server: ReplayServer) -> dict[str, list]:
    return {
        "slack": server.hits("/slack/T000/B000/XXXX"),
        "discord": server.hits("/api/webhooks/1/abc"),
        "telegram": server.hits(f"/bot{TOKEN}/sendMessage"),
    }


def test_each_channel_gets_one_post_with_the_top_papers_and_the_issue_link(tmp_path, chat):
    _project(tmp_path, chat)
    report = _send(tmp_path)
    assert report.exit_code == 0 and report.sent == 3 and not report.warnings
    posts = _posts(chat)
    assert {name: len(hits) for name, hits in posts.items()} == {"slack": 1, "discord": 1, "telegram": 1}
    slack = posts["slack"][0].json()["text"]
    assert slack.startswith("*Test Papers, Thursday 26 November 2026*") and f"<{ISSUE_LINK}|" in slack
    assert slack.count("\n") == 5 + 1  # the title, five papers, the link
    discord = posts["discord"][0].json()
    assert discord["content"].count("\n") == 3 + 1 and discord["allowed_mentions"] == {"parse": []}
    telegram = posts["telegram"][0].json()
    assert telegram["chat_id"] == "@trending_papers" and telegram["parse_mode"] == "HTML"
    assert f'<a href="{ISSUE_LINK}">' in telegram["text"]
    assert sorted(report.posted) == [
        "discord: 2026-11-26",
        "slack: 2026-11-26",
        "telegram @trending_papers: 2026-11-26",
    ]


def test_a_rerun_that_builds_the_issue_again_posts_nothing_again(tmp_path, chat):
    _project(tmp_path, chat)
    _send(tmp_path)
    _add_reader(tmp_path, 50)
    again = _send(tmp_path)
    assert again.sent == 1 and again.posted == []
    assert {name: len(hits) for name, hits in _posts(chat).items()} == {
        "slack": 1,
        "discord": 1,
        "telegram": 1,
    }


def test_a_failed_post_is_a_warning_every_email_goes_out_and_the_next_run_posts_it(tmp_path, chat):
    chat.routes[f"/bot{TOKEN}/sendMessage"] = Reply(
        (FIXTURES / "telegram_chat_not_found.json").read_bytes(), 400
    )
    chat.routes["/slack/T000/B000/XXXX"] = Reply(
        (FIXTURES / "slack_no_service.txt").read_bytes(), 404, "text/plain"
    )
    _project(tmp_path, chat)
    report = _send(tmp_path)
    assert report.exit_code == 0 and report.sent == 3 and report.posted == ["discord: 2026-11-26"]
    assert len(report.warnings) == 2
    telegram = next(w for w in report.warnings if "telegram" in w)
    assert "Bad Request: chat not found" in telegram and TOKEN not in telegram
    assert "no_service" in next(w for w in report.warnings if "slack" in w)
    chat.routes[f"/bot{TOKEN}/sendMessage"] = Reply((FIXTURES / "telegram_sent.json").read_bytes())
    _add_reader(tmp_path, 50)
    again = _send(tmp_path)
    assert again.posted == ["telegram @trending_papers: 2026-11-26"] and len(again.warnings) == 1
    assert len(_posts(chat)["discord"]) == 1


def test_a_service_that_cannot_be_reached_is_a_warning_that_never_shows_the_credential(
    tmp_path, chat, monkeypatch
):
    monkeypatch.setenv("DIGEST_DISCORD_WEBHOOK_URL", "http://127.0.0.1:9/api/webhooks/1/secret-part")
    _project(tmp_path, chat)
    report = _send(tmp_path)
    assert report.exit_code == 0 and report.sent == 3
    (warning,) = report.warnings
    assert warning.startswith("channel discord: 2026-11-26 not posted (ConnectError)")
    assert "secret-part" not in warning


@pytest.mark.parametrize(
    ("unset", "value", "expected"),
    [
        ("DIGEST_TELEGRAM_BOT_TOKEN", None, "telegram needs the bot token in DIGEST_TELEGRAM_BOT_TOKEN"),
        (
            "DIGEST_SLACK_WEBHOOK_URL",
            None,
            "slack needs the incoming webhook URL in DIGEST_SLACK_WEBHOOK_URL",
        ),
        ("DIGEST_DISCORD_WEBHOOK_URL", "not a url", "DIGEST_DISCORD_WEBHOOK_URL does not hold a webhook URL"),
    ],
)
def test_a_missing_credential_is_a_usage_error_before_any_email(
    tmp_path, chat, cli, monkeypatch, unset, value, expected
):
    if value is None:
        monkeypatch.delenv(unset)
    else:
        monkeypatch.setenv(unset, value)
    _project(tmp_path, chat)
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "outbox").exists()


def test_a_channel_without_what_it_needs_is_a_config_error_naming_the_line(tmp_path, chat, cli):
    write_project(tmp_path, url="file://outbox", readers=1)
    with (tmp_path / "digest.yaml").open("a") as config:
        config.write("channels:\n  - kind: telegram\n    token_env: my-token\n")
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2 and "digest.yaml:" in result.stderr
    assert "chat_id" in result.stderr and "'my-token' is not an environment variable name" in result.stderr


def test_titles_are_data_in_every_service_markup():
    post = Post(
        "Papers, today",
        [("<b>Bold</b> @everyone *star* & [link](x)", "https://arxiv.org/abs/1")],
        "https://p/i",
    )
    assert "&lt;b&gt;Bold&lt;/b&gt; @everyone *star* &amp;" in slack_body(post)["text"]
    discord = discord_body(post)
    assert r"\*star\* & \[link\]\(x\)" in discord["content"] and discord["allowed_mentions"] == {"parse": []}
    assert "&lt;b&gt;Bold&lt;/b&gt;" in telegram_body(post, "@c")["text"]
    assert json.dumps(telegram_body(post, "@c"))  # a JSON body as sent


HOSTILE_URLS = [
    "https://x.example/a|x> <!channel>",  # Slack: end the link, then @channel
    "https://x.example/a|<!here>",
    "https://x.example/a>) [Log in](https://evil.example)",  # Discord: a link of its own
    "https://x.example/a)[Log%20in](https://evil.example)",
    'https://x.example/a"><a href="https://evil.example">Log in</a>',  # Telegram HTML
    "javascript:alert(1)",
    "https://x.example/a\n<!channel>",
]
LINKS = 2  # the one URL the email would link too (the fourth, its brackets encoded), the issue's


def _hostile_post() -> Post:
    return Post(
        "Papers, today",
        [(f"Paper {n}: see https://evil.example @here", url) for n, url in enumerate(HOSTILE_URLS)],
        "https://p.example/issues/2026-12-08",
    )


def test_a_paper_url_cannot_add_a_mention_or_a_link_to_a_slack_post():
    import re

    text = slack_body(_hostile_post())["text"]
    assert "<!" not in text and "@channel" not in text
    links = re.findall(r"<([^<>]*)>", text)
    assert len(links) == text.count("<") == text.count(">") == LINKS  # every bracket is one of ours
    assert all(re.fullmatch(r"https://[^|\s]+\|[^|]+", link) for link in links)
    assert links[-1] == "https://p.example/issues/2026-12-08|The whole issue"


def test_a_paper_url_cannot_add_a_link_or_a_mention_to_a_discord_post():
    import re

    body = discord_body(_hostile_post())
    content = body["content"]
    opened = re.findall(r"(?<!\\)\[", content)  # the links markdown reads: ours only
    ours = re.findall(r"\]\(<(https://[^<>()\s]+)>\)", content)
    assert len(opened) == len(ours) == LINKS
    assert "evil.example)" not in content and "Log in](" not in content
    assert "https://evil.example @here" not in content  # a title's bare URL and mention are escaped
    assert body["allowed_mentions"] == {"parse": []}


def test_a_paper_url_cannot_add_markup_to_a_telegram_post():
    import re

    text = telegram_body(_hostile_post(), "@c")["text"]
    hrefs = re.findall(r"<a href=\"([^\"]*)\">", text)
    assert len(hrefs) == text.count("<a ") == LINKS
    assert all(h.startswith("https://") and "<" not in h for h in hrefs)
    assert 'evil.example">' not in text and "javascript" not in text
