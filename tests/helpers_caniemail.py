"""The bar an email's markup must clear in Gmail and Outlook, from caniemail.com's data.

caniemail (npm package `caniemail`, installed by .ci/run into .cache/caniemail) says, per CSS
property and per client, whether it works, and where support is partial, on which elements.
Spacing is what breaks a layout when a client ignores it (Outlook for Windows drops padding on
anything but table cells, so papers run together), so the bar checks every inline padding,
margin and height against the latest version of each client's apps. Markup inside Outlook's
conditional comments is MJML's own ghost tables, for Outlook only, and is not looked at.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from .conftest import ROOT

VERSION = "2.0.2"
DATA = ROOT / ".cache" / "caniemail" / "node_modules" / "caniemail" / "data" / "caniemail.json"
INSTALL = f"npm install --prefix .cache/caniemail caniemail@{VERSION}"
CLIENTS = {"gmail": ("desktop-webmail", "ios", "android"), "outlook": ("windows", "outlook-com", "macos")}
CHECKED = ("padding", "margin", "height")
_SIDES = re.compile(r"-(top|right|bottom|left|block|inline)(-start|-end)?$")
_TAGS = re.compile(r"`<(\w+)>`")


def load() -> dict[str, dict] | None:
    """caniemail's features by slug, or None when the package is not installed."""
    if not DATA.exists():
        return None
    return {feature["slug"]: feature for feature in json.loads(DATA.read_text())["data"]}


class _InlineStyles(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.used: dict[tuple[str, str], int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        style = dict(attrs).get("style") or ""
        for declaration in style.split(";"):
            name = declaration.split(":", 1)[0].strip().lower()
            if name:
                key = (tag, _SIDES.sub("", name))
                self.used[key] = self.used.get(key, 0) + 1


def _excludes(note: str, tag: str) -> bool:
    """Whether a caniemail note restricting support to some elements leaves `tag` out."""
    if "Only supported on table cells" in note:
        return tag not in ("td", "th")
    if re.search(r"Only (works|supported) on", note):
        return tag not in _TAGS.findall(note)
    if "Not supported on" in note:
        return tag in _TAGS.findall(note)
    return False


def violations(html: str, data: dict[str, dict]) -> list[str]:
    """Each spacing property on an element that Gmail's or Outlook's latest apps ignore there,
    said with the client and caniemail's note."""
    parser = _InlineStyles()
    parser.feed(html)
    found = []
    for (tag, prop), times in sorted(parser.used.items()):
        feature = data.get(f"css-{prop}")
        if prop not in CHECKED or feature is None:
            continue
        notes = feature.get("notes_by_num") or {}
        for client, platforms in CLIENTS.items():
            for platform in platforms:
                versions = feature["stats"].get(client, {}).get(platform)
                if not versions:
                    continue
                version, support = list(versions.items())[-1]
                flags = support.split()
                texts = [notes.get(n.lstrip("#"), "") for n in flags[1:]]
                if flags[0] == "n" or (flags[0] == "a" and any(_excludes(t, tag) for t in texts)):
                    why = "; ".join(t for t in texts if t) or "not supported"
                    found.append(f"{prop} on <{tag}> ({times}x): {client} {platform} {version}: {why}")
    return found
