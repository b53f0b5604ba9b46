"""`digest themes` at 25, 250 and 1,000 papers: the grouping of issue 24 beside the one before it.

Papers: the recorded labelled arXiv papers of ../shared/fixtures/labeled (physics, maths,
biology, finance and computer science; 1,143 in all). The grouping before issue 24 is read
from git (`digest/issue/themes.py` at BEFORE, the last commit of main before the change) into a
module of its own, and given the same ML taxonomy; both run in this process on the same
papers, one after the other. Figures are CPU seconds of this process (less disturbed by other
jobs on a shared machine than wall time); `digest themes` end to end (a new process: Python,
numpy and scipy start-up, reading the file, grouping, printing JSON) in wall and CPU seconds.
Growth from 250 to 1,000 papers is set beside n log n's (4 x log 1000 / log 250 = 5.0x).
"""

from __future__ import annotations

import importlib.util
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from digest.issue import themes
from digest.models import Paper

ROOT = Path(__file__).resolve().parent.parent
LABELED = ROOT.parent / "shared" / "fixtures" / "labeled"
SETS = ("arxiv_beyond_cs_dev.jsonl", "arxiv_labeled_dev.jsonl")
BEFORE = "e785b7b"  # main before issue 24
SIZES = (25, 250, 1000)


def papers() -> list[Paper]:
    out = []
    for name in SETS:
        for line in (LABELED / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out.append(Paper(id=row["id"], title=row["title"], abstract=row["abstract"]))
    return out


def before() -> ModuleType | None:
    """digest/issue/themes.py as it was at BEFORE, importable beside today's (None without git)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE}:digest/issue/themes.py"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "themes_before_24.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("digest.themes_before_24", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def cpu(fn: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def end_to_end(path: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one `digest themes --json` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "digest", "themes", "--papers", str(path), "--json"],
        cwd=tempfile.gettempdir(),  # no digest.yaml there: the built-in settings
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run() -> None:
    if not all((LABELED / name).is_file() for name in SETS):
        print(f"  skipped: the labelled papers are not in {LABELED}")
        return
    everyone = papers()
    old = before()
    taxonomy = themes.load_taxonomy()
    old_taxonomy = old.load_taxonomy(ROOT / "digest" / "packs" / "ml.yaml") if old else None
    themes.group(everyone[:25], taxonomy)  # numpy and scipy loaded, caches warm
    now: dict[int, float] = {}
    print(
        f"  {'papers':>6}  {'now (CPU s)':>12}  {'before (CPU s)':>14}  {'speed-up':>8}"
        f"  {'digest themes: wall s, CPU s':>28}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            day = everyone[:n]
            now[n] = cpu(lambda day=day: themes.group(day, taxonomy), 3 if n < 1000 else 2)
            then = cpu(lambda day=day: old.group(day, old_taxonomy), 1) if old else math.nan
            path = Path(tmp) / f"papers-{n}.jsonl"
            rows = ({"id": p.id, "title": p.title, "abstract": p.abstract} for p in day)
            path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
            wall, spent = end_to_end(path)
            print(
                f"  {n:>6}  {now[n]:>12.3f}  {then:>14.3f}  {then / now[n]:>7.0f}x"
                f"  {wall:>20.2f}, {spent:>5.2f}"
            )
    growth = now[1000] / now[250]
    bound = 4 * math.log(1000) / math.log(250)
    print(
        f"  growth 250 -> 1,000 papers: {growth:.1f}x (n log n: {bound:.1f}x; n^2: 16x)"
        + ("" if old else f"; git show {BEFORE} failed, so no 'before' figures")
    )
