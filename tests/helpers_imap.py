"""A real IMAP server for the inbox tests: Debian's Dovecot on a free loopback port, TLS with a
self-signed certificate for 127.0.0.1, one user with a password, mail in a Maildir in a
temporary folder. As root, Dovecot runs its processes as `dovecot` and `dovenull` (the
package's users) and the mail as the owner of the folder."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .helpers_smtp import self_signed

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
SKIP_REASON = "Dovecot is not installed (Debian package dovecot-imapd; .ci/run installs it)"
USER, PASSWORD = "bounces@example.org", "inbox-password-for-the-tests"


def available() -> bool:
    return Path(DOVECOT).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ImapServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="digest-imap-"))
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.cert, self.key = self_signed(self.root)
        self.maildir = self.root / "home" / "Maildir"

    def start(self) -> ImapServer:
        # Dovecot will not keep mail as root: as root the mail belongs to `nobody`.
        owner = pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
        self.root.chmod(0o755)  # Dovecot's auth process (user dovecot) reads the password file
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        folders = [self.root / "home", self.maildir, *(self.maildir / sub for sub in ("new", "cur", "tmp"))]
        for folder in folders:
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        run = self.root / "run"
        run.mkdir()
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""protocols = imap
listen = 127.0.0.1
base_dir = {run}
state_dir = {self.root / "state"}
log_path = {self.root / "dovecot.log"}
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{self.key}
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = {self.root / "passwd"}
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={self.root / "home"}
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        )
        (self.root / "state").mkdir()
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    logged = self.root / "dovecot.log"
                    log = logged.read_text() if logged.exists() else ""
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"Dovecot did not start: {err} {log[-2000:]}") from None
                time.sleep(0.1)

    def url(self) -> str:
        return f"imaps://bounces%40example.org@127.0.0.1:{self.port}/INBOX"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
