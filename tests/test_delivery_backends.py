"""Each delivery backend as configured by a user: SMTP with STARTTLS and login, implicit TLS,
passwords never in the clear, DKIM signing verified by dkimpy, Maildir and console; and the
config errors a wrong `delivery:` section gets."""

from __future__ import annotations

import base64
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from .helpers_smtp import NOW, SmtpServer, self_signed, send_project, server_tls, write_project

PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET", "test-secret-for-smtp-0123456789abcdef")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def test_starttls_then_login_with_the_password_from_the_environment(tmp_path, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test certificate
    monkeypatch.setenv(PASSWORD_ENV, "s3cret pass")
    with SmtpServer(starttls=server_tls(*certificate), users={"digest@example.org": "s3cret pass"}) as sink:
        emails = write_project(tmp_path, url=f"smtp://digest%40example.org@localhost:{sink.port}", readers=3)
        report = send_project(tmp_path)
    assert report.exit_code == 0, report.problems
    assert sink.counts() == {email: 1 for email in emails}
    assert all(r.tls and r.login == "digest@example.org" for r in sink.received)


def test_implicit_tls_on_smtps(tmp_path, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with SmtpServer(implicit_tls=server_tls(*certificate)) as sink:
        write_project(tmp_path, url=f"smtps://localhost:{sink.port}", readers=2)
        report = send_project(tmp_path)
    assert report.sent == 2 and all(r.tls for r in sink.received)


def test_a_password_is_never_sent_to_a_server_without_tls(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    with SmtpServer() as sink:  # offers neither STARTTLS nor AUTH
        write_project(tmp_path, url=f"smtp://digest@127.0.0.1:{sink.port}", readers=10)
        report = send_project(tmp_path)
    assert report.sent == 0 and report.exit_code == 1
    assert "does not offer STARTTLS" in report.stopped and "never sent in the clear" in report.stopped
    assert sink.auth_attempts == 0


def test_a_wrong_password_stops_the_run_and_names_the_variable(tmp_path, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with SmtpServer(starttls=server_tls(*certificate), users={"digest": "right"}) as sink:
        write_project(tmp_path, url=f"smtp://digest@localhost:{sink.port}", readers=10)
        report = send_project(tmp_path)
    assert report.sent == 0 and report.bounced == 0
    assert "login as 'digest' failed" in report.stopped and PASSWORD_ENV in report.stopped


def test_an_untrusted_certificate_stops_the_run_with_what_to_do(tmp_path, certificate):
    with SmtpServer(starttls=server_tls(*certificate)) as sink:
        write_project(tmp_path, url=f"smtp://localhost:{sink.port}", readers=3)
        refused = send_project(tmp_path)
        assert refused.sent == 0 and "certificate not trusted" in refused.stopped
        assert "tls_verify: false" in refused.stopped
        config = (tmp_path / "digest.yaml").read_text()
        (tmp_path / "digest.yaml").write_text(config + "  tls_verify: false\n")
        accepted = send_project(tmp_path)
    assert accepted.sent == 3 and all(r.tls for r in sink.received)


def _dkim_key(folder: Path) -> tuple[Path, bytes]:
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_verifies_covers_one_click_unsubscribe_and_is_one_line(tmp_path):
    dkim = pytest.importorskip("dkim", reason="dkimpy (the dkim extra) is not installed")
    key, record = _dkim_key(tmp_path)
    with SmtpServer() as sink:
        write_project(
            tmp_path,
            url=f"smtp://127.0.0.1:{sink.port}",
            readers=2,
            delivery=f"  dkim:\n    selector: mail2026\n    key_file: {key.name}",
        )
        assert send_project(tmp_path).sent == 2
    asked = []

    def dns(name, timeout=5):
        asked.append(name)
        return record

    for received in sink.received:
        assert dkim.verify(received.data, dnsfunc=dns), "the signature does not verify"
        headers = received.data.split(b"\r\n\r\n", 1)[0].decode()
        assert not any(line[:1] in (" ", "\t") for line in headers.split("\r\n")), "a folded header"
        signature = message_from_bytes(received.data, policy=policy.default)["DKIM-Signature"]
        signed = {h.strip().lower() for h in signature.split("h=")[1].split(";")[0].split(":")}
        assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject"} <= signed
        assert "d=example.org" in signature
    assert asked == [b"mail2026._domainkey.example.org."] * 2

    tampered = sink.received[0].data.replace(b"Subject: ", b"Subject: FREE ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_maildir_delivery_a_message_per_reader_in_new(tmp_path):
    emails = write_project(tmp_path, url="maildir://mail", readers=4)
    report = send_project(tmp_path)
    assert report.sent == 4
    files = sorted((tmp_path / "mail" / "new").iterdir())
    assert len(files) == 4 and not list((tmp_path / "mail" / "tmp").iterdir())
    recipients = {message_from_bytes(f.read_bytes(), policy=policy.default)["To"] for f in files}
    assert recipients == set(emails)


def test_console_prints_each_message(tmp_path, cli):
    write_project(tmp_path, url="console://", readers=2)
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("List-Unsubscribe-Post: List-Unsubscribe=One-Click") == 2
    assert "sent 2," in result.stdout and "msg/s" in result.stdout


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ("url: smtp://digest:hunter2@mail.example.org:587", "password does not belong in the URL"),
        ("url: gopher://mail.example.org", "scheme 'gopher' is not supported"),
        ("url: smtp://mail.example.org:smtp", "the port must be a number"),
        (
            "url: smtp://127.0.0.1:25\n  concurrency: 0",
            "concurrency: Input should be greater than or equal to 1",
        ),
        (
            "url: smtp://127.0.0.1:25\n  dkim:\n    selector: s1\n    key_file: nope.pem",
            "nope.pem is not a file",
        ),
        ("url: smtp://127.0.0.1:25\n  retry: 3", "unknown field 'delivery.retry'"),
    ],
)
def test_a_bad_delivery_section_is_a_usage_error_naming_the_line(tmp_path, cli, delivery, expected):
    write_project(tmp_path, url="file://outbox", readers=1)
    config = (tmp_path / "digest.yaml").read_text()
    head, _ = config.split("delivery:\n")
    (tmp_path / "digest.yaml").write_text(head + "delivery:\n  " + delivery + "\n")
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert expected in result.stderr and "digest.yaml:" in result.stderr
    assert "Traceback" not in result.stderr


def test_dkim_with_a_key_that_is_not_a_key_stops_before_anything_is_sent(tmp_path, cli):
    pytest.importorskip("dkim", reason="dkimpy (the dkim extra) is not installed")
    (tmp_path / "bad.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    write_project(
        tmp_path, url="file://outbox", readers=2, delivery="  dkim:\n    selector: s1\n    key_file: bad.pem"
    )
    result = cli("send", "--now", NOW, cwd=tmp_path)
    assert result.returncode == 2 and "is not a usable PEM RSA private key" in result.stderr
    assert not (tmp_path / "outbox").exists() and not (tmp_path / "state.db").exists()
