"""`make bench`: every benchmark, each printing figures measured side by side in one run.

Every module in this folder with a `run()` is a benchmark; `python -m bench NAME ...` runs
only those named.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def discover() -> list[str]:
    names = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            names.append(info.name)
    return sorted(names)


def main(argv: list[str]) -> None:
    for name in argv or discover():
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        module.run()
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
