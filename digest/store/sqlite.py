"""SQLite: the ledger, history, bounces, rate limits, HTTP cache and (with `subscribers:
database`) the subscriber list in one file, embedded, no server. The default.

The file is upgraded to the current schema when opened (schema.py). A new file is built
beside its final name and linked into place, so no process ever opens a half-made one; an
existing file that is empty, truncated or not SQLite is refused with its path and what to
do, never taken as a fresh start (a fresh ledger would mail every reader again).

Liveness: a run holds `<state>.runs/<id>.lock` (flock) for as long as it lives. The kernel
drops the lock when the process ends, however it ends (SIGKILL included), so any other run
can tell a live holder of a claim from a dead one without clocks, leases or process ids.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import sqlite3
import struct
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DigestError
from ..util.files import default_mode
from .locks import file_lock
from .schema import LATEST, VERSION_TABLE, pending, statements
from .sql import Execute, SqlDatabase, check_version, now_text

MAGIC = b"SQLite format 3\x00"
WAIT = 30.0  # seconds a writer waits for another one (each holds the file for milliseconds)


def damaged(path: Path, what: str) -> DigestError:
    return DigestError(
        f"{path}: {what}. Nothing was sent. Restore the file from a backup (`digest db check` "
        "tells whether a copy is sound); moving it aside starts an empty ledger, and every reader "
        "would get the current issue again"
    )


def check_file(path: Path) -> None:
    """Refuse a state file that SQLite would open as new (empty) or read in part (truncated)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise DigestError(
            f"{path}: cannot use it as the state database (it is a folder); point state: in "
            "digest.yaml at the SQLite file digest keeps, or at a new path to start afresh"
        ) from None
    except OSError as exc:
        raise DigestError(f"{path}: cannot read the state database: {exc.strerror or exc}") from None
    if size == 0:
        raise damaged(path, "the state database is empty (0 bytes): it was truncated or is not digest's")
    if not header.startswith(MAGIC):
        raise DigestError(
            f"{path}: cannot use it as the state database (not a SQLite file); point state: in "
            "digest.yaml at the SQLite file digest keeps, or at a new path to start afresh"
        )
    if len(header) < 100:
        raise damaged(path, f"the state database is truncated ({size} bytes)")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, pages = struct.unpack(">II", header[24:32])
    valid_for = struct.unpack(">I", header[92:96])[0]
    wal = path.with_name(path.name + "-wal")
    recovering = wal.exists() and wal.stat().st_size > 0  # SQLite replays the WAL itself
    if valid_for == change_counter and pages and size < pages * page_size and not recovering:
        raise damaged(path, f"the state database is truncated ({size} bytes of {pages * page_size})")


def _use_wal(db: sqlite3.Connection, wait: float = WAIT) -> None:
    """Switch to WAL. Two processes doing so at once: the switch answers "database is locked"
    at once, without waiting as other statements do, so wait here."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _version(db: sqlite3.Connection) -> int:
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone() is None:
        return 0
    (found,) = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(found or 0)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the file to the current schema, in one transaction (a crash leaves it as it was)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(VERSION_TABLE)
        found = _version(db)
        for migration in pending(found):
            for statement in statements(migration.sql):
                db.execute(statement)
            if migration.version == 1:
                _add_owner_column(db)
            db.execute(
                "INSERT INTO schema_version (version, says, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.says, now_text()),
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _add_owner_column(db: sqlite3.Connection) -> None:
    """Files from before claims named their run get the column (empty: such claims are taken
    over as stale)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    if "owner" not in columns:
        db.execute("ALTER TABLE deliveries ADD COLUMN owner TEXT")


def _connect_rw(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=WAIT, isolation_level=None, check_same_thread=False)
    _use_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _create(path: Path) -> None:
    """Make a new state file with every table under a temporary name, then link it into
    place: whoever opens `path` finds a complete database or none. Two processes creating it
    at once: one link wins, the other's copy is dropped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    os.close(fd)
    os.unlink(tmp)  # SQLite makes the file itself (an empty file would be a database already)
    try:
        db = _connect_rw(Path(tmp))
        try:
            _migrate(db)
        finally:
            db.close()  # checkpoints the WAL into the file and removes it
        os.chmod(tmp, default_mode())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


class SqliteDatabase(SqlDatabase):
    engine = "sqlite"

    def __init__(self, path: Path, *, readonly: bool = False):
        super().__init__()
        self.path = path
        self.where = str(path)
        self.readonly = readonly
        self.memory = readonly and not path.exists()  # nothing sent yet: an empty history
        self.found = LATEST  # the schema version the file had when opened
        if self.memory:
            return
        with self.errors():
            check_file(path)
            if not path.exists():
                _create(path)
                self.found = 0
            else:
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=WAIT)
                try:
                    found = _version(db)
                finally:
                    db.close()
                self.found = found
                if found != LATEST:
                    if found > LATEST:
                        check_version(found, self.where, upgrade_hint="")
                    self._upgrade()

    def _upgrade(self) -> None:
        try:
            db = _connect_rw(self.path)
        except sqlite3.OperationalError as exc:
            raise DigestError(
                f"{self.path}: the state database needs an upgrade to schema version {LATEST} and "
                f"cannot be written ({exc}); run `digest db upgrade` where it is writable"
            ) from None
        try:
            _migrate(db)
        finally:
            db.close()

    def upgrade(self) -> list[str]:
        """What `digest db upgrade` applied: opening the file did it already."""
        return [f"{m.version}: {m.says}" for m in pending(self.found)]

    def _connect(self) -> sqlite3.Connection:
        if self.memory:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            _migrate(db)
            return db
        if self.readonly:
            db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=WAIT, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # reads the file's header
            return db
        return _connect_rw(self.path)

    @contextmanager
    def transaction(self) -> Iterator[Execute]:
        db = self.connection()
        with self.errors():
            db.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock on upgrading a read
            try:
                yield db.execute
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self._explain(exc) from None

    def _explain(self, exc: sqlite3.DatabaseError) -> DigestError:
        text = str(exc)
        if "malformed" in text or "not a database" in text or "no such table" in text:
            return damaged(self.path, f"the state database is damaged ({text})")
        if "locked" in text or "busy" in text:
            return DigestError(
                f"{self.path}: another process held the state database for {WAIT:.0f} s; try again"
            )
        if "readonly" in text or "read-only" in text:
            return DigestError(f"{self.path}: cannot write the state database ({text}); make it writable")
        return DigestError(
            f"{self.path}: cannot use it as the state database ({text}); point state: in digest.yaml "
            "at the SQLite file digest keeps, or at a new path to start afresh"
        )

    def integrity(self) -> list[str]:
        """`digest db check`: SQLite's own full check of every page and index."""
        rows = self.read("PRAGMA integrity_check")
        return [] if rows == [("ok",)] else [f"{self.path}: {row[0]}" for row in rows]

    # --- runs --------------------------------------------------------------------------------

    @contextmanager
    def run(self) -> Iterator[FileRun]:
        with FileRun(self.path) as run:
            yield run

    def alive(self, run_id: str | None) -> bool:
        return FileRun.alive(self.path, run_id)

    @contextmanager
    def one_scheduler(self) -> Iterator[None]:
        """Hold `<state>.schedule.lock` for the life of the scheduler, or refuse to start: two
        schedulers on one machine would each plan every reader."""
        lock = self.path.with_name(self.path.name + ".schedule.lock")

        def taken(lock_path: Path) -> DigestError:
            holder = lock_path.read_text(errors="replace").strip() or "?"
            return DigestError(
                f"another `digest schedule` (pid {holder}) is already running for {self.path} "
                f"(lock {lock_path}); run one scheduler per deployment"
            )

        with file_lock(lock, wait=0, taken=taken) as fd:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield


class FileRun:
    """One send run's name in the ledger, alive exactly as long as its lock file is locked."""

    def __init__(self, state_path: Path):
        self.dir = runs_dir(state_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.id = f"{socket.gethostname().replace('/', '_')}-{os.getpid()}-{secrets.token_hex(4)}"
        self.path = self.dir / f"{self.id}.lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)

    def __enter__(self) -> FileRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def alive(state_path: Path, run_id: str | None) -> bool:
        """Whether the run `run_id` still holds its lock. A run that finished removed its
        file; one that died left it unlocked, and is cleaned up here."""
        if not run_id or "/" in run_id:
            return False
        path = runs_dir(state_path) / f"{run_id}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            path.unlink(missing_ok=True)
            return False
        finally:
            os.close(fd)


def runs_dir(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".runs")
