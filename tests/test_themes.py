"""Themes: readable labels, a scannable number of groups, the taxonomy and how to change it."""

import json
import re
import statistics
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.issue import themes
from digest.models import Paper
from digest.sources import file as file_source
from digest.util.text import Fields, phrase

from .conftest import ROOT

NOON = "2026-08-14T12:00:00+00:00"  # every shipped reader's send time has passed; one date for all

# What a reader must never see as a heading: a bare number, or a word and a number.
MACHINE_LABEL = re.compile(r"^\W*(cluster|group|other|topic|theme)?\s*\d+\W*$", re.IGNORECASE)


def readable(label: str) -> bool:
    return (
        bool(re.search(r"[A-Za-z]{3,}", label)) and not MACHINE_LABEL.match(label) and label == label.strip()
    )


def hf_days(shared: Path) -> list[Path]:
    return sorted((shared / "hf_daily_papers").glob("*.json"))


def paper(pid: str, title: str, abstract: str = "", **extra) -> Paper:
    return Paper(id=pid, title=title, abstract=abstract, **extra)


def test_built_in_taxonomy_has_12_to_20_described_themes_with_unique_keys():
    topics = themes.load_taxonomy()
    assert 12 <= len(topics) <= 20
    assert len({t.key for t in topics}) == len(topics)
    assert all(t.label and t.description and t.keywords for t in topics)


def test_every_recorded_hf_day_gives_a_few_themes_of_two_papers_or_more(shared_fixtures):
    counts = []
    for path in hf_days(shared_fixtures):
        grouped = themes.group(file_source.read(path), themes.load_taxonomy())
        named = [t for t in grouped if t.key != themes.MORE_KEY]
        assert 2 <= len(named) <= themes.MAX_THEMES, (path.name, [t.label for t in grouped])
        assert all(len(t.papers) >= 2 for t in named), path.name
        assert all(readable(t.label) for t in grouped), (path.name, [t.label for t in grouped])
        counts.append(len(named))
    assert 3 <= statistics.median(counts) <= 7


def test_themes_are_ordered_by_strength_and_hold_every_paper_once(shared_fixtures):
    papers = file_source.read(shared_fixtures / "hf_daily_papers" / "2026-08-12.json")
    grouped = themes.group(papers, themes.load_taxonomy())
    assert sorted(p.id for t in grouped for p in t.papers) == sorted(p.id for p in papers)
    named = [t for t in grouped if t.key != themes.MORE_KEY]
    strength = [sum(1 / p.position**0.5 for p in t.papers) for t in named]
    assert strength == sorted(strength, reverse=True)


def test_papers_go_to_the_theme_their_words_name():
    # Each paper names its theme by several of the theme's keywords: one or two common words
    # are no longer enough (issue 24: "code" or "signal" named physics papers wrongly).
    papers = [
        paper("s1", "Streaming speech recognition with small models", "ASR on device for voice commands."),
        paper("s2", "Expressive text-to-speech", "A TTS system for many voices and speakers."),
        paper("r1", "Dexterous robot manipulation from video", "A robotic hand learns grasping."),
        paper("r2", "Legged locomotion on rough terrain", "Quadruped robots walk with a learned controller."),
    ]
    grouped = {t.label: sorted(p.id for p in t.papers) for t in themes.group(papers, themes.load_taxonomy())}
    assert grouped == {"Speech and audio": ["s1", "s2"], "Robotics and embodied AI": ["r1", "r2"]}


def test_papers_no_theme_names_form_a_group_labelled_by_their_own_words():
    speech = themes.ThemeSpec(key="speech", label="Speech", keywords=["speech", "audio"])
    topics = themes.load_taxonomy(custom=[speech], replace=True)
    papers = [
        paper("s1", "Speech codecs", "Audio compression for speech."),
        paper("s2", "Speech enhancement", "Cleaner speech audio."),
        paper("c1", "Coral reef bleaching from satellite data", "We map coral reef bleaching events."),
        paper("c2", "Predicting coral reef bleaching", "Ocean heat and coral reef bleaching risk."),
        paper("c3", "Coral reef recovery after bleaching", "Reefs recover slowly from coral bleaching."),
    ]
    grouped = themes.group(papers, topics)
    labels = {t.label: sorted(p.id for p in t.papers) for t in grouped}
    coral = [label for label in labels if "coral" in label.lower()]
    assert coral and labels[coral[0]] == ["c1", "c2", "c3"], labels
    assert labels["Speech"] == ["s1", "s2"]
    assert all(readable(label) for label in labels)


def test_a_day_on_one_subject_still_gets_several_named_themes_none_taking_over():
    # 49 papers on pre-training: the old grouping put most under "Language models" and then
    # split it; the clustering now picks enough themes that none holds over a third of the day.
    papers = file_source.read(ROOT / "samples" / "papers.jsonl")
    grouped = themes.group(papers, themes.load_taxonomy())
    named = [t for t in grouped if t.key != themes.MORE_KEY]
    assert 4 <= len(named) <= themes.MAX_THEMES
    assert max(len(t.papers) for t in grouped) <= len(papers) / 3
    assert len({t.label for t in grouped}) == len(grouped)
    assert all(readable(t.label) for t in grouped), [t.label for t in grouped]


def test_theme_fit_is_reported_for_readers_topics():
    papers = [
        paper("1", "Dense retrieval with learned tokenizers", "Retrieval of documents."),
        paper("2", "Robot grasping", "A robot."),
    ]
    fit = themes.assign(papers, themes.load_taxonomy()).fit
    assert fit["1"]["retrieval"] > 0.5
    assert fit["2"].get("retrieval", 0) == 0


def test_arxiv_categories_count_as_evidence_when_a_source_gives_them():
    plain = paper("1", "A study of things", "Some words.")
    tagged = paper("2", "A study of things", "Some words.", categories=["cs.RO", "cs.LG"])
    evidence = themes.keyword_evidence([plain, tagged], themes.load_taxonomy())
    robotics = [t.key for t in themes.load_taxonomy()].index("robotics")
    assert evidence[0][robotics] == 0 and evidence[1][robotics] >= themes.PRIMARY_CATEGORY_EVIDENCE


def test_custom_themes_extend_or_replace_the_taxonomy():
    quantum = themes.ThemeSpec(
        key="quantum", label="Quantum computing", keywords=["qubit", "quantum circuit"]
    )
    vision = themes.ThemeSpec(key="vision", label="Seeing machines", keywords=["image"])
    extended = themes.load_taxonomy(custom=[quantum, vision])
    assert [t.label for t in extended if t.key in ("quantum", "vision")] == [
        "Seeing machines",
        "Quantum computing",
    ]
    assert len(extended) == len(themes.load_taxonomy()) + 1
    assert [t.key for t in themes.load_taxonomy(custom=[quantum], replace=True)] == ["quantum"]


def test_a_broken_taxonomy_file_names_the_line_and_field(tmp_path):
    bad = tmp_path / "taxonomy.yaml"
    bad.write_text(
        "themes:\n  - key: ok\n    label: OK\n    keywords: [a]\n  - key: nolabel\n    keywords: [b]\n"
    )
    with pytest.raises(DigestError) as caught:
        themes.load_taxonomy(bad)
    assert f"{bad}:5: themes[1].label: Field required" in caught.value.problems[0]


def test_hyphens_and_plurals_are_spelling_not_meaning():
    fields = Fields.of(
        {"t": "Pre-training, pretraining and pre training of Vision-Language Models"}, {"t": 1.0}
    )
    assert fields.count(phrase("pre-training")) == 3
    assert fields.count(phrase("vision language model")) == 1
    assert fields.count(phrase("model")) == 1
    assert fields.count(phrase("rag")) == 0


def test_themes_command_prints_json_with_configured_custom_themes(tmp_path, cli):
    quantum = [
        {"id": f"q{i}", "title": f"Qubit routing {i}", "abstract": "Quantum circuits on qubits."}
        for i in range(3)
    ]
    speech = [
        {"id": f"s{i}", "title": f"Speech codecs {i}", "abstract": "Audio codecs for speech and voice."}
        for i in range(3)
    ]
    (tmp_path / "papers.jsonl").write_text("\n".join(json.dumps(p) for p in quantum + speech))
    (tmp_path / "digest.yaml").write_text(
        "sources:\n  - kind: file\n    path: papers.jsonl\nthemes:\n  custom:\n"
        "    - key: quantum\n      label: Quantum computing\n      keywords: [qubit, quantum circuit]\n"
    )
    result = cli("themes", "--papers", "papers.jsonl", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "themes": [
            {"label": "Quantum computing", "papers": ["q0", "q1", "q2"]},
            {"label": "Speech and audio", "papers": ["s0", "s1", "s2"]},
        ]
    }


def test_replace_without_custom_themes_is_a_config_error_naming_the_line(tmp_path, cli):
    (tmp_path / "p.jsonl").write_text('{"title": "T", "abstract": "A"}\n')
    (tmp_path / "digest.yaml").write_text(
        "sources:\n  - kind: file\n    path: p.jsonl\nthemes:\n  replace: true\n"
    )
    result = cli("themes", "--papers", "p.jsonl", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        "digest.yaml:4: themes:" in result.stderr
        and "replace: true needs themes under custom:" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_labels_made_from_papers_words_are_readable_and_never_repeat_a_word(shared_fixtures):
    from eval import themes as evaluation

    built_in = {t.label for t in themes.load_taxonomy()} | {themes.MORE_LABEL}
    made = set()
    for name, draw in (
        ("arxiv_labeled_dev.jsonl", evaluation.digest_sized),
        ("arxiv_api_explicit_primary.jsonl", evaluation.anywhere),
    ):
        papers, labels = evaluation.load(shared_fixtures / "labeled" / name)
        for sample in draw(papers, labels, 20, 0):
            made |= {t.label for t in themes.group(sample.papers, themes.load_taxonomy())} - built_in
    assert made  # these samples do produce data-driven groups and sub-themes
    for label in made:
        words = label.split(": ", 1)[-1].lower().replace(" and ", " ").split()
        assert readable(label) and len(words) == len(set(words)), label


def test_readers_may_follow_a_custom_theme_and_the_list_check_knows_it(tmp_path, cli):
    (tmp_path / "p.jsonl").write_text('{"title": "T", "abstract": "A"}\n')
    base = "sources:\n  - kind: file\n    path: p.jsonl\n"
    custom = (
        "themes:\n  custom:\n    - key: quantum\n      label: Quantum computing\n      keywords: [qubit]\n"
    )
    (tmp_path / "subscribers.yaml").write_text(
        "subscribers:\n  - email: a@example.org\n    topics: [quantum, Retrieval and search]\n"
    )
    (tmp_path / "digest.yaml").write_text(base)
    without = cli("subscribers", "--check", cwd=tmp_path)
    assert without.returncode == 2 and "unknown topic(s) 'quantum'" in without.stderr
    (tmp_path / "digest.yaml").write_text(base + custom)
    with_custom = cli("subscribers", "--check", cwd=tmp_path)
    assert with_custom.returncode == 0, with_custom.stderr
    # and every other command that reads or edits the list knows the custom theme too
    sent = cli("send", "--now", NOON, cwd=tmp_path)
    assert sent.returncode == 0 and "sent 1" in sent.stdout, sent.stderr
    assert cli("preview", "--to", "a@example.org", "--now", NOON, cwd=tmp_path).returncode == 0
    added = cli("subscribe", "b@example.org", "--topic", "quantum", "--confirmed", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert cli("unsubscribe", "a@example.org", cwd=tmp_path).returncode == 0
