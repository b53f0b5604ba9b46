"""Readers who get the same email but for their address and links share one rendered body
(digest/compose/splice.py, build.Shared); every message is still byte for byte the one made for
that reader alone."""

from __future__ import annotations

from email import message_from_bytes, policy

from digest.models import Subscriber
from digest.sources import file as file_source

from .conftest import ROOT
from .helpers_digest import builder


def sample_papers():
    return file_source.read(ROOT / "samples" / "papers.jsonl")


def _readers() -> list[Subscriber]:
    """Same-length addresses (they share), others, mixed case, a name, a long one."""
    out = [Subscriber(email=f"reader{i:03d}@example.org") for i in range(6)]
    out += [Subscriber(email=f"Reader{i:03d}@Example.org", name="Ada Lovelace") for i in range(3)]
    out += [Subscriber(email="x@example.org"), Subscriber(email="y@example.org")]
    out += [Subscriber(email="someone.with.a.very.long.address.indeed+news@example.org")] * 2
    out += [Subscriber(email=f"kw{i}@example.org", keywords=["retrieval"]) for i in range(3)]
    return out


def test_a_message_built_from_a_shared_body_is_the_bytes_of_one_built_alone():
    shared, alone = builder(sample_papers()), builder(sample_papers())
    for reader in _readers():
        picks = shared.picks(reader)
        fast = shared.message(reader, picks)
        slow = alone.alone(reader, picks)
        assert fast.raw == slow.raw, reader.email
        assert fast.picks == slow.picks
    # The six reader000..005 share one body, and so on: nine bodies were rendered for 16.
    assert sum(body is not None for body in shared.shared.bodies.values()) >= 4


def test_shared_bodies_carry_each_readers_own_links_and_address():
    b = builder(sample_papers())
    readers = [Subscriber(email=f"reader{i:03d}@example.org") for i in range(3)]
    messages = [b.message(r, b.picks(r)) for r in readers]
    assert any(b.shared.bodies.values())
    texts = [
        message_from_bytes(m.raw, policy=policy.default).get_body(("plain",)).get_content() for m in messages
    ]
    for reader, text, message in zip(readers, texts, messages, strict=True):
        assert reader.email in text
        assert b.unsubscribe_url(reader.email) in text
        assert all(other.email not in text for other in readers if other is not reader)
        assert message.envelope.unsubscribe_url == b.unsubscribe_url(reader.email)


def test_templates_reading_more_of_the_reader_share_only_between_identical_entries(tmp_path):
    (tmp_path / "digest.txt.j2").write_text("{{ v.reader.name }} {{ v.reader.email | upper }}\n")
    b = builder(sample_papers(), templates=tmp_path)
    assert not b.renderer.reads_only_address
    readers = [Subscriber(email=f"reader{i:03d}@example.org", name=n) for i, n in enumerate("AABB")]
    for reader in readers:
        picks = b.picks(reader)
        assert (
            b.message(reader, picks).raw
            == builder(sample_papers(), templates=tmp_path).alone(reader, picks).raw
        )
    assert not b.shared.on  # `| upper` transforms the address: found once, never shared


def test_readers_who_follow_a_lab_get_their_own_pinned_section_not_a_shared_body_without_it(
    shared_fixtures,
):
    from .helpers_digest import hf_papers

    papers = hf_papers(shared_fixtures, "2026-08-13")
    assert any(p.organization == "CASIA-IVA-Lab" for p in papers)
    plain = [Subscriber(email=f"reader{i:03d}@example.org") for i in range(3)]
    following = [Subscriber(email=f"follow{i:03d}@example.org", follow=["casia-iva-lab"]) for i in range(3)]
    shared, alone = builder(papers), builder(papers)
    for reader in [*plain, *following]:
        picks = shared.picks(reader)
        assert shared.message(reader, picks).raw == alone.alone(reader, picks).raw, reader.email
    texts = [shared.message(r, shared.picks(r)).rendered.text for r in (plain[0], following[0])]
    assert "FROM THE LABS YOU FOLLOW" not in texts[0] and "FROM THE LABS YOU FOLLOW" in texts[1]
