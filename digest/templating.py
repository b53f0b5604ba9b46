"""Where templates come from, and the one way a Jinja environment is made for them.

A folder named by `templates:` overrides the shipped templates file by file. Every
environment is strict (a misspelt variable is an error, not an empty string) and trims the
newline after a block tag and the indentation before one, so templates can be laid out for
people without the output changing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2


def template_dirs(override: Path | None, sub: str = "") -> list[str]:
    """Overrides first, then the templates shipped in the package (`sub`: a folder in each)."""
    shipped = Path(str(resources.files("digest.templates")))
    folders = [Path(override), shipped] if override else [shipped]
    return [str(folder / sub) if sub else str(folder) for folder in folders]


def environment(
    override: Path | None = None, *, sub: str = "", autoescape: bool = True, **options: Any
) -> jinja2.Environment:
    """A Jinja environment over the templates; HTML unless `autoescape=False`."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dirs(override, sub)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )
