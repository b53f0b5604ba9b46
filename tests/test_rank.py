"""Ranking on handmade cases: the blend, word matching, exclusions, history, caps, reasons."""

from datetime import UTC, date, datetime, timedelta

import pytest

from digest.issue import rank
from digest.models import Issue, Paper, Subscriber, Theme

NOW = datetime(2026, 8, 12, 7, 0, tzinfo=UTC)


def paper(pid, title, abstract="", *, upvotes=None, position=None, authors=(), age_hours=1, **extra):
    return Paper(
        id=pid,
        title=title,
        abstract=abstract,
        authors=list(authors),
        upvotes=upvotes,
        position=position,
        submitted=(NOW - timedelta(hours=age_hours)).isoformat(),
        **extra,
    )


def issue_of(papers, themes=None, fit=None, topics=None):
    return Issue(
        id="2026-08-12",
        date=date(2026, 8, 12),
        papers=papers,
        themes=themes or [],
        built_at=NOW,
        fit=fit or {},
        topics=topics or {},
    )


def picks_for(papers, reader, already_sent=frozenset(), **options):
    opts = rank.Options(**options)
    prepared = rank.prepare(issue_of(papers), NOW, opts)
    return rank.select(prepared, reader, opts, frozenset(already_sent))


def ids(picks):
    return [p.paper.id for p in picks]


def popular_and_followed():
    return [
        paper("1", "A blockbuster vision model", "Everyone loves images.", upvotes=300, position=1),
        paper(
            "2",
            "A quiet note on sparse retrieval",
            "Small study.",
            upvotes=1,
            position=30,
            authors=["Jane Doe"],
        ),
    ]


def test_followed_author_beats_a_popular_off_topic_paper_when_relevance_weighs_enough():
    reader = Subscriber(email="r@example.org", authors=["Jane Doe"])
    assert ids(picks_for(popular_and_followed(), reader, relevance_weight=0.6))[0] == "2"


def test_popular_paper_wins_when_the_blend_leans_on_trending():
    reader = Subscriber(email="r@example.org", authors=["Jane Doe"])
    assert ids(picks_for(popular_and_followed(), reader, relevance_weight=0.2))[0] == "1"


def test_reader_without_preferences_gets_the_trending_order():
    papers = [
        paper("a", "Third", upvotes=3, position=3),
        paper("b", "First", upvotes=90, position=1),
        paper("c", "Second", upvotes=40, position=2),
    ]
    assert ids(picks_for(papers, Subscriber(email="r@example.org"), min_score=0)) == ["b", "c", "a"]


def test_excluded_term_removes_a_paper_however_it_is_written():
    papers = [
        paper("1", "Biomedical Tokenizers for clinical notes", upvotes=100, position=1),
        paper("2", "Tokenizers for code", upvotes=10, position=2),
        paper("3", "A survey", "We review BIOMEDICAL-domain models.", upvotes=50, position=3),
    ]
    reader = Subscriber(email="r@example.org", keywords=["tokenizer"], exclude=["biomedical"])
    assert ids(picks_for(papers, reader, min_score=0)) == ["2"]


def test_exclusion_matches_whole_words_only():
    papers = [paper("1", "Fragment assembly with transformers", upvotes=5, position=1)]
    reader = Subscriber(email="r@example.org", exclude=["rag"])
    assert ids(picks_for(papers, reader, min_score=0)) == ["1"]


def test_keywords_match_plurals_and_hyphen_spellings_on_word_boundaries():
    papers = [
        paper("1", "Fragmented memories in agents", upvotes=5, position=1),
        paper("2", "RAG for long documents", upvotes=5, position=2),
        paper("3", "Pretraining tokenizers", upvotes=5, position=3),
    ]
    prepared = rank.prepare(issue_of(papers), NOW)
    reader = Subscriber(email="r@example.org", keywords=["rag", "pre-training", "tokenizer"])
    scored = {s.paper.id: s for s in rank.score_all(prepared, reader)}
    assert scored["1"].relevance == 0
    assert scored["2"].reason == "matches: rag"
    assert scored["3"].reason == "matches: pre-training, tokenizer"


def test_a_keyword_in_the_title_outranks_the_same_keyword_deep_in_an_abstract():
    filler = "We study many things about models and data at length. " * 8
    papers = [
        paper("abstract", "Efficient training at scale", filler + "One part uses distillation.", position=1),
        paper("title", "Distillation for small models", filler, position=2),
    ]
    reader = Subscriber(email="r@example.org", keywords=["distillation"])
    picks = picks_for(papers, reader, relevance_weight=1.0, min_score=0)
    assert ids(picks) == ["title", "abstract"]
    assert picks[0].relevance > picks[1].relevance > 0


def test_a_paper_already_sent_is_skipped_by_its_version_less_id():
    papers = [
        paper("2608.12313", "Sparse tokenizers", upvotes=50, position=1),
        paper("2", "Other", position=2),
    ]
    reader = Subscriber(email="r@example.org")
    assert ids(picks_for(papers, reader, already_sent={"2608.12313"}, min_score=0)) == ["2"]


def test_author_names_match_despite_accents_case_dots_and_initials():
    papers = [
        paper("1", "One", authors=["José-Luis Pérez"], position=1),
        paper("2", "Two", authors=["Jane Q. Doe"], position=2),
        paper("3", "Three", authors=["Jane Doe"], position=3),
        paper("4", "Four", authors=["John Doe"], position=4),
    ]
    prepared = rank.prepare(issue_of(papers), NOW)
    reader = Subscriber(email="r@example.org", authors=["jose luis perez", "J. Doe"])
    reasons = {s.paper.id: s.reason for s in rank.score_all(prepared, reader)}
    assert reasons["1"] == "you follow: jose luis perez"
    assert reasons["3"] == "you follow: J. Doe"
    # "J. Doe" is both Jane Doe and John Doe: an initial cannot tell them apart.
    assert reasons["4"] == "you follow: J. Doe"
    # A middle initial is part of the name as written; "Jane Q. Doe" is a different string of words.
    assert reasons["2"] is None


def test_full_name_never_matches_a_different_given_name():
    papers = [paper("1", "One", authors=["John Doe"], position=1)]
    prepared = rank.prepare(issue_of(papers), NOW)
    reader = Subscriber(email="r@example.org", authors=["Jane Doe"])
    assert rank.score_all(prepared, reader)[0].reason is None


def test_followed_organisation_and_category_count_and_are_named_in_the_reason():
    papers = [
        paper("1", "One", position=1, organization="Google DeepMind", categories=["cs.CL", "cs.LG"]),
        paper("2", "Two", position=2, organization="Deep Minders Inc"),
    ]
    prepared = rank.prepare(issue_of(papers), NOW)
    reader = Subscriber(email="r@example.org", organizations=["DeepMind"], categories=["cs"])
    scored = {s.paper.id: s for s in rank.score_all(prepared, reader)}
    assert scored["1"].reason == "you follow: Google DeepMind; category: cs.CL"
    assert scored["2"].relevance == 0


def test_followed_topic_lifts_papers_that_fit_it_even_outside_its_theme():
    papers = [paper("1", "A", position=1), paper("2", "B", position=2), paper("3", "C", position=3)]
    themes = [Theme("Retrieval and search", [papers[0]], "retrieval"), Theme("Agents", papers[1:], "agents")]
    fit = {"1": {"retrieval": 0.8}, "2": {"retrieval": 0.6, "agents": 0.7}, "3": {"agents": 0.9}}
    issue = issue_of(papers, themes, fit, {"retrieval": "Retrieval and search", "agents": "Agents"})
    prepared = rank.prepare(issue, NOW)
    reader = Subscriber(email="r@example.org", topics=["Retrieval and Search"])
    scored = {s.paper.id: s for s in rank.score_all(prepared, reader, rank.Options(min_score=0))}
    assert scored["1"].relevance > scored["2"].relevance > scored["3"].relevance == 0
    assert scored["2"].reason == "your topic: Retrieval and search"


def test_thin_day_makes_a_short_digest_not_a_padded_one():
    papers = [paper(str(i), f"Paper {i}", upvotes=1, position=i) for i in range(1, 21)]
    picks = picks_for(papers, Subscriber(email="r@example.org"), min_score=0.1)
    assert 0 < len(picks) < 20
    assert all(p.score >= 0.1 for p in picks)


def test_a_full_theme_gives_way_to_other_themes_first_and_then_fills_only_the_room_they_leave():
    papers = [paper(str(i), f"Agents {i}", upvotes=100 - i, position=i) for i in range(1, 9)]
    papers += [paper("v", "A vision paper", upvotes=1, position=9)]
    themes = [Theme("Agents", papers[:8], "agents"), Theme("Computer vision", papers[8:], "vision")]
    reader = Subscriber(email="r@example.org")
    spread = rank.Options(max_per_theme=3, min_score=0, max_papers=4)
    prepared = rank.prepare(issue_of(papers, themes), NOW, spread)
    picks = rank.select(prepared, reader, spread)
    assert ids(picks) == ["1", "2", "3", "v"]  # the weakest paper beats a fourth agents paper
    assert [s.label for s in rank.sections(prepared, picks)] == ["Agents", "Computer vision"]
    # a day of few themes still fills the reader's digest once every theme had its turn
    roomy = rank.Options(max_per_theme=3, min_score=0, max_papers=6)
    assert ids(rank.select(rank.prepare(issue_of(papers, themes), NOW, roomy), reader, roomy)) == [
        "1", "2", "3", "4", "5", "v"
    ]  # fmt: skip


def test_max_papers_comes_from_the_reader_first_then_the_options():
    papers = [paper(str(i), f"P {i}", upvotes=50, position=i) for i in range(1, 11)]
    assert len(picks_for(papers, Subscriber(email="r@example.org", max_papers=3), min_score=0)) == 3
    assert len(picks_for(papers, Subscriber(email="r@example.org"), min_score=0, max_papers=5)) == 5


def test_trending_rewards_engagement_and_decays_with_age():
    fresh = paper("fresh", "F", upvotes=20, position=1, age_hours=0)
    old = paper("old", "O", upvotes=20, position=1, age_hours=72)
    scores = rank.trending_scores([fresh, old], NOW, half_life_hours=72)
    assert scores["old"] == pytest.approx(scores["fresh"] / 2)
    more = rank.trending_scores(
        [paper("a", "A", upvotes=80, position=1), paper("b", "B", upvotes=5, position=1)], NOW
    )
    assert more["a"] > more["b"]


def test_a_thin_days_best_paper_scores_below_one_but_a_listing_without_figures_keeps_its_order():
    thin = rank.trending_scores([paper("a", "A", upvotes=3, position=1)], NOW)
    assert thin["a"] < 0.6
    arxiv = rank.trending_scores([paper("x", "X", position=1), paper("y", "Y", position=4)], NOW)
    assert arxiv == {"x": 1.0, "y": 0.5}


def test_explanation_gives_every_paper_a_status():
    papers = [
        paper("1", "Tokenizers", upvotes=50, position=1),
        paper("2", "Biomedical tokenizers", upvotes=40, position=2),
        paper("3", "Seen before", upvotes=30, position=3),
        paper("4", "Obscure", upvotes=0, position=40),
    ]
    prepared = rank.prepare(issue_of(papers), NOW)
    reader = Subscriber(email="r@example.org", keywords=["tokenizer"], exclude=["biomedical"])
    status = {s.paper.id: s.status for s in rank.score_all(prepared, reader, already_sent=frozenset({"3"}))}
    assert status == {
        "1": "picked #1",
        "2": "excluded: biomedical",
        "3": "already sent",
        "4": "below min score",
    }
