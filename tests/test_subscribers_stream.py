"""`digest send` reads the list streamed, one entry at a time, so 20,000 readers cost no more
memory than 2,000. Streamed or read whole, it must say exactly the same: the same readers,
the same values, the same problems with the same lines."""

from __future__ import annotations

import pytest

from digest.errors import DigestError
from digest.store import yamllist as subscribers

LISTS = {
    "plain": """subscribers:
  - email: ada@example.org
    name: Ada Lovelace
    send_at: "07:30"
    keywords: [agents, "retrieval"]
  - email: GRACE@example.org   # a comment
    timezone: Asia/Tokyo
    max_papers: 5
    status: bounced
""",
    "YAML 1.1 values": """subscribers:
  - email: a@example.org
    send_at: 07:00
    name: yes
  - email: b@example.org
    send_at: 7:05
    max_papers: 0x10
""",
    "problems": """subscribers:
  - email: not-an-address
  - email: b@example.org
    timezone: Mars/Olympus
    colour: blue
  - just a string
  - email: c@example.org
    topics: [knitting]
  - email: d@example.org
  - email: D@example.org
""",
    "anchors and merge keys": """subscribers:
  - &base
    email: a@example.org
    keywords: [agents]
  - <<: *base
    email: b@example.org
""",
    "another top-level key": """subscribers:
  - email: a@example.org
extra: 1
""",
    "empty file": "",
    "no list": "subscribers:\n",
    "flow style": "subscribers: [{email: a@example.org}, {email: b@example.org, max_papers: 3}]\n",
    "not a list": "subscribers:\n  email: a@example.org\n",
}


@pytest.mark.parametrize("name", LISTS)
def test_streamed_and_whole_readings_agree(tmp_path, name):
    path = tmp_path / "subscribers.yaml"
    path.write_text(LISTS[name])
    whole = subscribers.check(path)
    assert subscribers.scan(path) == whole.problems
    assert list(subscribers.stream(path)) == whole.subscribers


def test_every_problem_is_found_with_its_line_when_streamed(tmp_path):
    path = tmp_path / "subscribers.yaml"
    path.write_text(LISTS["problems"])
    problems = subscribers.scan(path)
    assert any(p.startswith(f"{path}:2: entry 1 (not-an-address): email") for p in problems)
    assert any(f"{path}:4:" in p and "Mars/Olympus" in p for p in problems)
    assert any(f"{path}:5:" in p and "unknown field 'colour'" in p for p in problems)
    assert any(f"{path}:6: entry 3: expected a mapping" in p for p in problems)
    assert any(f"{path}:8: entry 4 (c@example.org): unknown topic(s) 'knitting'" in p for p in problems)
    assert any(
        f"{path}:10: entry 6 (D@example.org): duplicate address, already listed at line 9" in p
        for p in problems
    )
    assert len(problems) == 6


def test_a_syntax_error_names_the_line_when_streamed(tmp_path):
    path = tmp_path / "subscribers.yaml"
    path.write_text("subscribers:\n  - email: a@example.org\n  - email: [b@example.org\n")
    with pytest.raises(DigestError) as streamed:
        subscribers.scan(path)
    with pytest.raises(DigestError) as whole:
        subscribers.check(path)
    assert streamed.value.problems == whole.value.problems
    assert streamed.value.problems[0].startswith(f"{path}:4:")
