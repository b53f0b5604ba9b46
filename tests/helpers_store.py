"""A long subscriber list in a database, written in bulk: the list a public newsletter has,
for tests and `make bench` that put load on it (the rules for one change are tested on their
own; going through them 100,000 times would only slow the setup)."""

from __future__ import annotations

from datetime import UTC, datetime

from digest.readers.subscribers import validated
from digest.store.sql import SqlDatabase, SubscriberTable


def fill(database: SqlDatabase, n: int, *, start: int = 0, **fields) -> list[str]:
    """`n` active readers reader{i}@example.org (Europe/London, 07:00, following retrieval
    unless `fields` say otherwise) added to the subscriber table; their addresses."""
    template = validated(
        {"email": "reader@example.org", "timezone": "Europe/London", "topics": ["retrieval"], **fields}
    )
    updated = datetime.now(UTC).isoformat()
    emails = [f"reader{i}@example.org" for i in range(start, start + n)]
    with database.transaction() as execute:
        (last,) = execute("SELECT COALESCE(MAX(seq), 0) FROM subscribers").fetchone()
        for seq, email in enumerate(emails, start=last + 1):
            row = SubscriberTable._row(template.model_copy(update={"email": email}))
            execute(
                "INSERT INTO subscribers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (email, *row, updated, seq),
            )
    return emails
