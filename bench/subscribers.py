"""Subscriber list and scheduling costs: a locked round-trip write against a read, by list size;
a `send --due` run that owes nobody (cron every few minutes) against one that sends.

A write re-reads and re-checks the whole list and rewrites it with ruamel.yaml (pure Python,
comments kept), so it grows with the list; the figures say where YAML stops being cheap.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import yaml

from digest import config as config_mod
from digest.jobs import send
from digest.readers.subscribers import Import
from digest.store import yamllist
from digest.store.yamllist import YamlList

from .timing import per_call

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)


def _list(folder: Path, n: int) -> Path:
    path = folder / f"subscribers-{n}.yaml"
    entries = [
        {
            "email": f"reader{i}@example.org",
            "timezone": "Europe/London",
            "send_at": "07:00",
            "topics": ["retrieval"],
        }
        for i in range(n)
    ]
    path.write_text("# a list\n" + yaml.safe_dump({"subscribers": entries}, sort_keys=False))
    return path


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in (100, 1000):
            path = _list(folder, n)
            flips = iter(["Reader One", "Reader 1"] * 1000)

            def flip(path: Path = path, flips=flips) -> None:  # a real change each time
                YamlList(path).apply("reader1@example.org", Import({"name": next(flips)}), now=NOW)

            read = per_call(lambda path=path: yamllist.load(path), repeat=3, number=3)
            write = per_call(flip, repeat=3, number=3)
            print(
                f"{n:>5} entries: read+check {read * 1e3:7.1f} ms, locked write {write * 1e3:7.1f} ms "
                f"({write / read:.1f}x a read)"
            )

        project = folder / "project"
        project.mkdir()
        for name in ("digest.yaml", "subscribers.yaml"):
            shutil.copy(ROOT / name, project / name)
        shutil.copytree(ROOT / "samples", project / "samples")
        config = config_mod.load(project / "digest.yaml")

        def sending() -> None:
            shutil.rmtree(project / ".digest", ignore_errors=True)
            shutil.rmtree(project / "outbox", ignore_errors=True)
            send.run(config, now=NOW, due=True)

        sends = per_call(sending, repeat=3, number=3)
        idle = per_call(lambda: send.run(config, now=NOW, due=True), repeat=3, number=10)
        print(
            f"send --due, 3 readers: a run that sends {sends * 1e3:.1f} ms, "
            f"a run that owes nobody {idle * 1e3:.1f} ms ({sends / idle:.0f}x cheaper: no fetch, no render)"
        )
