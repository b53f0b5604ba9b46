import json
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.models import arxiv_id, title_id
from digest.sources import file as file_source
from digest.sources import merge
from digest.sources.jsonlines import paper_from_dict

from .conftest import FIXTURES, ROOT


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2403.12345v2", "2403.12345"),
        ("2403.12345", "2403.12345"),
        ("arXiv:2403.12345v11", "2403.12345"),
        ("https://arxiv.org/abs/2403.12345v3", "2403.12345"),
        ("https://arxiv.org/pdf/2403.12345v1.pdf", "2403.12345"),
        ("0704.0001", "0704.0001"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("not an id", None),
        ("12345.6789", None),
    ],
)
def test_arxiv_ids_lose_their_version(raw, expected):
    assert arxiv_id(raw) == expected


def test_title_ids_ignore_case_and_punctuation_but_not_words():
    assert title_id("Zero-Shot Tokenizer Transfer") == title_id("zero shot  tokenizer transfer!")
    assert title_id("Zero-Shot Tokenizer Transfer") != title_id("Zero-Shot Tokenizer Transfers")


def test_json_line_needs_only_title_and_abstract_and_keeps_its_id_versionless():
    paper = paper_from_dict({"id": "2608.12313v2", "title": "T\n  x", "abstract": "A"}, position=4)
    assert (paper.id, paper.title, paper.position) == ("2608.12313", "T x", 4)
    no_id = paper_from_dict({"title": "Only a title", "abstract": "A"})
    assert no_id.id == title_id("Only a title")


def test_bad_json_lines_are_all_reported_with_their_line_numbers():
    with pytest.raises(DigestError) as caught:
        file_source.read(FIXTURES / "papers_bad.jsonl")
    problems = "\n".join(caught.value.problems)
    assert "papers_bad.jsonl:2: field 'title' is missing or empty" in problems
    assert "papers_bad.jsonl:3: not valid JSON" in problems
    assert "papers_bad.jsonl:4: field 'authors' must be a list of strings" in problems
    assert ":1:" not in problems


def test_a_line_that_is_not_utf8_is_reported_with_its_number(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"title": "T", "abstract": "A"}\n{"title": "Caf\xe9", "abstract": "A"}\n')
    with pytest.raises(DigestError) as caught:
        file_source.read(path)
    assert caught.value.problems == [f"{path}:2: not UTF-8 text; save the file as UTF-8"]


def test_shipped_sample_keeps_the_seed_pages_order_with_arxiv_ids_authors_and_sample_signals():
    papers = file_source.read(ROOT / "samples" / "papers.jsonl")
    assert len(papers) == 49
    assert papers[0].title == "Large Language Models Are Strong Audio-Visual Speech Recognition Learners"
    assert papers[0].id == "2409.12319" and papers[0].authors[0] == "Umberto Cappellazzo"
    assert [p.position for p in papers] == list(range(1, 50))
    # real arXiv ids and authors; upvotes (and some comments, stars) are sample data; no URL
    # is made up: links come from the id
    assert all(arxiv_id(p.id) == p.id and p.authors and p.upvotes and p.url is None for p in papers)
    assert len({p.id for p in papers}) == 49


def test_hf_response_is_normalised_field_by_field():
    first, old = file_source.read(FIXTURES / "hf_small.json")
    assert first.id == "2608.12313"
    assert first.title == "Sparse Retrieval Tokenizers for Long Documents"
    assert first.authors == ["Jane Doe", "Ravi Kumar", "Mei Chen", "Tomás Silva"]
    assert first.organization == "Example Lab"
    assert (first.upvotes, first.comments, first.stars) == (42, 3, 310)
    assert first.code_url == "https://github.com/example/sparse-tok"
    assert first.summary.startswith("Tokenizers built")
    assert first.keywords == ["sparse retrieval", "tokenizer", "long documents"]
    assert first.url == "https://huggingface.co/papers/2608.12313"
    assert first.pdf_url == "https://arxiv.org/pdf/2608.12313"
    assert first.position == 1
    # 2024 shape: mediaUrl instead of thumbnail, no comments key in paper
    assert old.thumbnail.endswith("example.png")
    assert (old.upvotes, old.comments, old.summary) == (7, 0, None)


def test_every_recorded_hf_day_normalises(shared_fixtures: Path):
    days = sorted((shared_fixtures / "hf_daily_papers").glob("*.json"))
    assert len(days) >= 14
    for day in days:
        entries = json.loads(day.read_text())
        papers = file_source.read(day)
        assert len(papers) == len(entries), day.name
        for paper in papers:
            assert arxiv_id(paper.id) == paper.id, (day.name, paper.id)
            assert paper.title and paper.abstract and paper.authors, (day.name, paper.id)
            assert paper.upvotes is not None


def test_merge_combines_signals_from_each_source():
    a = paper_from_dict(
        {"id": "2401.00001v1", "title": "T", "abstract": "A", "upvotes": 5, "sources": ["hf"], "position": 3}
    )
    b = paper_from_dict(
        {
            "id": "2401.00001v2",
            "title": "T (arXiv)",
            "abstract": "A",
            "categories": ["cs.CL"],
            "sources": ["arxiv"],
            "position": 1,
        }
    )
    (merged,) = merge([[a], [b]])
    assert merged.title == "T"
    assert (merged.upvotes, merged.categories, merged.sources, merged.position) == (
        5,
        ["cs.CL"],
        ["hf", "arxiv"],
        1,
    )
