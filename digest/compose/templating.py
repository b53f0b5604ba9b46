"""Where templates come from, and the one way a Jinja environment is made for them.

A folder named by `templates:` overrides the shipped templates file by file. Every
environment is strict (a misspelt variable is an error, not an empty string) and trims the
newline after a block tag and the indentation before one, so templates can be laid out for
people without the output changing.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from ..errors import DigestError


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


def checked(env: jinja2.Environment, name: str) -> tuple[str, str]:
    """The source of template `name` and the file it comes from, checked as a whole before
    anything renders: a syntax error, and a filter or test this environment does not have,
    are reported with the file and line. (Jinja itself reports an unknown filter inside an
    `{% if %}` only when that branch runs, and then without a line.)"""
    loader = env.loader
    assert loader is not None
    try:
        source, filename, _ = loader.get_source(env, name)
        tree = env.parse(source, name, filename)
    except jinja2.TemplateSyntaxError as exc:
        raise template_error(exc) from None
    except jinja2.TemplateError as exc:
        raise DigestError(f"{name}: template error: {exc}") from None
    where = filename or name
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        known, kind = (env.filters, "filter") if isinstance(node, nodes.Filter) else (env.tests, "test")
        if node.name not in known:
            close = difflib.get_close_matches(node.name, list(known), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"the {kind}s there are: {', '.join(sorted(known))}"
            )
            raise DigestError(f"{where}:{node.lineno}: template error: no {kind} named {node.name!r}; {hint}")
    return source, where


def load(env: jinja2.Environment, name: str) -> jinja2.Template:
    """Template `name`, checked (`checked`) and compiled; any error names the file and line."""
    checked(env, name)
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise template_error(exc) from None
    except jinja2.TemplateError as exc:
        raise DigestError(f"{name}: template error: {exc}") from None


def template_error(exc: jinja2.TemplateSyntaxError) -> DigestError:
    return DigestError(f"{exc.filename or exc.name}:{exc.lineno}: template error: {exc.message}")
