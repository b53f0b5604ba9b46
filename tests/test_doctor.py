"""`digest doctor` against real servers on loopback: a DNS server (dnslib) answering from a zone
written here, aiosmtpd relays that accept or refuse the login, one that is down, and a real
`digest serve`. A correct setup is all OK (exit 0); each broken variant FAILs the right line
with what to do (exit 1); no variant mails anyone."""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.cli import main

from .helpers_smtp import NOW, SmtpServer, certificate, server_tls, write_project
from .helpers_web import SECRET, free_port, serving

__all__ = ["certificate"]  # a fixture

dnslib_server = pytest.importorskip("dnslib.server", reason="dnslib (dev extra) is not installed")
PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"


def _key(folder: Path, name: str) -> tuple[Path, str]:
    """An RSA key (1024 bits: its DKIM record fits one TXT string) and its DKIM record."""
    key = folder / f"{name}.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("dkim")
    return {"ours": _key(folder, "ours"), "other": _key(folder, "other")}


@pytest.fixture(scope="module")
def nameserver(keys) -> Iterator[str]:
    """A DNS server on loopback: good.example.net has MX, SPF for 127.0.0.1, DMARC and our DKIM key;
    bare.example.net has none of them; otherkey.example.net publishes a DKIM key that is not ours."""
    from dnslib.server import DNSLogger, DNSServer
    from dnslib.zoneresolver import ZoneResolver

    ours, other = keys["ours"][1], keys["other"][1]
    zone = "\n".join(
        line
        for domain, dkim in (("good.example.net", ours), ("otherkey.example.net", other))
        for line in (
            f"{domain}. 60 IN MX 10 mx.{domain}.",
            f'{domain}. 60 IN TXT "v=spf1 ip4:127.0.0.1 -all"',
            f'_dmarc.{domain}. 60 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}"',
            f'sel._domainkey.{domain}. 60 IN TXT "{dkim}"',
        )
    )
    zone += '\nbare.example.net. 60 IN TXT "nothing about mail here"\n'
    # SPF that reaches the relay only through an include and an mx term; and one that misses it.
    for domain, spf in (("viainclude.example.net", "include:_spf.viainclude.example.net ~all"),
                        ("elsewhere.example.net", "ip4:192.0.2.0/24 a -all")):  # fmt: skip
        zone += f'{domain}. 60 IN MX 10 mx.{domain}.\n{domain}. 60 IN TXT "v=spf1 {spf}"\n'
        zone += (
            f'_dmarc.{domain}. 60 IN TXT "v=DMARC1; p=none"\nsel._domainkey.{domain}. 60 IN TXT "{ours}"\n'
        )
    zone += '_spf.viainclude.example.net. 60 IN TXT "v=spf1 ip4:192.0.2.7 mx:viainclude.example.net -all"\n'
    zone += "mx.viainclude.example.net. 60 IN A 127.0.0.1\nelsewhere.example.net. 60 IN A 192.0.2.9\n"
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    server = DNSServer(ZoneResolver(zone, glob=False), port=0, address="127.0.0.1", logger=quiet)
    server.start_thread()
    try:
        yield f"127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _env(monkeypatch, certificate):
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv(PASSWORD_ENV, "right-password")


@pytest.fixture(scope="module")
def relay(certificate) -> Iterator:
    with SmtpServer(starttls=server_tls(*certificate), users={"digest": "right-password"}) as sink:
        yield sink


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[str]:
    project = tmp_path_factory.mktemp("web")
    write_project(project, url="file://outbox", readers=1)
    with serving(project) as base:
        yield base


def project(
    root: Path, keys, *, domain: str = "good.example.net", port: int, base_url: str, key: str = "ours"
) -> Path:
    write_project(
        root,
        url=f"smtp://digest@localhost:{port}",
        readers=2,
        delivery=f"  dkim:\n    selector: sel\n    key_file: {keys[key][0]}",
    )
    config = root / "digest.yaml"
    text = config.read_text().replace("papers@example.org", f"papers@{domain}")
    config.write_text(re.sub(r"base_url: \S+", f"base_url: {base_url}", text))
    return config


def doctor(config: Path, nameserver: str, capsys, *more: str) -> tuple[int, dict[str, list[str]]]:
    code = main(["--config", str(config), "doctor", "--now", NOW, "--nameserver", nameserver, *more])
    lines: dict[str, list[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        level, _, rest = line.partition("  ")
        name = rest.strip()[:12].strip()
        lines.setdefault(name, []).append(f"{level.strip()} {rest.strip()[12:].strip()}")
    return code, lines


def levels(lines: dict[str, list[str]]) -> dict[str, str]:
    return {
        name: found[0].split()[0]
        for name, found in lines.items()
        if found[0].split()[0] in ("OK", "WARN", "FAIL")
    }


def test_a_correct_setup_is_all_ok_and_mails_nobody(tmp_path, keys, nameserver, relay, web, capsys):
    config = project(tmp_path, keys, port=relay.port, base_url=web)
    before = relay.total()
    code, lines = doctor(config, nameserver, capsys)
    assert set(levels(lines).values()) == {"OK"}, lines
    assert code == 0
    for name in ("config", "secret", "state", "source", "delivery", "dns mx", "dns spf", "dns dmarc",
                 "dns dkim", "base_url", "unsubscribe"):  # fmt: skip
        assert name in lines, name
    assert "logged in as 'digest'" in lines["delivery"][0] and "TLS" in lines["delivery"][0]
    assert relay.total() == before  # logged in and quit: nothing sent


def test_a_domain_without_mx_spf_and_dmarc_fails_each_with_the_record_to_add(
    tmp_path, keys, nameserver, relay, web, capsys
):
    config = project(tmp_path, keys, domain="bare.example.net", port=relay.port, base_url=web)
    code, lines = doctor(config, nameserver, capsys)
    assert code == 1
    found = levels(lines)
    assert found["dns mx"] == found["dns spf"] == found["dns dmarc"] == found["dns dkim"] == "FAIL"
    assert "add an MX record" in lines["dns mx"][0]
    assert '"v=spf1 ip4:' in lines["dns spf"][0]
    assert "_dmarc.bare.example.net" in lines["dns dmarc"][0]
    assert found["delivery"] == "OK"


def test_a_dkim_key_that_is_not_ours_fails_the_dkim_line(tmp_path, keys, nameserver, relay, web, capsys):
    config = project(tmp_path, keys, domain="otherkey.example.net", port=relay.port, base_url=web)
    code, lines = doctor(config, nameserver, capsys)
    assert code == 1
    found = levels(lines)
    assert found["dns dkim"] == "FAIL" and "does not match" in lines["dns dkim"][0]
    assert "publish the public key" in lines["dns dkim"][0]
    assert found["dns spf"] == found["dns dmarc"] == found["dns mx"] == "OK"


def test_a_relay_that_refuses_the_login_fails_the_delivery_line(
    tmp_path, keys, nameserver, relay, web, capsys, monkeypatch
):
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password")
    config = project(tmp_path, keys, port=relay.port, base_url=web)
    before = relay.total()
    code, lines = doctor(config, nameserver, capsys)
    assert code == 1
    assert levels(lines)["delivery"] == "FAIL"
    assert "login as 'digest' failed" in lines["delivery"][0] and PASSWORD_ENV in lines["delivery"][0]
    assert relay.total() == before


def test_a_relay_that_is_down_fails_the_delivery_line(tmp_path, keys, nameserver, web, capsys):
    config = project(tmp_path, keys, port=free_port(), base_url=web)
    code, lines = doctor(config, nameserver, capsys)
    assert code == 1
    assert levels(lines)["delivery"] == "FAIL"
    assert "cannot connect" in lines["delivery"][0] and "relay is up" in lines["delivery"][0]


def test_a_base_url_that_does_not_answer_fails_with_what_to_do(tmp_path, keys, nameserver, relay, capsys):
    config = project(tmp_path, keys, port=relay.port, base_url=f"http://127.0.0.1:{free_port()}")
    code, lines = doctor(config, nameserver, capsys)
    assert code == 1
    assert levels(lines)["base_url"] == "FAIL" and "digest serve" in lines["base_url"][0]


def test_send_test_mails_one_issue_to_the_address_given_and_nobody_else(
    tmp_path, keys, nameserver, relay, web, capsys
):
    config = project(tmp_path, keys, port=relay.port, base_url=web)
    before = relay.total()
    code, lines = doctor(config, nameserver, capsys, "--send-test", "ops@lab.example.org")
    assert code == 0, lines
    assert levels(lines)["send-test"] == "OK"
    assert [r.rcpt for r in relay.received[before:]] == ["ops@lab.example.org"]


def _provider_project(root: Path, url: str, base_url: str) -> Path:
    write_project(root, url=url, readers=1)
    config = root / "digest.yaml"
    config.write_text(re.sub(r"base_url: \S+", f"base_url: {base_url}", config.read_text()))
    return config


@pytest.mark.parametrize(
    ("provider", "path", "header", "expected"),
    [
        ("postmark", "/server", "x-postmark-server-token", "server-token-0000"),
        ("sendgrid", "/v3/scopes", "authorization", "Bearer SG.0000"),
        ("resend", "/domains", "authorization", "Bearer re_0000"),
    ],
)
def test_a_providers_key_is_checked_at_its_account_endpoint_and_a_wrong_one_fails(
    tmp_path, nameserver, web, capsys, monkeypatch, provider, path, header, expected
):
    from .helpers_http import ReplayServer, Reply, Seen
    from .helpers_providers import KEYS, Api

    for name, value in KEYS[provider].items():
        monkeypatch.setenv(name, value)

    def account(seen: Seen) -> Reply:
        if seen.headers.get(header) == expected:
            return Reply(b'{"Name": "lab"}')
        return Reply(b'{"ErrorCode": 10, "Message": "Bad or missing API token"}', 401)

    with ReplayServer() as server:
        server.routes[path] = account
        config = _provider_project(tmp_path, Api(provider, server).url, web)
        sent_before = len(server.requests)
        _, lines = doctor(config, nameserver, capsys)
        assert levels(lines)["delivery"] == "OK" and "the key is accepted" in lines["delivery"][0]
        assert [r.method for r in server.requests[sent_before:]] == ["GET"]  # nothing was sent
        monkeypatch.setenv(next(iter(KEYS[provider])), "not-the-key")
        code, lines = doctor(config, nameserver, capsys)
    assert code == 1 and levels(lines)["delivery"] == "FAIL"
    assert "HTTP 401" in lines["delivery"][0] and next(iter(KEYS[provider])) in lines["delivery"][0]


def test_a_resend_key_limited_to_sending_passes_the_key_check(tmp_path, nameserver, web, capsys, monkeypatch):
    from .helpers_http import ReplayServer, Reply
    from .helpers_providers import KEYS, Api

    monkeypatch.setenv("DIGEST_RESEND_API_KEY", KEYS["resend"]["DIGEST_RESEND_API_KEY"])
    with ReplayServer() as server:
        server.routes["/domains"] = Reply(
            b'{"statusCode": 401, "name": "restricted_api_key", "message": "This API key is restricted '
            b'to only send emails"}',
            401,
        )
        config = _provider_project(tmp_path, Api("resend", server).url, web)
        _, lines = doctor(config, nameserver, capsys)
    assert levels(lines)["delivery"] == "OK"


def test_a_damaged_state_file_fails_the_state_line(tmp_path, keys, nameserver, relay, web, capsys):
    config = project(tmp_path, keys, port=relay.port, base_url=web)
    (tmp_path / "state.db").write_bytes(b"this is not a database, it was overwritten" * 100)
    code, lines = doctor(config, nameserver, capsys)
    assert code == 1 and levels(lines)["state"] == "FAIL"
    assert "state.db" in lines["state"][0]


def test_a_nameserver_that_is_not_an_address_is_a_usage_error_before_any_check(tmp_path, capsys):
    write_project(tmp_path, url="file://outbox", readers=1)
    assert main(["--config", str(tmp_path / "digest.yaml"), "doctor", "--nameserver", "dns.example"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and "--nameserver 'dns.example': give an IP address" in said.err


@pytest.mark.parametrize(
    ("domain", "level", "said"),
    [
        ("viainclude.example.net", "OK", "SPF covers the relay localhost"),
        (
            "elsewhere.example.net",
            "FAIL",
            "does not cover the relay localhost (127.0.0.1) -> add ip4:127.0.0.1",
        ),
    ],
)
def test_spf_is_followed_through_include_and_mx_to_the_relays_address(
    tmp_path, keys, nameserver, relay, web, capsys, domain, level, said
):
    config = project(tmp_path, keys, domain=domain, port=relay.port, base_url=web)
    code, lines = doctor(config, nameserver, capsys)
    assert levels(lines)["dns spf"] == level and said in lines["dns spf"][0], lines["dns spf"]
    assert code == (0 if level == "OK" else 1)
