"""Exceptions to refusal for senders the ledger cannot see (``[inbound.exceptions]``).

Some of a domain's mail never passes the outbound milter: a user who also sends
through another provider, an outbound relay where no milter can be installed.
Their bounces match nothing, and would be refused. Two opt-in exceptions cover
them (docs/policy.md, step 6):

* **recipients**: addresses (``bob@example.org``) or whole domains
  (``@example.org`` or ``example.org``) whose unmatched backscatter is tagged
  instead of refused;
* **trusted relays**: host names (``relay.example.org``; ``.example.org`` for
  every host under it), IP addresses or networks (``192.0.2.0/24``) through
  which a returned original must have left for its bounce to count as ours
  (``ledger/check/relays.py`` reads the returned Received chain).

Invariants: matching is case-insensitive and exact (a domain entry covers that
domain, not its subdomains; only a leading-dot relay entry covers subdomains);
the lists come from the configuration and are never written anywhere (a
decision carries only its fixed cause). Cost: one set lookup per envelope
recipient; a relay test is linear in the (short, operator-written) list.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger import addresses as mail_addresses

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A DNS host name: labels of letters, digits and hyphens (underscore tolerated, as real
# names have them), at least one dot.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_LOCAL = re.compile(r"[^\s@<>()\[\],;:\"]+")


class ExceptionError(ValueError):
    """An entry of ``[inbound.exceptions]`` that is no address, domain, host or network."""


def _domain(value: str) -> str | None:
    value = value.rstrip(".")
    return value if _HOSTNAME.fullmatch(value) else None


@dataclass(frozen=True)
class RecipientExceptions:
    """Envelope recipients whose unmatched backscatter is tagged, never refused."""

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> RecipientExceptions:
        """``["bob@example.org", "@example.net", "example.com"]`` -> the exceptions (ExceptionError)."""
        found: set[str] = set()
        domains: set[str] = set()
        for entry in entries:
            value = mail_addresses.normalise(entry)
            local, at, domain = value.rpartition("@")
            name = _domain(domain)
            if name is None or (at and local and not _LOCAL.fullmatch(local)):
                raise ExceptionError(f"{entry!r} is neither an address nor a domain")
            if local:
                found.add(f"{local}@{name}")
            else:
                domains.add(name)
        return cls(frozenset(found), frozenset(domains))

    def __bool__(self) -> bool:
        return bool(self.addresses or self.domains)

    def covers(self, recipient: str) -> bool:
        """True when ``recipient`` (any form ``ledger.addresses.normalise`` takes) is an exception."""
        address = mail_addresses.normalise(recipient)
        if address in self.addresses:
            return True
        return "@" in address and address.rsplit("@", 1)[1].rstrip(".") in self.domains

    def cover_all(self, recipients: Iterable[str]) -> bool:
        """Every envelope recipient is an exception (and there is one): a bounce to one of ours
        that is not an exception keeps its protection."""
        listed = list(recipients)
        return bool(listed) and all(self.covers(r) for r in listed)


@dataclass(frozen=True)
class RelayList:
    """Outbound relays the ledger cannot see: host names, name suffixes, IP networks."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.org": any host below example.org
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> RelayList:
        """``["relay.example.org", ".out.example.org", "192.0.2.0/24", "2001:db8::1"]`` (ExceptionError)."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for entry in entries:
            value = entry.strip().lower()
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
                continue
            except ValueError:
                pass
            name = _domain(value[1:] if value.startswith(".") else value)
            if name is None:
                raise ExceptionError(f"{entry!r} is neither a host name nor an IP address or network")
            if value.startswith("."):
                suffixes.append("." + name)
            else:
                hosts.add(name)
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.hosts or self.suffixes or self.networks)

    def host(self, name: str) -> bool:
        """A host name (as written in a Received field) is one of the relays."""
        name = name.strip().rstrip(".").lower()
        return name in self.hosts or any(name.endswith(s) for s in self.suffixes)

    def address(self, text: str) -> bool:
        """An IP address (``192.0.2.1``, ``IPv6:2001:db8::1``) lies in one of the relay networks."""
        if text[:5].lower() == "ipv6:":
            text = text[5:]
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)
