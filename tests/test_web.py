"""The web endpoints over real HTTP: `digest serve` (uvicorn) on loopback, driven by httpx."""

from __future__ import annotations

import html
import re
import socket
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from digest.compose import tokens
from digest.store import yamllist as subscribers

from .conftest import copy_example
from .helpers_web import SECRET, confirm_link, confirmation, csrf_form, serving

NOON = "2026-08-14T12:00:00+00:00"  # every shipped reader's send time has passed; one date for all

FORM = {"frequency": "weekdays", "send_at": "06:30", "timezone": "America/New_York"}


def new_project(folder: Path, web: str = "") -> Path:
    copy_example(folder)
    if web:
        with open(folder / "digest.yaml", "a") as config:
            config.write(f"\nweb:\n{web}")
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One server for the module; each test uses its own addresses."""
    project = new_project(tmp_path_factory.mktemp("web"), "  subscribes_per_ip_per_hour: 1000\n")
    with serving(project) as base:
        yield project, base


def test_serve_prints_the_address_it_listens_on(site):
    project, base = site
    printed = (project / "serve.log").read_text().splitlines()
    assert f"serving on {base}/ (Ctrl-C to stop)" in printed


def entry(project: Path, email: str):
    return subscribers.find(project / "subscribers.yaml", email)


def main_text(page: httpx.Response) -> str:
    """The words of the page's <main>, as a person reads them."""
    text = re.sub(r"<[^>]+>", " ", page.text.split("<main", 1)[1])
    return html.unescape(re.sub(r"\s+", " ", text)).strip()


def subscribe(base: str, email: str, **fields) -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        token = csrf_form(client, "/subscribe")
        data = {"csrf": token, "email": email, **FORM, **fields}
        return client.post("/subscribe", data=data)


def test_subscribe_confirm_by_link_and_the_reader_is_active(site):
    project, base = site
    answer = subscribe(
        base, "Reader.One@Example.org", topics=["retrieval", "agents"], keywords="tokenizer, rag"
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    message = confirmation(project, "reader.one@example.org")
    # a notice, not list mail: the address is not on the list until it confirms
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] is None and message["List-Id"] is None
    assert message["Subject"].startswith("Confirm your subscription to ")
    pending = entry(project, "reader.one@example.org")
    assert pending.status == "pending"
    assert (pending.topics, pending.keywords, pending.frequency) == (
        ["retrieval", "agents"],
        ["tokenizer", "rag"],
        "weekdays",
    )
    assert (pending.send_at, pending.timezone) == ("06:30", "America/New_York")

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    raw = (project / "outbox" / "confirmations" / "reader.one@example.org.eml").read_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert not [line for line in head if line[:1] in (b" ", b"\t")], "a folded header"
    link = confirm_link(message)
    assert link.startswith(base) and link in message.get_body(("html",)).get_content()

    with httpx.Client() as client:
        page = client.get(link)  # a link scanner's GET: shows a button, changes nothing
        assert page.status_code == 200 and "Confirm my subscription" in page.text
        assert entry(project, pending.email).status == "pending"
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
        done = client.post(f"{base}/confirm", data={"token": token})
    assert done.status_code == 200 and "You're subscribed" in main_text(done)
    active = entry(project, pending.email)
    assert active.status == "active" and active.confirmed is not None


def test_the_answer_is_the_same_for_listed_and_unlisted_addresses(site):
    project, base = site
    before = entry(project, "ada@example.org")
    listed = subscribe(base, "ada@example.org", topics=["vision"])
    unlisted = subscribe(base, "nobody-yet@example.org")
    assert (listed.status_code, main_text(listed)) == (unlisted.status_code, main_text(unlisted))
    confirmation(project, "nobody-yet@example.org")
    confirmation(project, "ada@example.org", folder="preferences")  # Ada's work is done too
    assert entry(project, "ada@example.org") == before  # a stranger cannot change Ada's topics
    assert not (project / "outbox" / "confirmations" / "ada@example.org.eml").exists()


def test_an_active_reader_signing_up_again_is_mailed_their_preferences_link(site):
    project, base = site
    before = entry(project, "alan@example.org")
    assert before.status == "active"
    answer = subscribe(base, "Alan@Example.org", topics=["agents"])
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert "preferences" in main_text(answer)  # the page says such a link may come, to anyone
    message = confirmation(project, "alan@example.org", folder="preferences")
    assert message["Auto-Submitted"] == "auto-generated" and message["List-Unsubscribe"] is None
    assert "preferences" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/preferences\?token=\S+", text).group(0)
    assert link.startswith(base) and link in message.get_body(("html",)).get_content()
    page = httpx.get(link)  # the link opens his own preferences form
    assert page.status_code == 200 and "alan@example.org" in page.text and 'name="topics"' in page.text
    assert entry(project, "alan@example.org") == before  # the form changed nothing itself


def test_unsubscribe_by_one_click_post_from_a_real_digest(site, cli, monkeypatch):
    project, base = site
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    assert cli("send", "--to", "grace@example.org", "--now", NOON, cwd=project).returncode == 0
    eml = next((project / "outbox").glob("*/grace@example.org.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(https?://[^>]+/unsubscribe\?token=[^>]+)>", message["List-Unsubscribe"]).group(1)
    assert url.startswith(base)

    before = (project / "subscribers.yaml").read_bytes()
    scanned = httpx.get(url)  # what a mail scanner does with every link
    assert scanned.status_code == 200 and 'method="post"' in scanned.text
    assert (project / "subscribers.yaml").read_bytes() == before

    # RFC 8058: a POST of exactly this body, no cookies, no login
    one_click = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200 and "unsubscribed" in one_click.text
    assert entry(project, "grace@example.org").status == "unsubscribed"
    # the next send leaves her out
    again = cli("send", "--to", "grace@example.org", "--now", NOON, cwd=project)
    assert again.returncode == 2 and "no active subscriber grace@example.org" in again.stderr


def test_used_links_show_what_already_happened_and_done_pages_lead_on(site):
    project, base = site
    subscribe(base, "twice@example.org")
    link = confirm_link(confirmation(project, "twice@example.org"))
    token = re.search(r"token=(\S+)", link).group(1)
    with httpx.Client() as client:
        done = client.post(f"{base}/confirm", data={"token": token})
        assert "You're subscribed" in main_text(done)
        assert "/preferences?token=" in done.text and 'href="/issues"' in done.text
        again = client.get(link)  # the same confirmation link, opened a second time
        assert again.status_code == 200 and "Already confirmed" in main_text(again)
        assert "Confirm my subscription" not in again.text and "/preferences?token=" in again.text

        unsubscribe = f"{base}/unsubscribe?token={tokens.sign(SECRET, 'unsubscribe', 'twice@example.org')}"
        assert "Stop sending" in main_text(client.get(unsubscribe))
        client.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        listed = (project / "subscribers.yaml").read_bytes()
        after = client.get(unsubscribe)  # the footer link, opened after a one-click unsubscribe
        assert after.status_code == 200 and "You are unsubscribed" in main_text(after)
        assert "Stop sending" not in after.text and 'method="post"' not in after.text
        assert 'href="/subscribe"' in after.text  # the way back
        assert (project / "subscribers.yaml").read_bytes() == listed  # a GET changed nothing

        preferences = tokens.sign(SECRET, "preferences", "alan@example.org")
        csrf = csrf_form(client, f"{base}/preferences?token={preferences}")
        saved = client.post(f"{base}/preferences", data={"csrf": csrf, "token": preferences, **FORM})
    assert "Preferences saved" in main_text(saved)
    assert f'href="/preferences?token={preferences}"' in saved.text and 'href="/issues"' in saved.text


def test_tampered_and_expired_tokens_change_nothing(site):
    project, base = site
    before = (project / "subscribers.yaml").read_bytes()
    good = tokens.sign(SECRET, "unsubscribe", "alan@example.org")
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for token in (tampered, tokens.sign("another-secret", "unsubscribe", "alan@example.org"),
                  tokens.sign(SECRET, "preferences", "alan@example.org"), ""):  # fmt: skip
        answer = httpx.post(f"{base}/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click")
        assert answer.status_code == 400 and "not valid" in answer.text
    # instants no clock of the test or the server can disagree about
    expired = tokens.sign_expiring(SECRET, "confirm", "alan@example.org", datetime(2026, 1, 1, tzinfo=UTC))
    answer = httpx.post(f"{base}/confirm", data={"token": expired})
    assert answer.status_code == 400 and "expired" in answer.text
    forged = tokens.sign_expiring(
        "another-secret", "confirm", "alan@example.org", datetime(2100, 1, 1, tzinfo=UTC)
    )
    assert httpx.post(f"{base}/confirm", data={"token": forged}).status_code == 400
    assert (project / "subscribers.yaml").read_bytes() == before


def test_forms_without_their_csrf_cookie_or_from_another_site_are_refused(site):
    project, base = site
    bare = httpx.post(f"{base}/subscribe", data={"email": "csrf@example.org", "csrf": "x"})
    assert bare.status_code == 403
    with httpx.Client(base_url=base) as client:
        token = csrf_form(client, "/subscribe")
        foreign = client.post(
            "/subscribe",
            data={"csrf": token, "email": "csrf@example.org"},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
    assert entry(project, "csrf@example.org") is None


def test_a_filled_honeypot_gets_the_usual_answer_and_nothing_happens(site):
    project, base = site
    answer = subscribe(base, "bot@example.org", website="http://spam.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert "honeypot filled: ignored a sign-up" in (project / "serve.log").read_text()
    assert entry(project, "bot@example.org") is None
    assert not (project / "outbox" / "confirmations" / "bot@example.org.eml").exists()


def test_a_bad_address_or_zone_is_explained_on_the_form(site):
    project, base = site
    bad = subscribe(base, "not-an-address")
    assert bad.status_code == 400 and "Enter an email address like name@example.org" in bad.text
    zone = subscribe(base, "zone@example.org", timezone="Mars/Olympus")
    assert zone.status_code == 400 and "unknown time zone" in zone.text
    assert 'value="zone@example.org"' in zone.text  # what they typed is kept
    assert entry(project, "zone@example.org") is None


def test_preferences_link_shows_and_saves_the_readers_choices(site):
    project, base = site
    token = tokens.sign(SECRET, "preferences", "ada@example.org")
    with httpx.Client(base_url=base) as client:
        csrf = csrf_form(client, f"/preferences?token={token}")
        page = client.get(f"/preferences?token={token}")
        assert (
            'value="retrieval" checked' in page.text
            and 'value="tokenizer, dense retrieval, embeddings"' in page.text
        )
        saved = client.post(
            "/preferences",
            data={"csrf": csrf, "token": token, "topics": ["vision"], "keywords": "segmentation",
                  "frequency": "weekly:fri", "send_at": "18:15", "timezone": "Europe/Paris"},
        )  # fmt: skip
    assert saved.status_code == 200 and "every Friday at 18:15, Europe/Paris time" in saved.text
    ada = entry(project, "ada@example.org")
    assert (ada.topics, ada.keywords, ada.frequency, ada.send_at) == (
        ["vision"],
        ["segmentation"],
        "weekly:fri",
        "18:15",
    )
    assert ada.name == "Ada Lovelace" and ada.max_papers == 10  # fields the form does not show are kept
    no_csrf = httpx.post(f"{base}/preferences", data={"token": token, "topics": ["agents"]})
    assert no_csrf.status_code == 403 and entry(project, "ada@example.org").topics == ["vision"]


def test_a_monthly_reader_sees_their_day_on_the_preferences_page_and_can_pick_monthly(site):
    project, base = site
    token = tokens.sign(SECRET, "preferences", "grace@example.org")
    with httpx.Client(base_url=base) as client:
        csrf = csrf_form(client, f"/preferences?token={token}")
        saved = client.post(
            "/preferences",
            data={"csrf": csrf, "token": token, "frequency": "monthly:15", "send_at": "09:00",
                  "timezone": "America/New_York"},
        )  # fmt: skip
        assert saved.status_code == 200 and "on day 15 of every month at 09:00" in saved.text
        page = client.get(f"/preferences?token={token}")
    assert '<option value="monthly:15" selected>' in page.text  # kept if the page is saved again
    assert '<option value="monthly:1">Monthly, on the 1st</option>' in page.text
    assert entry(project, "grace@example.org").frequency == "monthly:15"


def test_the_labs_a_reader_follows_are_shown_and_saved_and_an_entry_keeps_saying_follow(tmp_path):
    project = new_project(tmp_path)
    listing = project / "subscribers.yaml"
    listing.write_text(
        listing.read_text().replace("    max_papers: 10\n", "    max_papers: 10\n    follow: [Qwen]\n", 1)
    )
    assert entry(project, "ada@example.org").organizations == ["Qwen"]
    token = tokens.sign(SECRET, "preferences", "ada@example.org")
    with serving(project) as base, httpx.Client(base_url=base) as client:
        csrf = csrf_form(client, f"/preferences?token={token}")
        page = client.get(f"/preferences?token={token}")
        assert 'name="follow" type="text"' in page.text and 'value="Qwen"' in page.text
        saved = client.post(
            "/preferences",
            data={"csrf": csrf, "token": token, "follow": "Qwen, Google DeepMind", **FORM},
        )
    assert saved.status_code == 200
    assert entry(project, "ada@example.org").organizations == ["Qwen", "Google DeepMind"]
    assert "    follow: [Qwen, Google DeepMind]\n" in listing.read_text()
    assert "organizations:" not in listing.read_text().split("ada@example.org", 1)[1].split("- email:", 1)[0]


def test_pages_are_served_with_protective_headers(site):
    _, base = site
    page = httpx.get(f"{base}/unsubscribe?token={tokens.sign(SECRET, 'unsubscribe', 'alan@example.org')}")
    assert page.headers["referrer-policy"] == "no-referrer"  # the token must not leak
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{base}/no/such/page").status_code == 404


def test_the_web_version_link_of_a_sent_digest_opens_its_archived_page(tmp_path, cli, monkeypatch):
    project = new_project(tmp_path)
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    with serving(project) as base:
        assert httpx.get(f"{base}/issues/latest").status_code == 404  # nothing published yet
        assert cli("send", "--to", "alan@example.org", "--now", NOON, cwd=project).returncode == 0
        eml = next((project / "outbox").glob("*/alan@example.org.eml"))
        text = message_from_bytes(eml.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
        web = re.search(rf"{re.escape(base)}/issues/\d{{4}}-\d{{2}}-\d{{2}}", text).group(0)
        issue = web.rsplit("/", 1)[1]
        page = httpx.get(web)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert httpx.get(f"{base}/issues/latest").text == page.text
        assert web in httpx.get(f"{base}/issues").text  # the index lists it
        feed = httpx.get(f"{base}/issues/feed.xml")
        assert feed.headers["content-type"].startswith("application/atom+xml") and issue in feed.text
        missing = httpx.get(f"{base}/issues/2020-01-01")
        assert missing.status_code == 404 and "Not in the archive" in missing.text
        assert httpx.get(f"{base}/issues/..%2Fdigest.yaml").status_code == 404


def test_rate_limits_per_address_and_per_ip(tmp_path):
    web = "  confirmations_per_address_per_day: 2\n  subscribes_per_ip_per_hour: 4\n"
    project = new_project(tmp_path, web)
    with serving(project) as base:
        first = None
        for _ in range(2):
            assert subscribe(base, "bombed@example.org").status_code == 200
            first = confirmation(project, "bombed@example.org", other_than=first)["Message-ID"]
        # the third request gets the same answer but no third email
        assert subscribe(base, "bombed@example.org").status_code == 200
        assert "over its daily limit" in (project / "serve.log").read_text()
        assert subscribe(base, "fourth@example.org").status_code == 200
        confirmation(project, "fourth@example.org")
        assert confirmation(project, "bombed@example.org")["Message-ID"] == first
        fifth = subscribe(base, "fifth@example.org")
        assert fifth.status_code == 429 and entry(project, "fifth@example.org") is None
        # seconds until the first of the four sign-ups leaves the hour (RFC 9110 delay-seconds)
        assert fifth.headers["Retry-After"].isdigit() and 1 <= int(fifth.headers["Retry-After"]) <= 3600


def test_serve_refuses_to_start_without_a_secret_unless_dev(project, cli, monkeypatch):
    monkeypatch.delenv("DIGEST_SECRET", raising=False)
    refused = cli("serve", "--port", "1", cwd=project)
    assert (
        refused.returncode == 2 and "DIGEST_SECRET is not set" in refused.stderr and "--dev" in refused.stderr
    )
    with serving(project, secret=None, extra=("--dev",)) as base:
        assert httpx.get(f"{base}/subscribe").status_code == 200
    assert "development secret" in (project / "serve.log").read_text()


@pytest.mark.parametrize("command", [("serve", "--dev"), ("preview", "--serve")], ids=" ".join)
def test_a_port_in_use_is_a_usage_error_naming_it(project, cli, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(*command, "--port", port, cwd=project)
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
