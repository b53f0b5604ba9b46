"""`digest serve` on a list kept in the database (`subscribers: database`), over real HTTP:
a public list's load arrives at once and every request is recorded, none answered 5xx; and
the status rules hold at the web's edge (an old confirmation link, a stranger's sign-up)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from digest import config as config_mod
from digest.compose import tokens
from digest.jobs.optin import PURPOSE
from digest.store import open_stores

from .helpers_digest import report
from .helpers_store import fill
from .helpers_web import SECRET, confirm_link, confirmation, csrf_form, serving, wait_for
from .test_web import FORM, new_project

LISTED = 100_000
SIGN_UPS, UNSUBSCRIBES = 200, 50
LIMITS = "  subscribes_per_ip_per_hour: 10000\n"


def database_project(folder, web: str = LIMITS):
    project = new_project(folder, web)
    config = project / "digest.yaml"
    config.write_text(config.read_text().replace("subscribers: subscribers.yaml", "subscribers: database"))
    return project


def fill_list(project, n: int) -> None:
    with open_stores(config_mod.load(project / "digest.yaml")) as opened:
        fill(opened.database, n)


def _statuses(project) -> dict[str, str]:
    with open_stores(config_mod.load(project / "digest.yaml"), readonly=True) as opened:
        return {
            r.email: r.status for r in opened.subscribers.readers() if not r.email.startswith("reader")
        } | {
            r.email: r.status
            for r in opened.subscribers.readers()
            if r.email.startswith("reader") and r.status != "active"
        }


def test_200_sign_ups_and_50_one_click_unsubscribes_at_once_on_100000_readers_are_all_recorded(
    tmp_path, capsys
):
    project = database_project(tmp_path)
    fill_list(project, LISTED)
    answers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(SIGN_UPS + UNSUBSCRIBES)

    with serving(project) as base:

        def sign_up(i: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as client:
                token = csrf_form(client, "/subscribe")
                cookies = client.cookies
            start.wait()  # then a new connection: the server drops one left idle for 5 s, as it should
            with httpx.Client(base_url=base, timeout=120, cookies=cookies) as client:
                data = {"csrf": token, "email": f"new{i}@example.org", **FORM}
                answer = client.post("/subscribe", data=data)
            with lock:
                answers.append(answer.status_code)

        def one_click(i: int) -> None:
            token = tokens.sign(SECRET, "unsubscribe", f"reader{i * 1999}@example.org")
            start.wait()
            answer = httpx.post(
                f"{base}/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click", timeout=120
            )
            with lock:
                answers.append(answer.status_code)

        threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(SIGN_UPS)]
        threads += [threading.Thread(target=one_click, args=(i,)) for i in range(UNSUBSCRIBES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(set(answers)) == [200] and len(answers) == SIGN_UPS + UNSUBSCRIBES
        # sign-ups are written after the answer (the page must not tell listed from new): wait
        outbox = project / "outbox" / "confirmations"
        wait_for(lambda: outbox.is_dir() and len(list(outbox.iterdir())) == SIGN_UPS, "every confirmation")

    statuses = _statuses(project)
    assert sum(1 for e, s in statuses.items() if e.startswith("new") and s == "pending") == SIGN_UPS
    left = {e for e, s in statuses.items() if s == "unsubscribed"}
    assert left == {f"reader{i * 1999}@example.org" for i in range(UNSUBSCRIBES)}
    assert "sign-up not recorded" not in (project / "serve.log").read_text()
    report(
        capsys,
        f"digest serve on a {LISTED:,}-reader database list: {SIGN_UPS} sign-ups and {UNSUBSCRIBES} "
        f"one-click unsubscribes at once, all answered 200 and recorded",
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    project = database_project(tmp_path_factory.mktemp("web-db"))
    with serving(project) as base:
        yield project, base


def _sign_up(base: str, email: str, **fields) -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        token = csrf_form(client, "/subscribe")
        return client.post("/subscribe", data={"csrf": token, "email": email, **FORM, **fields})


def test_a_confirmation_link_from_before_an_unsubscribe_does_not_resubscribe(site):
    project, base = site
    assert _sign_up(base, "ines@example.org").status_code == 200
    old_link = confirm_link(confirmation(project, "ines@example.org"))
    with httpx.Client() as client:
        token = old_link.split("token=", 1)[1]
        assert client.post(f"{base}/confirm", data={"token": token}).status_code == 200
        unsubscribe = tokens.sign(SECRET, "unsubscribe", "ines@example.org")
        assert httpx.post(f"{base}/unsubscribe?token={unsubscribe}", content=b"List-Unsubscribe=One-Click")
        again = client.post(f"{base}/confirm", data={"token": token})
    assert again.status_code == 400 and "from before you unsubscribed" in again.text
    assert _statuses(project)["ines@example.org"] == "unsubscribed"


def test_a_strangers_sign_up_does_not_change_a_pending_readers_preferences(site):
    project, base = site
    _sign_up(base, "jo@example.org", topics="retrieval")
    confirmation(project, "jo@example.org")
    answer = _sign_up(base, "jo@example.org", topics="robotics", send_at="03:00", timezone="Asia/Tokyo")
    assert answer.status_code == 200 and "Check your inbox" in answer.text  # the same page as ever
    with open_stores(config_mod.load(project / "digest.yaml"), readonly=True) as opened:
        jo = opened.subscribers.find("jo@example.org")
    assert (jo.status, jo.topics, jo.send_at, jo.timezone) == (
        "pending",
        ["retrieval"],
        "06:30",
        "America/New_York",
    )


def test_a_link_older_than_the_unsubscribe_is_refused_even_when_it_has_not_expired():
    """The same rule without the server: a token says when it was asked for."""
    asked = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    token = tokens.sign_expiring(
        "s" * 32, PURPOSE, "x@example.org", asked + timedelta(hours=48), issued=asked
    )
    verified = tokens.verify_expiring("s" * 32, PURPOSE, token, asked + timedelta(hours=1))
    assert (verified.email, verified.issued) == ("x@example.org", asked)
