"""`digest status`: the last runs, what comes next, and what went wrong lately, from the run
history (digest/jobs/history.py) and the list. `as_text` prints it for a person; `gather`'s dict
is the `--json` a monitoring system reads.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .history import utc_text

if TYPE_CHECKING:
    from ..config import Config
    from ..store.runs import OperatorReport

RECENT = timedelta(days=7)
SLOTS_SHOWN = 5


def gather(config: Config, *, now: datetime, runs: int = 10) -> dict[str, Any]:
    from ..readers.due import next_slot
    from ..store import stores

    since = now - RECENT
    with stores(config, readonly=True) as opened:
        db = opened.database
        history = [r.to_dict() for r in db.runs(limit=runs)]
        slots: Counter[datetime] = Counter()
        statuses: Counter[str] = Counter()
        left: list[dict[str, str]] = []
        for reader in opened.subscribers.readers():
            statuses[reader.status] += 1
            if reader.active:
                slots[next_slot(reader, now).at] += 1
            if reader.status == "unsubscribed" and reader.unsubscribed and reader.unsubscribed >= since:
                left.append({"email": str(reader.email), "at": utc_text(reader.unsubscribed)})
        bounced = [{"email": e, "at": at, "reason": why} for e, at, why in db.bounced_since(utc_text(since))]
        failed: dict[str, dict[str, Any]] = {}
        for day in db.source_days(since=since.date().isoformat()):
            if not day.ok:
                entry = failed.setdefault(
                    day.source, {"source": day.source, "days": [], "last_error": day.error}
                )
                entry["days"].append(day.day)
        for entry in failed.values():
            entry["failing_days_running"] = db.failing_days(entry["source"])
        reports = [
            {"day": r.day, "problem": r.problem, "line": r.line, "sent": r.sent, "waiting": r.error}
            for r in sorted(
                set(db.reports(since=utc_text(since))) | set(db.unsent_reports()), key=_report_order
            )
        ]
        where = db.where
    return {
        "now": utc_text(now),
        "state": where,
        "runs": history,
        "next_slots": [{"at": utc_text(at), "readers": n} for at, n in sorted(slots.items())[:SLOTS_SHOWN]],
        "readers": dict(sorted(statuses.items())),
        "last_7_days": {"bounced": bounced, "unsubscribed": left},
        "failed_sources": sorted(failed.values(), key=lambda e: e["source"]),
        "operator_reports": reports,
    }


def _report_order(report: OperatorReport) -> tuple[str, str, str]:
    return (report.created, report.day, report.problem)


def as_text(status: dict[str, Any]) -> str:
    lines = [f"state: {status['state']}", "", "last runs (newest first):"]
    for run in status["runs"]:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in run["counts"].items()) or "-"
        issues = ", ".join(run["issues"]) or "(none due)"
        exit_ = "running or killed" if run["exit"] is None else f"exit {run['exit']}"
        lines.append(
            f"  {run['started']}  {run['kind']:<8} issue {issues}  {exit_}  {counts}  [{run['host']}]"
        )
        lines += [f"      error: {e}" for e in run["errors"]]
    if not status["runs"]:
        lines.append("  none recorded yet")
    lines += ["", "next slots:"]
    lines += [f"  {s['at']}  {s['readers']} reader(s)" for s in status["next_slots"]] or ["  none"]
    readers = ", ".join(f"{n} {s}" for s, n in status["readers"].items()) or "none"
    recent = status["last_7_days"]
    lines += [
        "",
        f"readers: {readers}",
        f"last 7 days: {len(recent['bounced'])} bounced, {len(recent['unsubscribed'])} unsubscribed",
    ]
    lines += [f"  bounced      {b['email']}  {b['at']}  {b['reason']}" for b in recent["bounced"]]
    lines += [f"  unsubscribed {u['email']}  {u['at']}" for u in recent["unsubscribed"]]
    lines.append("sources that failed (last 7 days): " + ("none" if not status["failed_sources"] else ""))
    for f in status["failed_sources"]:
        lines.append(
            f"  {f['source']}: failed {len(f['days'])} day(s), {f['failing_days_running']} in a row; "
            f"last: {f['last_error']}"
        )
    reports = status["operator_reports"]
    if reports:
        lines.append("reported to the operator (last 7 days, and any still waiting):")
        for r in reports:
            state = (
                f"sent {r['sent']}" if r["sent"] else f"NOT SENT YET ({r['waiting'] or 'no operator set'})"
            )
            lines.append(f"  {r['day']}  {r['line']}  [{state}]")
    return "\n".join(lines)
