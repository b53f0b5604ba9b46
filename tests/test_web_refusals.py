"""What `digest serve` refuses, over real HTTP: link checkers' HEAD requests change nothing,
every response carries the protective headers, an oversized chunked body is a 413, one IPv6
/64 is one client for the sign-up limit, and a guessable DIGEST_SECRET stops the server."""

from __future__ import annotations

import httpx
import pytest

from digest.compose import tokens
from digest.config import DEV_SECRET
from digest.store import yamllist as subscribers

from .conftest import run_cli
from .helpers_web import SECRET, confirm_link, confirmation, csrf_form, serving
from .test_web import FORM, new_project

NOON = "2026-08-14T12:00:00+00:00"  # every shipped reader's send time has passed; one date for all


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("refusals"), "  subscribes_per_ip_per_hour: 1000\n")
    # an issue page, the index and the feed
    assert run_cli("archive", "--now", NOON, cwd=project).returncode == 0
    with serving(project) as base:
        yield project, base


def status(project, email: str) -> str:
    return subscribers.find(project / "subscribers.yaml", email).status


def test_head_on_a_confirmation_link_leaves_the_reader_pending(site):
    project, base = site
    with httpx.Client(base_url=base) as client:
        token = csrf_form(client, "/subscribe")
        assert client.post("/subscribe", data={"csrf": token, "email": "head@example.org", **FORM}).is_success
    link = confirm_link(confirmation(project, "head@example.org"))
    checked = httpx.head(link)  # what a link checker or `curl -I` sends
    assert checked.status_code == 200
    assert status(project, "head@example.org") == "pending"


def test_head_on_an_unsubscribe_link_leaves_the_reader_subscribed(site):
    project, base = site
    url = f"{base}/unsubscribe?token={tokens.sign(SECRET, 'unsubscribe', 'alan@example.org')}"
    assert httpx.head(url).status_code == 200
    assert status(project, "alan@example.org") == "active"


def test_no_method_but_post_changes_a_reader(site):
    project, base = site
    url = f"{base}/unsubscribe?token={tokens.sign(SECRET, 'unsubscribe', 'grace@example.org')}"
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        assert httpx.request(method, url, content=b"List-Unsubscribe=One-Click").status_code == 405
    assert status(project, "grace@example.org") == "active"


@pytest.mark.parametrize(
    "path",
    ["/issues/latest", "/issues", "/", "/issues/feed.xml", "/static/web.css", "/static/web.js",
     "/healthz", "/no/such/page", "/issues/1999-01-01"],
)  # fmt: skip
def test_every_response_forbids_framing_and_sniffing(site, path):
    _, base = site
    answer = httpx.get(base + path, follow_redirects=True)
    assert answer.status_code in (200, 404), answer.text
    policy = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert answer.headers.get("x-frame-options") == "DENY"
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert answer.headers.get("referrer-policy") == "no-referrer"


def test_an_archive_page_may_style_itself_but_never_run_a_script(site):
    _, base = site
    page = httpx.get(f"{base}/issues/latest")
    assert page.status_code == 200 and "<style" in page.text
    policy = page.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy and "script-src" not in policy


def test_a_chunked_body_over_the_cap_is_refused_with_413(site):
    project, base = site

    def body():
        yield b"email=chunked%40example.org&website="
        for _ in range(100):
            yield b"x" * 1024  # 100 KB, over the 64 KB every form here stays far below

    answer = httpx.post(
        f"{base}/subscribe", content=body(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413 and "too large" in answer.text
    assert "Traceback" not in (project / "serve.log").read_text()
    assert httpx.get(f"{base}/healthz").status_code == 200  # and the server carries on


def test_a_chunked_body_under_the_cap_still_reaches_the_form(site):
    project, base = site
    with httpx.Client(base_url=base) as client:
        token = csrf_form(client, "/subscribe")
        fields = httpx.QueryParams({"csrf": token, "email": "chunked@example.org", **FORM})

        def body():
            yield str(fields).encode()

        answer = client.post(
            "/subscribe", content=body(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    confirmation(project, "chunked@example.org")


def test_the_sign_up_limit_counts_one_ipv6_64_as_one_client(tmp_path):
    project = new_project(tmp_path, "  subscribes_per_ip_per_hour: 2\n")

    def sign_up(base: str, n: int, client_ip: str) -> int:
        # uvicorn takes the client's address from X-Forwarded-For when the proxy is 127.0.0.1
        headers = {"X-Forwarded-For": client_ip}
        with httpx.Client(base_url=base, headers=headers) as client:
            token = csrf_form(client, "/subscribe")
            data = {"csrf": token, "email": f"v6-{n}@example.org", **FORM}
            return client.post("/subscribe", data=data).status_code

    with serving(project) as base:
        # one household's /64: the addresses its devices pick at random all count together
        assert sign_up(base, 1, "2001:db8:1:2::1") == 200
        assert sign_up(base, 2, "2001:db8:1:2:aaaa:bbbb:cccc:dddd") == 200
        assert sign_up(base, 3, "2001:db8:1:2:ffff::9") == 429
        assert sign_up(base, 4, "2001:db8:1:3::1") == 200  # the next /64 is someone else
        assert sign_up(base, 5, "192.0.2.7") == 200  # IPv4 addresses still count one by one
        assert sign_up(base, 6, "192.0.2.8") == 200


@pytest.mark.parametrize("secret", ["x", "short-secret", "a" * 40, DEV_SECRET])
@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("send", "--dry-run")], ids=" ".join)
def test_a_guessable_secret_is_refused_with_how_to_make_one(project, cli, monkeypatch, secret, command):
    monkeypatch.setenv("DIGEST_SECRET", secret)
    refused = cli(*command, cwd=project)
    assert refused.returncode == 2, refused.stderr
    assert "DIGEST_SECRET" in refused.stderr and "secrets.token_urlsafe(32)" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_long_random_secret_is_accepted(project, cli, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "kq3V_8hZ-2mXo9PtR4yLw7eNc1sJ5uAb6dFgHi0")
    assert cli("send", "--dry-run", "--now", NOON, cwd=project).returncode == 0


def test_library_uploads_wait_for_their_own_workers_and_never_hold_up_an_unsubscribe(tmp_path):
    """Uploads whose arXiv look-up never answers fill the library workers and their queue;
    one more is told to try again, and a one-click unsubscribe still answers at once."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from digest.web import app as web

    from .helpers_http import ReplayServer, Reply

    project = new_project(tmp_path)
    with ReplayServer() as arxiv:
        arxiv.routes["/api/query"] = Reply(hang=True)
        with open(project / "digest.yaml", "a") as config:
            config.write(f"\nlibraries:\n  arxiv_url: {arxiv.url}\nfetch:\n  timeout: 120\n  retries: 0\n")
        with serving(project) as base, httpx.Client(base_url=base, timeout=120) as client:
            token = tokens.sign(SECRET, "preferences", "ada@example.org")
            csrf = csrf_form(client, f"/preferences?token={token}")

            def upload(n: int) -> httpx.Response:
                ids = f"2401.{n:05d}\n".encode()  # an id alone: looked up on the (stuck) arXiv API
                files = {"library": (f"ids-{n}.txt", ids, "text/plain")}
                return client.post("/preferences/library", data={"csrf": csrf, "token": token}, files=files)

            more = 3
            total = web.LIBRARY_WORKERS + web.LIBRARY_WAITING + more
            with ThreadPoolExecutor(total) as pool:
                uploads = [pool.submit(upload, n) for n in range(total)]
                turned_away = []
                for done in as_completed(uploads, timeout=60):  # the stuck ones never finish
                    turned_away.append(done.result())
                    if len(turned_away) == more:
                        break
                unsubscribe = tokens.sign(SECRET, "unsubscribe", "grace@example.org")
                left = client.post(
                    f"/unsubscribe?token={unsubscribe}", data={"List-Unsubscribe": "One-Click"}, timeout=20
                )
                arxiv.stopping.set()  # the stuck look-ups fail; their uploads answer
                rest = [
                    f.result(timeout=120) for f in uploads if not f.done() or f.result() not in turned_away
                ]
    assert [r.status_code for r in turned_away] == [503] * more
    assert all("Try again in a minute" in r.text for r in turned_away)
    assert left.status_code == 200 and status(project, "grace@example.org") == "unsubscribed"
    assert len(rest) == total - more and all(r.status_code != 500 for r in rest)
