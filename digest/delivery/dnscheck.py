"""The sender's domain as receiving mail servers see it: MX, SPF (and whether it covers the
relay or provider that sends), DMARC, and the DKIM selector's public key, checked by signing
a message with the configured private key and verifying it against the published record.

Gmail and Yahoo require SPF or DKIM, plus DMARC, from bulk senders: a domain without them has
its issues filed as spam or refused. Each check returns a `Found` (level, what, what to do);
`digest doctor` (digest/jobs/doctor.py) prints them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import install_hint

if TYPE_CHECKING:
    import dns.resolver

    from ..config import Delivery

SPF_LOOKUPS = 10  # RFC 7208 4.6.4: more DNS lookups than this and the record is a permerror
# What each provider's SPF include is called: a domain sending through one must include it.
PROVIDER_SPF = {
    "ses": "amazonses.com",
    "resend": "amazonses.com",
    "postmark": "spf.mtasv.net",
    "mailgun": "mailgun.org",
    "sendgrid": "sendgrid.net",
}
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Found:
    level: str  # OK, WARN, FAIL
    says: str
    fix: str = ""


def resolver(nameserver: str | None, timeout: float = 5.0) -> dns.resolver.Resolver:
    """The system's resolver, or one asking only `nameserver` (IP, IP:PORT or [IPv6]:PORT)."""
    import dns.resolver

    if nameserver is None:
        found = dns.resolver.Resolver()
    else:
        host, port = host_port(nameserver)
        found = dns.resolver.Resolver(configure=False)
        found.nameservers = [host]
        found.port = port
    found.lifetime = timeout
    return found


def host_port(text: str) -> tuple[str, int]:
    from ..errors import DigestError

    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise DigestError(f"--nameserver {text!r}: give an IP address, IP:PORT or [IPv6]:PORT") from None
    return host, number


class Lookup:
    """TXT, MX and address records through one resolver; a name without them is []."""

    def __init__(self, resolver: dns.resolver.Resolver):
        self.resolver = resolver

    def _answer(self, name: str, kind: str) -> list:
        import dns.exception
        import dns.resolver

        try:
            return list(self.resolver.resolve(name, kind))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except dns.exception.Timeout:
            raise LookupError(f"no answer from the DNS server asking {kind} {name}") from None

    def txt(self, name: str) -> list[str]:
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self._answer(name, "TXT")]

    def mx(self, name: str) -> list[str]:
        return [str(r.exchange).rstrip(".") for r in self._answer(name, "MX")]

    def addresses(self, name: str) -> list[IpAddress]:
        found = [ipaddress.ip_address(r.address) for kind in ("A", "AAAA") for r in self._answer(name, kind)]
        return found


def check_mx(lookup: Lookup, domain: str) -> Found:
    hosts = lookup.mx(domain)
    if not hosts:
        return Found(
            "FAIL",
            f"{domain} has no MX record: replies and bounces cannot reach it, and receivers distrust it",
            f"add an MX record for {domain} naming the server that receives its mail",
        )
    return Found("OK", f"{domain} receives mail at {', '.join(hosts)}")


def spf_record(lookup: Lookup, domain: str) -> str | None:
    records = [t for t in lookup.txt(domain) if t.lower().startswith("v=spf1")]
    return records[0] if len(records) == 1 else None


def sending_ips(delivery: Delivery, lookup: Lookup) -> tuple[list[IpAddress], str]:
    """The relay's addresses (an SMTP delivery), and its host as the report names it."""
    from urllib.parse import urlsplit

    host = urlsplit(delivery.url).hostname or ""
    try:
        return [ipaddress.ip_address(host)], host
    except ValueError:
        pass
    found = lookup.addresses(host)
    if not found:
        try:
            found = [ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(host, None)]
        except OSError:
            found = []
    return list(dict.fromkeys(found)), host


def check_spf(lookup: Lookup, domain: str, delivery: Delivery) -> Found:
    from urllib.parse import urlsplit

    scheme = urlsplit(delivery.url).scheme
    record = spf_record(lookup, domain)
    if record is None:
        example = (
            f"include:{PROVIDER_SPF[scheme]}" if scheme in PROVIDER_SPF else "ip4:<your relay's address>"
        )
        return Found(
            "FAIL",
            f"{domain} has no SPF record (or more than one): receivers cannot tell the relay may send for it",
            f'add one TXT record on {domain}: "v=spf1 {example} -all"',
        )
    if scheme in PROVIDER_SPF:
        include = PROVIDER_SPF[scheme]
        if include in _includes(lookup, domain, 0):
            return Found("OK", f"{domain}: SPF includes {include} ({scheme})")
        return Found(
            "FAIL",
            f"{domain}: SPF ({record}) does not include {include}, which {scheme} sends from",
            f"add include:{include} to the SPF record of {domain}",
        )
    if scheme not in ("smtp", "smtps"):
        return Found("OK", f"{domain}: SPF {record} (delivery {scheme}:// sends nothing itself)")
    ips, host = sending_ips(delivery, lookup)
    if not ips:
        return Found(
            "WARN", f"{domain}: SPF {record}; cannot resolve the relay {host} to check it is covered"
        )
    uncovered = [ip for ip in ips if not covers(lookup, domain, ip, [0])]
    if uncovered:
        return Found(
            "FAIL",
            f"{domain}: SPF ({record}) does not cover the relay {host} ({', '.join(map(str, uncovered))})",
            f"add ip{uncovered[0].version}:{uncovered[0]} (or the relay provider's include:) to it",
        )
    return Found("OK", f"{domain}: SPF covers the relay {host}")


def _includes(lookup: Lookup, domain: str, depth: int) -> set[str]:
    """Every domain an SPF record includes or redirects to, however deep (within the limit)."""
    record = spf_record(lookup, domain) if depth <= SPF_LOOKUPS else None
    found: set[str] = set()
    for term in (record or "").split()[1:]:
        name, _, target = term.lstrip("+-~?").partition(":")
        if name.lower() == "include" or term.lower().startswith("redirect="):
            target = target or term.partition("=")[2]
            found |= {target, *_includes(lookup, target, depth + 1)}
    return found


def covers(lookup: Lookup, domain: str, ip: IpAddress, lookups: list[int]) -> bool:
    """Whether `domain`'s SPF passes mail from `ip` (the pass mechanisms that name addresses,
    as RFC 7208 evaluates them; macros are not expanded)."""
    record = spf_record(lookup, domain)
    if record is None or lookups[0] > SPF_LOOKUPS:
        return False
    for term in record.split()[1:]:
        if term.lower().startswith("redirect="):
            lookups[0] += 1
            return covers(lookup, term.partition("=")[2], ip, lookups)
        qualifier, mechanism = (term[0], term[1:]) if term[0] in "+-~?" else ("+", term)
        matched = _matches(lookup, domain, mechanism, ip, lookups)
        if matched:
            return qualifier == "+"
    return False


def _matches(lookup: Lookup, domain: str, mechanism: str, ip: IpAddress, lookups: list[int]) -> bool:
    name, _, arg = mechanism.partition(":")
    name = name.lower().split("/")[0]
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        try:
            return ip in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    if name == "include":
        lookups[0] += 1
        return covers(lookup, arg, ip, lookups)
    target, _, cidr = (arg or domain).partition("/")
    if name == "a":
        lookups[0] += 1
        return any(_within(ip, a, cidr) for a in lookup.addresses(target))
    if name == "mx":
        lookups[0] += 1
        return any(_within(ip, a, cidr) for host in lookup.mx(target) for a in lookup.addresses(host))
    return False


def _within(ip: IpAddress, address: IpAddress, cidr: str) -> bool:
    if ip.version != address.version:
        return False
    bits = int(cidr) if cidr.isdigit() else address.max_prefixlen
    return ip in ipaddress.ip_network(f"{address}/{bits}", strict=False)


def check_dmarc(lookup: Lookup, domain: str) -> Found:
    records = [t for t in lookup.txt(f"_dmarc.{domain}") if t.replace(" ", "").upper().startswith("V=DMARC1")]
    if not records:
        return Found(
            "FAIL",
            f"{domain} has no DMARC record: Gmail and Yahoo require one from bulk senders",
            f'add TXT _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:you@{domain}" (then tighten p=)',
        )
    tags = dict(part.strip().partition("=")[::2] for part in records[0].split(";") if "=" in part)
    return Found("OK", f"{domain}: DMARC policy p={tags.get('p', '?').strip()}")


def check_dkim(lookup: Lookup, domain: str, delivery: Delivery, sender: str) -> Found:
    """Sign a message with the configured key and verify it against the published record."""
    dkim_settings = delivery.dkim
    if dkim_settings is None:
        return Found(
            "WARN",
            "no DKIM signature (delivery.dkim is not set): SPF alone breaks when mail is forwarded",
            "set delivery.dkim (selector, key_file) or let the provider sign for your domain",
        )
    try:
        import dkim
    except ImportError:
        return Found("FAIL", "delivery.dkim is set but dkimpy is not installed", install_hint("dkim"))
    signing = dkim_settings.domain or domain
    name = f"{dkim_settings.selector}._domainkey.{signing}"
    records = lookup.txt(name)
    if not records:
        return Found(
            "FAIL",
            f"no DKIM key published at {name}: receivers cannot check the signature",
            f"publish TXT {name} with the public key of {dkim_settings.key_file}",
        )
    message = f"From: {sender}\r\nSubject: digest doctor\r\n\r\nDKIM check.\r\n".encode()
    try:
        key = dkim_settings.key_file.read_bytes()
        signed = dkim.sign(message, dkim_settings.selector.encode(), signing.encode(), key) + message
    except Exception as exc:  # dkimpy raises several kinds for a key it cannot use
        return Found("FAIL", f"cannot sign with {dkim_settings.key_file}: {exc}", "give a PEM private key")
    published: Callable[..., bytes] = lambda *_args, **_kw: records[0].encode()  # noqa: E731
    if not dkim.verify(signed, dnsfunc=published):
        return Found(
            "FAIL",
            f"the DKIM key at {name} does not match {dkim_settings.key_file}: every signature fails",
            f"publish the public key of {dkim_settings.key_file} at {name} (or point key_file at its pair)",
        )
    return Found("OK", f"DKIM: {name} matches {dkim_settings.key_file.name}")
