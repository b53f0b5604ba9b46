"""What `digest serve` refuses, over real HTTP: link checkers' HEAD requests change nothing,
every response carries the protective headers, an oversized chunked body is a 413, one IPv6
/64 is one client for the sign-up limit, and a guessable DIGEST_SECRET stops the server."""

from __future__ import annotations

import httpx
import pytest

from digest import subscribers, tokens

from .conftest import run_cli
from .helpers_web import SECRET, confirm_link, confirmation, csrf_form, serving
from .test_web import FORM, new_project


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("refusals"), "  subscribes_per_ip_per_hour: 1000\n")
    assert run_cli("archive", cwd=project).returncode == 0  # an issue page, the index and the feed
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
