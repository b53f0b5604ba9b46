"""`digest serve`'s /healthz and /metrics over real HTTP: the figures come from the state
database (runs, messages by outcome, readers by status), parsed with prometheus_client's own
parser; /metrics answers only with the bearer token from the environment."""

from __future__ import annotations

import httpx
import pytest

from digest.cli import main

from .helpers_smtp import NOW, write_project
from .helpers_web import SECRET, serving

TOKEN_ENV = "DIGEST_METRICS_TOKEN"
TOKEN = "a-metrics-token-for-the-tests-0123456789"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    write_project(tmp_path, url="file://outbox", readers=3)
    (tmp_path / "subscribers.yaml").write_text(
        (tmp_path / "subscribers.yaml").read_text()
        + "  - email: gone@example.org\n    status: unsubscribed\n"
    )
    assert main(["--config", str(tmp_path / "digest.yaml"), "send", "--now", NOW]) == 0
    return tmp_path


def samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_with_the_token_reports_runs_messages_and_readers(project, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with serving(project) as base:
        assert httpx.get(f"{base}/healthz").text == "ok"
        answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert found[("digest_runs", (("kind", "send"), ("result", "ok")))] == 1
    assert found[("digest_messages", (("outcome", "sent"),))] == 3
    assert found[("digest_readers", (("status", "active"),))] == 3
    assert found[("digest_readers", (("status", "unsubscribed"),))] == 1
    assert found[("digest_last_successful_send_timestamp_seconds", ())] > 0
    assert found[("digest_operator_reports_unsent", ())] == 0


def test_metrics_refuses_a_missing_or_wrong_token_and_is_off_without_one(project, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with serving(project) as base:
        assert httpx.get(f"{base}/metrics").status_code == 401
        wrong = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        assert "digest_" not in wrong.text
    monkeypatch.delenv(TOKEN_ENV)
    with serving(project) as base:
        assert httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_healthz_says_503_once_the_database_is_gone_and_metrics_too(tmp_path, monkeypatch, postgres_url):
    import psycopg

    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    write_project(tmp_path, url="file://outbox", readers=1, state=postgres_url)
    assert main(["--config", str(tmp_path / "digest.yaml"), "db", "upgrade"]) == 0
    with serving(tmp_path) as base:
        assert httpx.get(f"{base}/healthz").status_code == 200
        admin, name = postgres_url.rsplit("/", 1)
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as db:
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # every connection to it ends
        gone = httpx.get(f"{base}/healthz")
        assert gone.status_code == 503 and "database unreachable" in gone.text
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert metrics.status_code == 503
