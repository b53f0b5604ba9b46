"""PostgreSQL (`state: postgresql://user@host/db`): the same schema as SQLite, on a server that
several machines share. Several `digest send` and `digest schedule` processes then share one
issue: each (reader, issue) row is claimed by exactly one of them (the claim is one atomic
INSERT ... ON CONFLICT DO UPDATE ... WHERE, which PostgreSQL evaluates under the row's lock),
and the web app can run on another host.

Liveness: a run holds a session-level advisory lock named after it on the connection it claims
from. PostgreSQL drops the lock when that session ends, however the process ends (SIGKILL, a
crashed machine once its connection times out), so another run can tell a live holder of a
claim from a dead one by looking in `pg_locks`: no clocks, no leases. Claiming on the same
connection means a run whose connection is lost can claim nothing more.

The schema is created and upgraded by `digest db upgrade` only: a server shared by several
machines is not changed behind their backs by whichever process starts first.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import DigestError, install_hint
from ..util.location import redact
from .schema import VERSION_TABLE, for_engine, pending, statements
from .sql import Execute, SqlDatabase, check_version, now_text

# Advisory lock classes (the first key): 'dige', 'digf', 'digg' as integers.
RUN_LOCKS = 0x64696765
ADDRESS_LOCKS = 0x64696766
UPGRADE_LOCK = 0x64696767
CONNECT_TIMEOUT = 10  # seconds


@dataclass(frozen=True)
class ServerRun:
    id: str


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise DigestError(
            f"state: a postgresql:// database needs psycopg: {install_hint('postgres')}"
        ) from None
    return psycopg


class PostgresDatabase(SqlDatabase):
    engine = "postgresql"

    def __init__(self, url: str, *, readonly: bool = False, check: bool = True):
        super().__init__()
        self.psycopg = _psycopg()
        self.url = url
        self.where = redact(url)
        self.readonly = readonly
        if check:
            found = self.version_or_zero()
            if found == 0:
                raise DigestError(
                    f"{self.where}: the database has no digest tables yet: "
                    "run `digest db upgrade` to create them"
                )
            check_version(found, self.where, upgrade_hint="run `digest db upgrade`")

    def _connect(self) -> Any:
        return self.psycopg.connect(
            self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name="digest"
        )

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Execute]:
        db = self.connection()
        with self.errors(), db.transaction(), db.cursor() as cursor:

            def execute(sql: str, params: tuple = ()) -> Any:
                return cursor.execute(self._sql(sql), params)

            yield execute

    @contextmanager
    def errors(self) -> Iterator[None]:
        psycopg = self.psycopg
        try:
            yield
        except psycopg.errors.UndefinedTable as exc:
            raise DigestError(
                f"{self.where}: a digest table is missing ({exc.diag.message_primary}); "
                "run `digest db upgrade`"
            ) from None
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise DigestError(
                f"{self.where}: cannot reach the database ({reason}); check that PostgreSQL is running, "
                "the URL in state:, and the password in PGPASSWORD or ~/.pgpass"
            ) from None
        except psycopg.Error as exc:
            raise DigestError(f"{self.where}: the database refused a request: {exc}") from None

    def version_or_zero(self) -> int:
        row = self.one("SELECT to_regclass('schema_version') IS NOT NULL")
        return self.version() if row and row[0] else 0

    def upgrade(self) -> list[str]:
        """Apply every migration the database lacks, in one transaction, one upgrader at a time."""
        done = []
        with self.transaction() as execute:
            execute("SELECT pg_advisory_xact_lock(CAST(? AS integer), 0)", (UPGRADE_LOCK,))
            execute(VERSION_TABLE)
            (found,) = execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            for migration in pending(int(found)):
                for statement in statements(for_engine(migration.sql, self.engine)):
                    execute(statement)
                execute(
                    "INSERT INTO schema_version (version, says, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.says, now_text()),
                )
                done.append(f"{migration.version}: {migration.says}")
        return done

    def integrity(self) -> list[str]:
        check_version(self.version_or_zero(), self.where, upgrade_hint="run `digest db upgrade`")
        return []

    def _lock_address(self, execute: Execute, email: str) -> None:
        execute("SELECT pg_advisory_xact_lock(CAST(? AS integer), hashtext(?))", (ADDRESS_LOCKS, email))

    # --- runs --------------------------------------------------------------------------------

    @contextmanager
    def run(self) -> Iterator[ServerRun]:
        host = socket.gethostname().replace("/", "_")
        while True:  # a new name in the (unlikely) case its lock key is already held
            run = ServerRun(f"{host}-{os.getpid()}-{secrets.token_hex(4)}")
            row = self.one(
                "SELECT pg_try_advisory_lock(CAST(? AS integer), hashtext(?))", (RUN_LOCKS, run.id)
            )
            if row and row[0]:
                break
        try:
            yield run
        finally:
            try:
                self.one("SELECT pg_advisory_unlock(CAST(? AS integer), hashtext(?))", (RUN_LOCKS, run.id))
            except DigestError:
                pass  # the session is gone, and its lock with it

    def alive(self, run_id: str | None) -> bool:
        """Whether some session holds the run's lock (read from pg_locks, so asking changes
        nothing, and the answer is right from the holder's own session too)."""
        if not run_id:
            return False
        row = self.one(
            """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                   AND classid = CAST(CAST(? AS integer) AS oid) AND objid = CAST(hashtext(?) AS oid)
                   AND objsubid = 2)""",
            (RUN_LOCKS, run_id),
        )
        return bool(row and row[0])

    @contextmanager
    def one_scheduler(self) -> Iterator[None]:
        """Several schedulers may share a server: the claims keep them from sending twice."""
        yield
