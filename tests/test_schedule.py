"""`digest schedule` as a real process: sends at a slot, reloads the list, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
import yaml

from digest.jobs.schedule import Daemon
from digest.readers.subscribers import Import
from digest.store.yamllist import YamlList

from .helpers_web import wait_for

# The process's clock starts hours from any slot of the test readers (London 07:00 is 4 hours
# away, New York's 08:30 is 13:30 UTC, Tokyo's 07:00 passed at 22:00 UTC), so however slowly
# the machine runs the process, nothing falls due while the test watches it. Sending at a slot
# is tested in this process, on a clock the test moves (test_a_slot_fires_when_...).
START = "2026-11-26T03:00:00+00:00"
READERS = [
    {"email": "london@example.org", "timezone": "Europe/London", "send_at": "07:00"},
    {"email": "ny@example.org", "timezone": "America/New_York", "send_at": "08:30"},
]


def start(project: Path) -> tuple[subprocess.Popen, Path]:
    log = project / "schedule.log"
    with open(log, "w") as out:  # the child has its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "digest", "schedule", "--now", START, "--poll", "0.3"],
            cwd=project,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, log


def write_readers(project: Path, readers: list[dict]) -> None:
    entries = [{**r, "created": "2026-11-25T14:00:00Z"} for r in readers]
    (project / "subscribers.yaml").write_text(yaml.safe_dump({"subscribers": entries}, sort_keys=False))


def test_the_scheduler_plans_reloads_the_list_runs_alone_and_stops_on_sigterm(project):
    write_readers(project, READERS)
    process, log = start(project)
    try:
        wait_for(lambda: "planned 2 reader(s) in 2 slot(s)" in log.read_text(), "the first plan")

        second = subprocess.run(
            [sys.executable, "-m", "digest", "schedule"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2 and "already running" in second.stderr

        # an entry added by hand, in Tokyo (07:00 there passed 5 hours ago), is planned on
        # reload for its next send time: a reader never mailed gets no past issue at once
        YamlList(project / "subscribers.yaml").apply(
            "tokyo@example.org", Import({"timezone": "Asia/Tokyo"}), now=datetime.fromisoformat(START)
        )
        wait_for(lambda: "planned 3 reader(s) in 3 slot(s)" in log.read_text(), "the reload")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    out = log.read_text()
    assert "Traceback" not in out
    assert out.rstrip().endswith("stopped")
    assert not (project / "outbox").exists()  # no slot came while it ran
    # the lock went with the process: a new scheduler may start
    again, _ = start(project)
    try:
        wait_for(lambda: "scheduler started" in (project / "schedule.log").read_text(), "a restart")
    finally:
        os.kill(again.pid, signal.SIGTERM)
        assert again.wait(timeout=60) == 0


def test_a_slot_fires_when_the_clock_reaches_it_and_sends_only_to_its_readers(project):
    # The clock stands still at 06:59:57 until the test moves it past London's 07:00 and wakes
    # APScheduler: the job fires because its instant came, not because seconds went by.
    from digest import config as config_mod

    write_readers(project, READERS)
    outbox = project / "outbox" / "2026-11-26"
    with time_machine.travel(datetime.fromisoformat("2026-11-26T06:59:57+00:00"), tick=False) as clock:
        config = config_mod.load(project / "digest.yaml")
        daemon = Daemon(config, YamlList(config.list_path), poll=3600)
        stop = threading.Event()
        runner = threading.Thread(target=daemon.run, args=(stop,))
        runner.start()
        try:
            slots = ["slot 2026-11-26T07:00:00+00:00", "slot 2026-11-26T13:30:00+00:00"]
            wait_for(lambda: sorted(j.id for j in daemon.scheduler.get_jobs() if j.id in slots) == slots,
                     "the first plan")  # fmt: skip
            assert not outbox.exists()  # nobody was owed anything at 06:59:57

            clock.move_to(datetime.fromisoformat("2026-11-26T07:00:01+00:00"))
            daemon.scheduler.wakeup()
            wait_for(lambda: (outbox / "london@example.org.eml").exists(), "London's 07:00 digest")
            wait_for(lambda: daemon.scheduler.get_job(slots[0]) is None, "the slot's job to retire")
            assert daemon.scheduler.get_job(slots[1]) is not None  # New York's 08:30 is still ahead
        finally:
            stop.set()
            runner.join(timeout=120)
    assert not runner.is_alive()
    assert sorted(p.name for p in outbox.iterdir()) == ["london@example.org.eml"]


def test_a_job_that_fires_late_still_runs(project):
    # The machine slept through 07:00, or a long run held the only worker: the job's time
    # is minutes past. APScheduler's default grace of 1 s would skip it; ours runs it.
    from digest import config as config_mod

    config = config_mod.load(project / "digest.yaml")
    daemon = Daemon(config, YamlList(config.list_path))
    ran = threading.Event()
    daemon.scheduler.start()
    try:
        late = datetime.now(UTC) - timedelta(minutes=10)
        daemon.scheduler.add_job(ran.set, "date", run_date=late, id="late")
        assert ran.wait(timeout=30)
        wait_for(lambda: daemon.scheduler.get_job("late") is None, "APScheduler to retire the job")
    finally:
        daemon.scheduler.shutdown(wait=True)


def test_a_list_with_problems_keeps_the_previous_plan_and_logs_each_problem(project, caplog):
    from digest import config as config_mod

    entries = [
        {"email": "london@example.org", "timezone": "Europe/London", "send_at": "07:00"},
        {"email": "ny@example.org", "timezone": "America/New_York", "send_at": "08:30"},
        {"email": "gone@example.org", "status": "unsubscribed"},
    ]
    path = project / "subscribers.yaml"
    path.write_text(yaml.safe_dump({"subscribers": entries}, sort_keys=False))
    config = config_mod.load(project / "digest.yaml")
    daemon = Daemon(
        config, YamlList(config.list_path), start=datetime.fromisoformat("2026-11-26T06:59:57+00:00")
    )
    caplog.set_level("INFO", logger="digest.schedule")
    daemon.plan()
    planned = sorted(job.id for job in daemon.scheduler.get_jobs())
    assert planned == ["slot 2026-11-26T07:00:00+00:00", "slot 2026-11-26T13:30:00+00:00"]
    assert "planned 2 reader(s) in 2 slot(s)" in caplog.text

    path.write_text(yaml.safe_dump({"subscribers": [*entries, {"email": "not an address"}]}, sort_keys=False))
    caplog.clear()
    daemon.plan()
    assert sorted(job.id for job in daemon.scheduler.get_jobs()) == planned
    assert "subscribers.yaml:" in caplog.text and "not an address" in caplog.text
    assert "keeping the previous plan" in caplog.text
