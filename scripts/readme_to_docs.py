"""Carry README.md edits made on a branch from before issue 28 into the docs/ pages the text
moved to. The README became a front door and its sections moved, unchanged, into docs/; a
branch that still edits the old README conflicts with that. For each hunk of
`git diff BASE HEAD -- README.md`, this finds the hunk's old text in one docs page (trying the
smallest context that is still unique, and headings one level up as the pages have them) and
replaces it with the new text. Hunks it cannot place are printed for a person to carry.

    python scripts/readme_to_docs.py $(git merge-base main issue-NN) issue-NN

Then keep the front-door README (`git checkout --ours README.md` in a merge), build the docs
(`make check`) and read the diff of docs/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Lines = list[str]


def hunks(base: str, head: str) -> list[tuple[Lines, Lines]]:
    """(old lines, new lines) of each hunk, context included."""
    diff = subprocess.run(
        ["git", "diff", "-U2", base, head, "--", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: list[tuple[Lines, Lines]] = []
    for line in diff.splitlines():
        if line.startswith("@@"):
            found.append(([], []))
        elif found and not line.startswith(("---", "+++", "\\")):
            tag, text = line[:1], line[1:]
            if tag in (" ", "-"):
                found[-1][0].append(text)
            if tag in (" ", "+"):
                found[-1][1].append(text)
    return found


def headings_up(lines: Lines) -> Lines:
    """`### x` becomes `## x`, as in the docs pages. A hunk may start inside a code block, so
    fences are not followed; no code block of the README has a line starting `### `."""
    return [line[1:] if line.startswith("### ") else line for line in lines]


def trimmed(old: Lines, new: Lines) -> Iterator[tuple[str, str]]:
    """The hunk with less and less of its context, most context first: a page may hold the
    changed lines without the README's neighbouring section."""
    pre = 0
    while pre < min(len(old), len(new)) and old[pre] == new[pre]:
        pre += 1
    suf = 0
    while suf < min(len(old), len(new)) - pre and old[-1 - suf] == new[-1 - suf]:
        suf += 1
    core_old, core_new = old[pre : len(old) - suf], new[pre : len(new) - suf]
    for total in range(pre + suf, -1, -1):
        for before in range(min(pre, total), -1, -1):
            after = total - before
            if after > suf:
                continue
            lead, tail = old[pre - before : pre], old[len(old) - suf : len(old) - suf + after]
            if "".join(lead + core_old + tail).strip():
                yield "\n".join(lead + core_old + tail), "\n".join(lead + core_new + tail)


def place(old: Lines, new: Lines, pages: list[Path]) -> Path | None:
    for a, b in ((old, new), (headings_up(old), headings_up(new))):
        for before, after in trimmed(a, b):
            holding = [page for page in pages if page.read_text().count(before) == 1]
            if len(holding) == 1:
                page = holding[0]
                page.write_text(page.read_text().replace(before, after))
                return page
    return None


def main(base: str, head: str) -> int:
    pages = sorted((ROOT / "docs").glob("*.md"))
    left = 0
    for old, new in hunks(base, head):
        page = place(old, new, pages)
        if page:
            print(f"placed in {page.relative_to(ROOT)}")
        else:
            left += 1
            print("could not place this hunk:\n" + "\n".join(["-" + x for x in old] + ["+" + x for x in new]))
    print(f"{left} hunk(s) left to carry by hand")
    return 1 if left else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
