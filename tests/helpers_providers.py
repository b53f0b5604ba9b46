"""The mail providers' APIs on the loopback replay server (tests/helpers_http.py), answering
with the bodies their documentation shows (tests/fixtures/providers/README.md).

    with ReplayServer() as server:
        api = Api.on(server, "postmark")         # routes installed, answers recorded
        api.refuse("reader00003@example.org", "inactive")
        api.throttle_on(2, retry_after="1")      # the 2nd call answers 429
        ... digest send with api.url ...
        api.accepted                             # Counter: messages taken, per recipient

Every call is read back into the recipients it carried, so a test counts what the provider
took per reader, and sees each call's batch size.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from .helpers_http import ReplayServer, Reply, Seen

FIXTURES = Path(__file__).parent / "fixtures" / "providers"

# What each provider needs in the environment, to be set by the tests.
KEYS = {
    "ses": {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bEXAMPLEKEY"},
    "postmark": {"DIGEST_POSTMARK_TOKEN": "server-token-0000"},
    "mailgun": {"DIGEST_MAILGUN_API_KEY": "key-0000"},
    "sendgrid": {"DIGEST_SENDGRID_API_KEY": "SG.0000"},
    "resend": {"DIGEST_RESEND_API_KEY": "re_0000"},
}
PATHS = {
    "ses": "/v2/email/outbound-emails",
    "postmark": "/email/batch",
    "mailgun": "/v3/mg.example.org/messages.mime",
    "sendgrid": "/v3/mail/send",
    "resend": "/emails/batch",
}
BATCH = {"ses": 1, "postmark": 500, "mailgun": 1, "sendgrid": 1, "resend": 100}


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def recipients(provider: str, seen: Seen) -> list[str]:
    """The addresses one call carried, one per message."""
    if provider == "mailgun":
        found = re.search(rb'name="to"\r\n\r\n([^\r]*)\r\n', seen.body)
        return [found[1].decode()] if found else []
    body = seen.json()
    if provider == "postmark":
        return [parseaddr(m["To"])[1] for m in body]
    if provider == "resend":
        return [parseaddr(m["to"][0])[1] for m in body]
    if provider == "sendgrid":
        return [p["to"][0]["email"] for p in body["personalizations"]]
    return list(body["Destination"]["ToAddresses"])


@dataclass
class Api:
    provider: str
    server: ReplayServer
    accepted: Counter = field(default_factory=Counter)
    batches: list[int] = field(default_factory=list)  # messages per call, 429s included
    refusals: dict[str, str] = field(default_factory=dict)  # recipient -> kind of refusal
    throttles: dict[int, str] = field(default_factory=dict)  # call number -> Retry-After
    drops: set[int] = field(default_factory=set)  # call numbers answered with a dropped connection
    whole: dict[int, Reply] = field(default_factory=dict)  # call number -> a reply for the whole call
    once: set[str] = field(default_factory=set)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def on(cls, server: ReplayServer, provider: str) -> Api:
        api = cls(provider, server)
        server.routes[PATHS[provider]] = api._answer
        return api

    @property
    def url(self) -> str:
        base = self.server.url
        host = {"ses": "eu-west-1", "mailgun": "mg.example.org"}.get(self.provider, "")
        return f"{self.provider}://{host}?endpoint={base}"

    def refuse(self, email: str, kind: str, *, once: bool = False) -> None:
        """kind: "invalid_to" (the address), "refused" (the message), or for Postmark "inactive"
        and "unknown" (an ErrorCode it does not document). `once`: the next try is taken."""
        self.refusals[email] = kind
        if once:
            self.once.add(email)

    def throttle_on(self, call: int, retry_after: str = "0") -> None:
        self.throttles[call] = retry_after

    def drop_on(self, call: int) -> None:
        self.drops.add(call)

    def reply_on(self, call: int, reply: Reply) -> None:
        self.whole[call] = reply

    # The server's side.

    def _answer(self, seen: Seen) -> Reply:
        with self.lock:  # the server answers each connection on its own thread
            return self._locked(seen)

    def _locked(self, seen: Seen) -> Reply:
        self.calls += 1
        call = self.calls
        emails = recipients(self.provider, seen)
        self.batches.append(len(emails))
        try:
            return self._reply(call, emails)
        finally:
            for email in self.once.intersection(emails):
                self.once.discard(email)
                del self.refusals[email]

    def _reply(self, call: int, emails: list[str]) -> Reply:
        if call in self.throttles:
            return self._throttled(self.throttles[call])
        if call in self.whole:
            return self.whole[call]
        if call in self.drops:  # taken, then the connection drops before the answer
            self.accepted.update(emails)
            return Reply(b"{}", 200, truncate_to=0)
        return getattr(self, f"_{self.provider}")(emails)

    def _throttled(self, retry_after: str) -> Reply:
        name = f"{self.provider}_429.json"
        headers = {"Retry-After": retry_after}
        if self.provider == "ses":
            headers["X-Amzn-ErrorType"] = "TooManyRequestsException:"
        return Reply((FIXTURES / name).read_bytes(), 429, headers=headers)

    def _postmark(self, emails: list[str]) -> Reply:
        kinds = fixture("postmark_batch.json")
        out = []
        for email in emails:
            kind = self.refusals.get(email)
            if kind is None:
                self.accepted[email] += 1
                out.append({**kinds["ok"], "To": email, "MessageID": f"pm-{self.accepted.total()}"})
            else:
                entry = kinds["invalid_request" if kind == "refused" else kind]
                out.append({**entry, "Message": entry["Message"].replace("receiver1@example.com", email)})
        return Reply(json.dumps(out).encode())

    def _resend(self, emails: list[str]) -> Reply:
        recorded = fixture("resend_batch.json")
        data, errors = [], []
        for i, email in enumerate(emails):
            kind = self.refusals.get(email)
            if kind is None:
                self.accepted[email] += 1
                data.append({"id": f"re-{self.accepted.total()}"})
            else:
                entry = recorded["errors"][0] if kind == "invalid_to" else recorded["refused"]
                errors.append({**entry, "index": i})
        return Reply(json.dumps({"data": data, "errors": errors}).encode())

    def _one(self, emails: list[str]) -> tuple[str, str | None]:
        (email,) = emails
        kind = self.refusals.get(email)
        if kind is None:
            self.accepted[email] += 1
        return email, kind

    def _ses(self, emails: list[str]) -> Reply:
        email, kind = self._one(emails)
        if kind is None:
            return Reply((FIXTURES / "ses_send.json").read_bytes())
        name = {"refused": "MessageRejected", "suspended": "AccountSuspendedException"}[kind]
        body = FIXTURES / ("ses_message_rejected.json" if kind == "refused" else "ses_account_suspended.json")
        return Reply(body.read_bytes(), 400, headers={"X-Amzn-ErrorType": f"{name}:"})

    def _mailgun(self, emails: list[str]) -> Reply:
        email, kind = self._one(emails)
        if kind is None:
            return Reply((FIXTURES / "mailgun_queued.json").read_bytes())
        if kind == "invalid_to":
            return Reply((FIXTURES / "mailgun_invalid_to.json").read_bytes(), 400)
        return Reply(b'{"message": "Message size exceeds the limit"}', 413)

    def _sendgrid(self, emails: list[str]) -> Reply:
        email, kind = self._one(emails)
        if kind is None:
            return Reply(b"", 202, "text/plain", headers={"X-Message-Id": f"sg-{self.accepted.total()}"})
        if kind == "invalid_to":
            return Reply((FIXTURES / "sendgrid_invalid_to.json").read_bytes(), 400)
        body = {"errors": [{"message": "The subject is required.", "field": "subject", "help": None}]}
        return Reply(json.dumps(body).encode(), 400)
