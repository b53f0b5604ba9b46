"""Rebuild samples/papers.jsonl from the product's seed page.

The seed page (../shared/seed/trending-papers-page.txt) is a Hugging Face papers listing:
a short banner, then for each paper a title line and an abstract line. The sample keeps
exactly that: title, abstract and the listing order (the order is a trending signal).
The page carries no arXiv ids, authors, dates or votes, so the sample has none either;
the file source derives a stable id from the title.

    python scripts/make_sample.py ../shared/seed/trending-papers-page.txt > samples/papers.jsonl
"""

from __future__ import annotations

import json
import sys

# Lines of the page that belong to its banner, not to any paper.
BANNER = {
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "byAK and the research community",
    "Mar 13",
}


def papers(text: str) -> list[dict[str, str]]:
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and line not in BANNER]
    if len(lines) % 2:
        raise SystemExit(f"expected title/abstract pairs, found an odd {len(lines)} lines")
    return [{"title": t, "abstract": a} for t, a in zip(lines[::2], lines[1::2], strict=True)]


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        for paper in papers(fh.read()):
            print(json.dumps(paper, ensure_ascii=False))


if __name__ == "__main__":
    main()
