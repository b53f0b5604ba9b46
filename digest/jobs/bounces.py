"""`digest inbox`: read the inbox (digest/inbox/mailbox.py), tell each message apart
(digest/inbox/reports.py) and act on it through the stores' rules: a hard bounce marks the address
bounced (no more mail until `digest bounces --clear`), a complaint or a mailed unsubscribe
request unsubscribes the reader. Everything else stays unread, for a person. Each message is
read on its own: one digest cannot read (too large, too deep, malformed, or anything the email
package raises on it) is set aside (flagged and marked read) and reported, and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..config import Config
from ..errors import DigestError
from ..inbox import reports as inbox
from ..inbox.mailbox import open_mailbox
from ..readers.subscribers import Bounce, NotListed, Unsubscribe
from ..store import Stores, stores


@dataclass
class InboxReport:
    where: str = ""
    found: list[inbox.Read] = field(default_factory=list)
    messages: int = 0
    left: int = 0  # messages left unread: nothing digest can act on
    problems: list[str] = field(default_factory=list)  # one line per message set aside

    @property
    def counts(self) -> dict[inbox.Kind, int]:
        return inbox.summary(self.found)


def apply(opened: Stores, found: list[inbox.Read], *, now: datetime) -> None:
    """Act on findings (from the inbox or a provider's webhook): a hard bounce marks the
    address bounced in the ledger and the list, a complaint or an unsubscribe request
    unsubscribes it; soft bounces and anything else change nothing."""
    for r in found:
        if r.email is None or r.kind not in (inbox.BOUNCE, inbox.COMPLAINT, inbox.UNSUBSCRIBE):
            continue
        if r.kind == inbox.BOUNCE:
            opened.ledger.record_bounce(r.email, r.code, r.reason, r.issue)
        try:
            opened.subscribers.apply(r.email, Bounce() if r.kind == inbox.BOUNCE else Unsubscribe(), now=now)
        except NotListed:
            pass  # the ledger's bounce (if any) is enough: nobody to change on the list


def run(config: Config, *, now: datetime, dry_run: bool = False) -> InboxReport:
    if config.inbox is None:
        raise DigestError(
            "inbox: is not set in digest.yaml: give the mailbox bounces and mailed unsubscribes come "
            "back to (inbox: {url: imaps://..., address: bounces@...})"
        )
    secret = config.secret()
    report = InboxReport()
    box = open_mailbox(config.inbox, config.root)
    report.where = box.where
    try:
        with stores(config, readonly=dry_run) as opened:
            for key, raw in box.unread(inbox.MAX_BYTES + 1):
                report.messages += 1
                try:
                    found = inbox.read(raw, secret=secret, address=config.inbox.address)
                except Exception as exc:  # noqa: BLE001 - one message must never stop the run
                    reason = (
                        str(exc) if isinstance(exc, inbox.Unreadable) else f"{type(exc).__name__} reading it"
                    )
                    action = "left as it is (dry run)" if dry_run else "set aside: flagged and marked read"
                    subject = inbox.raw_subject(raw)
                    report.problems.append(f"{box.where}: message {key} ({subject!r}): {reason}; {action}")
                    if not dry_run:
                        box.set_aside(key)
                    continue
                report.found += found
                acted = any(r.kind != inbox.OTHER for r in found)
                report.left += not acted
                if not dry_run:
                    apply(opened, found, now=now)
                    if acted:
                        box.done(key)
    finally:
        box.close()
    return report
