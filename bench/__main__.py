"""`make bench`: every benchmark, each printing figures measured side by side in one run.

Run one with `python -m bench NAME`; names are the modules listed in BENCHES.
"""

from __future__ import annotations

import importlib
import sys

BENCHES = ["pipeline"]


def main(argv: list[str]) -> None:
    for name in argv or BENCHES:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}")
        module.run()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
