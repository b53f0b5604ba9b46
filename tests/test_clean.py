"""Display cleaning: what a reader sees of the raw text a source gave."""

import pytest

from digest.util.clean import display, html_to_text, repair_mojibake


@pytest.mark.parametrize(
    "raw, shown",
    [
        # recorded on HF, 2024-05-27: the top-level title keeps arXiv's LaTeX
        (
            r"AutoCoder: Enhancing Code Large Language Model with \textsc{AIEV-Instruct}",
            "AutoCoder: Enhancing Code Large Language Model with AIEV-Instruct",
        ),
        (
            "ConvLLaVA: Hierarchical Backbones as Visual Encoder for Large Multimodal\n  Models",
            "ConvLLaVA: Hierarchical Backbones as Visual Encoder for Large Multimodal Models",
        ),
        (
            r"Schr\"odinger, Erd\H{o}s, {\'e}t\'e, \c{c}a, \v{S}ediv\'y and na\"{\i}ve",
            "Schrödinger, Erdős, été, ça, Šedivý and naïve",
        ),
        (
            r"costs $O(n^{2})$ with $\alpha \leq 0.5$ and $W_{H}$, $x_1$, $H^{(0)}$",
            "costs O(n²) with α ≤ 0.5 and W_H, x₁, H⁽⁰⁾",
        ),
        (
            "snake_case1 and file_2 outside maths stay as written",
            "snake_case1 and file_2 outside maths stay as written",
        ),
        (
            r"as shown \cite{smith2020} and in Fig.~\ref{fig:a} --- twice -- \ldots 50\% ``so''",
            "as shown and in Fig. — twice – … 50% “so”",
        ),
        (
            r"\textbf{\emph{nested}} {\em old style} \url{https://x.org} \href{https://y.org}{a link}",
            "nested old style https://x.org a link",
        ),
        ("Dirk WÃ¼bben &amp; co", "Dirk Wübben & co"),
        ("x < y and z > w, <b>bold</b> <img src='a.png'/> &lt;3", "x < y and z > w, bold <3"),
        ("**Bold** claims &mdash; in markdown", "Bold claims — in markdown"),
    ],
)
def test_display_turns_raw_source_text_into_one_readable_line(raw, shown):
    assert display(raw) == shown


def test_titles_keep_angle_brackets_for_the_template_to_escape():
    assert display("Why <script> tags break e-mail", strip_tags=False) == "Why <script> tags break e-mail"


def test_html_to_text_keeps_paragraphs_and_decodes_entities():
    html = '<p><img src="t.png" /></p><p><b>Authors:</b> A, B</p><p>x &lt; y &amp;amp; z</p>one<br/>two'
    assert html_to_text(html) == "Authors: A, B\nx < y &amp; z\none\ntwo"


@pytest.mark.parametrize("text", ["Ã is a letter", "plain ASCII", "naïve already fine", "Ã©t mixed with ✓"])
def test_mojibake_repair_leaves_text_that_is_not_double_encoded(text):
    assert repair_mojibake(text) == text
