"""The TL;DR picker (digest/compose/tldr.py): the sentence that says what the paper does, not the
abstract's background opening; the source's own summary whenever there is one."""

from __future__ import annotations

from dataclasses import replace

from digest.compose import tldr
from digest.compose.render import card
from digest.compose.render import tldr as card_tldr
from digest.models import Paper

from .helpers_digest import hf_papers

BACKGROUND = (
    "Large language models have achieved remarkable progress in recent years. "
    "However, reasoning over long documents remains a challenge. "
    "In this paper, we propose LongRead, a retrieval method that reads documents in chunks. "
    "Experiments show gains of 5 points."
)


def test_the_sentence_proposing_the_method_is_picked_over_the_background_opening():
    picked = tldr.pick("LongRead: reading long documents", BACKGROUND)
    assert picked.startswith("In this paper, we propose LongRead")
    assert "remarkable" not in picked


def test_an_abstract_without_any_cue_shows_its_first_sentence_that_is_not_background():
    abstract = "However, nothing works. Models fail on long inputs. Results are mixed."
    assert tldr.pick("Untitled", abstract).startswith("Models fail on long inputs.")


def test_a_short_picked_sentence_takes_the_next_one_with_it_and_a_long_one_is_cut_on_a_word():
    assert tldr.pick("t", "Background is big. We propose X. It is fast.") == "We propose X. It is fast."
    long = "We propose " + "a very long method name " * 30 + "that works."
    out = tldr.pick("t", long)
    assert len(out) <= tldr.TLDR_CHARS and out.endswith("…") and not out[:-1].endswith(" ")


def test_an_opener_leaning_on_the_sentence_before_is_dropped_and_the_rest_capitalised():
    background = "Models forget what they read. "
    cases = {
        "Building upon this premise, we introduce Recall, a memory.": "We introduce Recall, a memory.",
        "Hence, in this work, we introduce Recall, a memory.": "In this work, we introduce Recall, a memory.",
        "To bridge this gap, we propose Recall, a memory.": "We propose Recall, a memory.",
        # the rule, not a list of these three: any connective, any phrase pointing back
        "Consequently, we present Recall, a memory.": "We present Recall, a memory.",
        "Motivated by these failures, we design Recall, a memory.": "We design Recall, a memory.",
        "Moreover, to address such forgetting, our method Recall adds a memory.": (
            "Our method Recall adds a memory."
        ),
        "Leveraging this insight, Recall-2 is proposed as a memory.": "Recall-2 is proposed as a memory.",
    }
    for sentence, standalone in cases.items():
        assert tldr.pick("Recall: remembering", background + sentence) == standalone
    kept = (
        "In this paper, we propose Recall, a memory.",  # points at the paper itself
        "This is hard, so we propose Recall, a memory.",  # a clause of its own, not an opener
        "Given a document, we propose Recall, a memory.",  # introduces something new
    )
    for sentence in kept:
        assert tldr.pick("Recall: remembering", background + sentence) == sentence


def test_only_the_opening_of_a_huge_abstract_is_read():
    abstract = "Background has achieved remarkable results. " * 400 + "We propose the hidden gem."
    assert "hidden gem" not in tldr.pick("t", abstract)


def test_on_recorded_abstracts_the_picker_skips_the_background_opening_for_the_contribution(shared_fixtures):
    papers = hf_papers(shared_fixtures, "2026-08-05")
    moved = 0
    for paper in papers:
        first = tldr.sentences(paper.abstract)[0]
        picked = tldr.pick(paper.title, paper.abstract)
        if not picked.startswith(first[:40]):
            moved += 1
            name = tldr.method_name(paper.title) or "\0"  # "PosterMELD: ..." -> "PosterMELD is ..."
            cues = ("we ", "this paper", "this work", "our ")
            assert name in picked or any(cue in picked.lower() for cue in cues)
    # The recorded day: most abstracts open with background ("... increasingly evaluated ...").
    assert moved >= len(papers) // 2
    merchant = next(p for p in papers if p.id == "2607.28956")
    assert card_tldr(merchant).startswith("We introduce MerchantBench")


def test_the_source_summary_is_kept_when_there_is_one(shared_fixtures):
    paper = next(p for p in hf_papers(shared_fixtures) if p.summary)
    assert card(paper).tldr == tldr.opening(paper.summary)
    assert card(paper, written_tldr="An endpoint's sentence.").tldr == tldr.opening(paper.summary)
    without = replace(paper, summary=None)
    assert card(without).tldr == tldr.pick(paper.title, paper.abstract)


def test_a_written_tldr_comes_before_the_picked_sentence_and_is_cleaned():
    paper = Paper(id="x", title="t", abstract=BACKGROUND)
    assert card(paper, written_tldr="It <b>reads</b> long documents.").tldr == "It reads long documents."


def test_the_eval_figure_beats_the_first_sentence(shared_fixtures):
    from eval import tldr as evaluation

    result = evaluation.measure(evaluation.load(shared_fixtures / "hf_daily_papers"))
    assert result["papers"] >= 50
    assert result["picked"] > 2 * result["first"]
