"""Writing a file so that a reader never sees half of it. Kept apart from `mail` so that
commands which only write files (fetch, subscribe) do not import the renderer."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def umask() -> int:
    """The process's umask. Linux shows it in /proc; elsewhere reading it means setting it
    and putting it straight back, a moment in which another thread's new file would be
    created world-writable, so /proc is asked first (delivery writes from several threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode() -> int:
    """What `open()` would give a new file: 0666 less the umask. A temporary file starts
    0600, which would keep a web server running as another user from serving the archive."""
    return 0o666 & ~umask()


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it. `mode` sets the
    new file's permissions (default: what the umask allows, as `open()` does). A pipe or a device
    (`/dev/stdout`, a named pipe) is written into: renaming over it would replace it."""
    with replacing(path, mode=mode) as handle:
        handle.write(data)


@contextmanager
def replacing(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces `path` whole when the block ends (temporary
    file, fsync, rename), or not at all if it raises: for writing more than fits in memory."""
    try:
        special = not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        special = False
    if special:
        with path.open("wb") as handle:
            yield handle
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), default_mode() if mode is None else mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
