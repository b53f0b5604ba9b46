"""`summaries:`: TL;DRs from an OpenAI-compatible endpoint, against a real HTTP server on
loopback. The endpoint writes for papers without a source summary only, once per paper, model
and text (the database keeps it, for later issues too); whatever goes wrong with it, the send
completes with the picked sentence and one warning naming the endpoint."""

from __future__ import annotations

import email
import json
import socket
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from digest import config as config_mod
from digest.compose import tldr
from digest.errors import DigestError
from digest.jobs import preview, send
from digest.jobs.summaries import clean

from .helpers_http import ReplayServer, Reply, Seen

NOW = datetime(2026, 8, 14, 7, 0, tzinfo=UTC)
ROUTE = "/v1/chat/completions"
LONGREAD = (
    "Large language models have achieved remarkable progress in recent years. "
    "However, reasoning over long documents remains a challenge. "
    "In this paper, we propose LongRead, a retrieval method that reads documents in chunks. "
    "Experiments show gains of 5 points on three benchmarks."
)
SEER = (
    "Vision models have attracted wide attention. We introduce Seer, a video model that "
    "predicts the next second of a scene from one frame. It beats baselines by 3 points."
)
PAPERS = [
    {"id": "2608.00001", "title": "LongRead: reading long documents", "abstract": LONGREAD, "upvotes": 30},
    {"id": "2608.00002", "title": "Seer: one frame ahead", "abstract": SEER, "upvotes": 20},
    {
        "id": "2608.00003",
        "title": "Summed: a paper with its own summary",
        "abstract": "Background has achieved remarkable things. We propose Summed, a method.",
        "summary": "Summed is the source's own summary of this paper.",
        "upvotes": 10,
    },
]


def answer(seen: Seen) -> Reply:
    """An OpenAI-shaped chat completion, dressed the way small local models dress answers."""
    title = seen.json()["messages"][1]["content"].split("\n")[0].removeprefix("Title: ")
    content = f'TL;DR: **"Endpoint sentence about {title.split(":")[0]} and what it contributes."**'
    body = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"content": content}}],
    }
    return Reply(json.dumps(body).encode())


def write_project(project: Path, url: str, extra: str = "", timeout: float = 2) -> config_mod.Config:
    (project / "papers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PAPERS))
    text = (project / "digest.yaml").read_text()
    text = text.replace("path: samples/papers.jsonl", "path: papers.jsonl").replace(
        "min_score: 0.1", "min_score: 0"
    )
    text += f"\nsummaries:\n  url: {url}\n  model: tiny-model\n  timeout: {timeout}\n  deadline: 5\n{extra}"
    (project / "digest.yaml").write_text(text)
    return config_mod.load(project / "digest.yaml")


def texts(project: Path, issue: str) -> list[str]:
    out = []
    for path in sorted((project / "outbox" / issue).glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        out.append(message.get_body(preferencelist=("plain",)).get_content())
    return out


def quiet(_: str) -> None:
    pass


@pytest.fixture
def server():
    with ReplayServer() as s:
        s.routes[ROUTE] = answer
        yield s


def test_papers_without_a_source_summary_get_the_endpoints_sentence_and_the_rest_keep_theirs(project, server):
    config = write_project(project, server.url + "/v1")
    report = send.run(config, now=NOW, log=quiet)
    assert report.sent >= 1 and report.exit_code == 0 and report.warnings == []
    asked = [seen.json() for seen in server.hits(ROUTE)]
    assert sorted(body["messages"][1]["content"].split("\n")[0] for body in asked) == [
        "Title: LongRead: reading long documents",
        "Title: Seer: one frame ahead",
    ]  # never the paper whose source has a summary
    assert all(body["model"] == "tiny-model" for body in asked)
    for text in texts(project, "2026-08-14"):
        assert "Endpoint sentence about LongRead and what it contributes." in text
        assert "Summed is the source's own summary of this paper." in text
        assert "TL;DR:" not in text and "**" not in text and '"Endpoint' not in text


def test_a_later_issue_and_a_preview_use_the_stored_tldrs_with_no_request(project, server):
    config = write_project(project, server.url)  # no /v1: digest adds it
    send.run(config, now=NOW, log=quiet)
    assert len(server.hits(ROUTE)) == 2
    report = send.run(config, now=NOW + timedelta(days=1), log=quiet)  # the next issue, same papers
    assert report.issues == ["2026-08-15"] and report.warnings == []
    result = preview.build(config, now=NOW + timedelta(days=1))
    assert len(server.hits(ROUTE)) == 2  # not asked again: once per paper, model and text
    card = result.builder.cards["2608.00001"]
    assert card.tldr == "Endpoint sentence about LongRead and what it contributes."


def test_a_paper_whose_abstract_changed_is_asked_about_again(project, server):
    config = write_project(project, server.url + "/v1")
    send.run(config, now=NOW, log=quiet)
    changed = [dict(p) for p in PAPERS]
    changed[1]["abstract"] = SEER + " Code is released."
    (project / "papers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in changed))
    send.run(config, now=NOW + timedelta(days=1), log=quiet)
    titles = [seen.json()["messages"][1]["content"].split("\n")[0] for seen in server.hits(ROUTE)]
    assert titles.count("Title: Seer: one frame ahead") == 2
    assert titles.count("Title: LongRead: reading long documents") == 1


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # closed again: nothing listens there


def empty(seen: Seen) -> Reply:
    return Reply(json.dumps({"choices": [{"message": {"content": "  \n "}}]}).encode())


@pytest.mark.parametrize(
    "reply, reason",
    [
        (Reply(b'{"error": "boom"}', 500), "HTTP 500"),
        (Reply(b"{}" * 10, 200, hang=True), "timed out"),
        (Reply(b"<html>not json</html>", 200, "text/html"), "bad JSON"),
        (Reply(b'{"choices": []}'), "bad JSON"),
        (empty, "empty answer"),
        (None, "connection refused"),
    ],
    ids=["500", "hang", "garbage", "no-choices", "empty", "refused"],
)
def test_an_endpoint_that_fails_leaves_the_send_complete_with_picked_sentences_and_one_warning(
    project, server, reply, reason
):
    if reply is None:
        url = refused_url()
    else:
        server.routes[ROUTE] = reply
        url = server.url + "/v1"
    config = write_project(project, url, timeout=0.5)
    report = send.run(config, now=NOW, log=quiet)
    assert report.exit_code == 0 and report.sent >= 1 and report.problems == []
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.startswith(f"summaries: {url}/chat/completions: ") and reason in warning
    assert "2 of 2 papers" in warning
    picked = tldr.pick(PAPERS[0]["title"], LONGREAD)
    assert picked.startswith("In this paper, we propose LongRead")
    for text in texts(project, "2026-08-14"):
        assert " ".join(picked.split()[:8]) in " ".join(text.split())


def test_digest_send_prints_the_warning_and_exits_0_when_the_endpoint_fails(project, cli):
    write_project(project, refused_url())
    done = cli("send", "--now", NOW.isoformat(), cwd=project)
    assert done.returncode == 0, done.stderr
    assert "warning: summaries: http://127.0.0.1:" in done.stderr and "connection refused" in done.stderr


def test_the_api_key_comes_from_the_named_environment_variable_as_a_bearer_header(
    project, server, monkeypatch
):
    monkeypatch.setenv("TINY_KEY", "sk-test-123")
    config = write_project(project, server.url + "/v1", "  api_key_env: TINY_KEY\n")
    send.run(config, now=NOW, log=quiet)
    assert {seen.headers.get("authorization") for seen in server.hits(ROUTE)} == {"Bearer sk-test-123"}
    assert "sk-test-123" not in (project / "digest.yaml").read_text()


def test_a_named_key_variable_that_is_not_set_asks_nothing_and_says_so(project, server, monkeypatch):
    monkeypatch.delenv("TINY_KEY", raising=False)
    config = write_project(project, server.url + "/v1", "  api_key_env: TINY_KEY\n")
    report = send.run(config, now=NOW, log=quiet)
    assert server.hits(ROUTE) == [] and report.exit_code == 0
    assert report.warnings and "TINY_KEY is not set" in report.warnings[0]


def test_without_an_authorization_setting_no_header_is_sent(project, server):
    send.run(write_project(project, server.url + "/v1"), now=NOW, log=quiet)
    assert all("authorization" not in seen.headers for seen in server.hits(ROUTE))


@pytest.mark.parametrize(
    "section, field",
    [
        ("summaries:\n  url: ftp://localhost/v1\n  model: m\n", "summaries.url"),
        ("summaries:\n  url: http://key:secret@localhost/v1\n  model: m\n", "summaries.url"),
        ("summaries:\n  url: http://localhost/v1\n", "summaries.model"),
        (
            "summaries:\n  url: http://localhost/v1\n  model: m\n  api_key_env: sk-abc-123\n",
            "summaries.api_key_env",
        ),
        ("summaries:\n  url: http://localhost/v1\n  model: m\n  timeout: 0\n", "summaries.timeout"),
        ("summaries:\n  url: http://localhost/v1\n  model: m\n  api_key: sk-1\n", "summaries.api_key"),
    ],
)
def test_a_bad_summaries_section_is_a_config_error_naming_the_field_and_line(project, section, field):
    path = project / "digest.yaml"
    lines = path.read_text().count("\n")
    path.write_text(path.read_text() + section)
    with pytest.raises(DigestError) as caught:
        config_mod.load(path)
    message = str(caught.value)
    assert field in message and f"{path}:" in message
    line = int(message.split(f"{path}:", 1)[1].split(":", 1)[0])
    assert line > lines  # points into the section, not at the top of the file


def test_the_endpoint_is_the_api_base_with_v1_added_when_it_is_missing():
    def endpoint(url: str) -> str:
        return config_mod.Summaries(url=url, model="m").endpoint

    assert endpoint("http://localhost:11434/v1") == "http://localhost:11434/v1/chat/completions"
    assert endpoint("http://localhost:11434/") == "http://localhost:11434/v1/chat/completions"
    assert (
        endpoint("https://api.example.org/openai/v1") == "https://api.example.org/openai/v1/chat/completions"
    )


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('"LongRead reads long documents in chunks."', "LongRead reads long documents in chunks."),
        ("TL;DR: **LongRead** reads long documents.", "LongRead reads long documents."),
        ("Summary - LongRead reads long documents.\n\nIt also does more.", "LongRead reads long documents."),
        ("<think>hmm, let me see</think>\nLongRead reads long documents.", "LongRead reads long documents."),
        ("LongRead\x00 reads\x1b long documents.\u202e", "LongRead reads long documents."),
        ("# LongRead reads long documents", "LongRead reads long documents"),
        ("   ", None),
        ("OK.", None),
    ],
)
def test_an_answer_is_cleaned_to_one_plain_line(raw, expected):
    assert clean(raw) == expected


def test_an_overlong_answer_is_cut_on_a_word_within_the_tldr_length():
    out = clean("LongRead " + "reads long documents well " * 40)
    assert out is not None and len(out) <= tldr.TLDR_CHARS and out.endswith("…")
