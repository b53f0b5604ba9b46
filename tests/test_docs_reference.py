"""The reference page (docs/reference.md) names every command, subcommand and option, every
`digest.yaml` key and every subscriber field (issue 28). The lists are read from the code, the
argparse parser and the pydantic models, so a command or key added without its line here fails."""

from __future__ import annotations

import argparse
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from digest.cli import parser
from digest.config import Config
from digest.models import Subscriber

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"


def commands(top: argparse.ArgumentParser, prefix: str = "digest") -> Iterator[tuple[str, list[str]]]:
    """Every command and subcommand as `digest db status`, with its option strings."""
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                options = [
                    option
                    for a in sub._actions
                    if not isinstance(a, argparse._HelpAction)
                    for option in a.option_strings
                    if option != "--config"  # every command takes it; the page says so once
                ]
                yield f"{prefix} {name}", options
                yield from commands(sub, f"{prefix} {name}")


def _models(annotation: object) -> tuple[list[type[BaseModel]], bool]:
    """The pydantic models inside a field's type, and whether they sit in a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    origin = typing.get_origin(annotation)
    found: list[type[BaseModel]] = []
    in_list = origin in (list, tuple, set)
    for arg in typing.get_args(annotation):
        models, nested = _models(arg)
        found += models
        in_list = in_list or nested
    if origin in (typing.Union, types.UnionType, typing.Annotated) or in_list:
        return found, in_list
    return found, False


def config_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key a digest.yaml may hold, dotted: `delivery.dkim.selector`, `sources[].url`."""
    for name, field in model.model_fields.items():
        if field.exclude:  # set by load(), not by the file
            continue
        key = prefix + (field.alias or name)
        yield key
        models, in_list = _models(field.annotation)
        for sub in models:
            yield from config_keys(sub, key + ("[]." if in_list else "."))


def _sections(text: str, level: str) -> dict[str, str]:
    """The page's sections at one heading level, by their heading's code name."""
    parts = re.split(rf"^{level} `([^`]+)`.*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _row(text: str, name: str) -> bool:
    """Whether a table row of the text starts with this name (an option may add its value)."""
    return re.search(rf"^\| `{re.escape(name)}[ `]", text, flags=re.M) is not None


def _part(text: str, heading: str) -> str:
    """From a `## heading` to the next `## `."""
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/reference.md has no '## {heading}' section"
    return match.group(1)


@pytest.fixture(scope="module")
def page() -> str:
    return REFERENCE.read_text()


def test_the_walk_finds_every_command_nested_command_and_nested_config_key():
    names = dict(commands(parser()))
    assert {"digest send", "digest db status", "digest subscribers import"} <= set(names)
    assert "--due" in names["digest send"] and "--skip-bad" in names["digest subscribers import"]
    keys = set(config_keys(Config))
    assert {
        "newsletter.from",
        "delivery.dkim.selector",
        "sources[].categories",
        "themes.custom[].key",
    } <= keys
    assert {"channels[].chat_id", "inbox.url", "summaries.model"} <= keys
    assert "path" not in keys  # set by load(), not written in the file


def test_every_command_has_a_section_naming_each_of_its_options(page):
    sections = _sections(_part(page, "Commands"), "###")
    missing = [name for name, _ in commands(parser()) if name not in sections]
    assert not missing, f"docs/reference.md has no '### `COMMAND`' section for {missing}"
    unnamed = [
        f"{name} {option}"
        for name, options in commands(parser())
        for option in options
        if not _row(sections[name], option)
    ]
    assert not unnamed, f"docs/reference.md does not describe these options: {unnamed}"


def test_every_config_key_is_in_the_reference(page):
    part = _part(page, "Configuration")
    missing = [key for key in config_keys(Config) if not _row(part, key)]
    assert not missing, f"docs/reference.md's Configuration does not list {missing}"


def test_every_subscriber_field_is_in_the_reference(page):
    part = _part(page, "Subscriber fields")
    missing = [name for name in Subscriber.model_fields if not _row(part, name)]
    assert not missing, f"docs/reference.md's Subscriber fields do not list {missing}"


def test_the_readme_is_a_front_door_whose_links_all_lead_somewhere():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250, "the README is the front door: move detail into docs/"
    assert "make demo" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if "://" not in t]
    assert "docs/reference.md" in local
    broken = [t for t in local if not (ROOT / t).exists()]
    assert not broken, f"README.md links to files that do not exist: {broken}"
    # mkdocs checks the pages' own links; every page is in its navigation, so none is orphaned
    nav = (ROOT / "mkdocs.yml").read_text()
    unlisted = [p.name for p in (ROOT / "docs").glob("*.md") if p.name not in nav]
    assert not unlisted, f"docs pages missing from mkdocs.yml's nav: {unlisted}"
