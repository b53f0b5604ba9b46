"""`digest init`: a new newsletter folder with a commented digest.yaml, a subscriber list, the
sample papers and copies of the templates, from files shipped in the package, so it works from
an installed wheel with no clone. It never overwrites: a file that exists is kept as it is."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pydantic import ValidationError

from ..config import Newsletter
from ..errors import DigestError
from ..util.files import umask

DEFAULT_NAME = "Trending Papers"
DEFAULT_SENDER = "Trending Papers <papers@example.org>"
# Python files make digest.templates and digest.samples importable; they are not templates.
_NOT_COPIED = ("__init__.py", "__pycache__")


@dataclass
class Scaffolded:
    folder: Path
    written: list[Path] = field(default_factory=list)  # relative to folder
    kept: list[Path] = field(default_factory=list)


def check_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise DigestError("--name: the newsletter needs a name, e.g. --name 'Lab papers'")
    return name


def check_sender(value: str) -> str:
    """A `newsletter.from` that digest.yaml will accept, checked by the same rule."""
    try:
        return Newsletter.model_validate({"from": value}).sender
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise DigestError(f"--from: {reason}; e.g. --from 'Lab papers <papers@lab.example.org>'") from None


def starter_config(name: str, sender: str) -> str:
    """The commented digest.yaml with the newsletter's name and sender filled in. JSON strings
    are YAML double-quoted scalars, so any name (a colon, a quote, a #) stays one value."""
    text = resources.files("digest.starter").joinpath("digest.yaml").read_text(encoding="utf-8")
    return text.replace("__NAME__", json.dumps(name, ensure_ascii=False)).replace(
        "__FROM__", json.dumps(sender, ensure_ascii=False)
    )


def _tree(root: Traversable, prefix: Path = Path()) -> Iterator[tuple[Path, Traversable]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name in _NOT_COPIED or entry.name.endswith(".pyc"):
            continue
        if entry.is_dir():
            yield from _tree(entry, prefix / entry.name)
        else:
            yield prefix / entry.name, entry


def files(name: str, sender: str) -> Iterator[tuple[Path, bytes]]:
    """Every file init writes, relative to the new folder, with its content."""
    yield Path("digest.yaml"), starter_config(name, sender).encode()
    yield (
        Path("subscribers.yaml"),
        resources.files("digest.starter").joinpath("subscribers.yaml").read_bytes(),
    )
    # The config's file source points here, so preview and send work before going online.
    yield (
        Path("samples/papers.jsonl"),
        resources.files("digest.samples").joinpath("papers.jsonl").read_bytes(),
    )
    for relative, entry in _tree(resources.files("digest.templates")):
        yield Path("templates") / relative, entry.read_bytes()


def create_new(path: Path, data: bytes) -> bool:
    """Write `path` whole if it does not exist; False (and nothing written) if it does.
    The content goes to a temporary file first and is hard-linked into place: the link fails
    if the name exists, even if it appeared a moment ago, and no one ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~umask())
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: an exclusive create is as safe
            try:
                with path.open("xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
        return True
    finally:
        os.unlink(tmp)


def scaffold(folder: Path, *, name: str = DEFAULT_NAME, sender: str = DEFAULT_SENDER) -> Scaffolded:
    if folder.exists() and not folder.is_dir():
        raise DigestError(f"{folder}: is a file, not a folder; give a folder for the new newsletter")
    done = Scaffolded(folder)
    # All read before anything is written: a broken installation leaves no half a folder.
    for relative, data in list(files(check_name(name), check_sender(sender))):
        target = folder / relative
        try:
            if target.is_dir():  # something else by that name: keep it, as with a file
                done.kept.append(relative)
            elif create_new(target, data):
                done.written.append(relative)
            else:
                done.kept.append(relative)
        except OSError as exc:
            raise DigestError(
                f"{target}: cannot write it ({exc.strerror or exc}); give a folder you can write to"
            ) from None
    return done
