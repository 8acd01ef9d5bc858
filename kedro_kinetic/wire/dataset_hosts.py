"""Which hosts an ``http(s)`` dataset path may name: never the pod's own, nor its cloud's.

A pod (or a local node process) that fetches a URL chosen by configuration can reach
what only it can reach: services on its loopback interface, and the cloud metadata
server on a link-local address, which hands out the pod's Google access token to any
request carrying ``Metadata-Flavor: Google``. So, even where the project's code
allows the ``http``/``https`` protocols (``KINETIC_DATASET_ALLOWLIST =
["fsspec:protocol=https"]``), a dataset path is refused when its host is

- ``localhost`` or a name under it, a cloud metadata server's name
  (``metadata``, ``metadata.google.internal``, ``metadata.goog``, ...);
- a loopback, link-local or unspecified address, or a metadata server's address,
  also when written as an IPv4-mapped (or -embedding) IPv6 address;
- a numeric IPv4 spelling other than four decimal numbers (``2852039166``,
  ``0xa9fea9fe``, ``0251.0376.0251.0376``: libc reads them as addresses);
- anything a URL parser could read differently from :mod:`urllib.parse`
  (backslashes, ``%``-escapes, several ``@``, non-ASCII, spaces or control characters);
- a name that resolves (``socket.getaddrinfo``, where the check runs) to any such
  address. A name that does not resolve there passes: the fetch cannot reach it either,
  unless DNS answers differently by then (see SECURITY.md, DNS rebinding).

Headers that only metadata servers ask for (``Metadata-Flavor``, ...) are refused in
any dataset configuration, so that a redirect or a rebinding name cannot turn a fetch
into a token request either.

Pod side: the standard library only.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

HTTP_PROTOCOLS = ("http", "https")
#: Names refused with every name under them (RFC 6761: ``*.localhost`` is loopback).
REFUSED_NAMES = ("localhost", "metadata", "metadata.google.internal", "metadata.goog",
                 "instance-data", "instance-data.ec2.internal")
#: Metadata servers outside the loopback and link-local ranges: GCE's and AWS's IPv6
#: addresses, Alibaba Cloud's IPv4 one.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "fd20:ce::254", "fd00:ec2::254", "100.100.100.200"))
#: ``0.0.0.0/8`` ("this network"; Linux connects 0.0.0.0 to the local host), loopback,
#: link-local; IPv6 loopback, unspecified and link-local.
REFUSED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Request headers that only cloud metadata servers ask for (GCE/GKE, Azure, AWS IMDSv2).
REFUSED_HEADERS = ("metadata-flavor", "x-google-metadata-request", "metadata",
                   "x-aws-ec2-metadata-token", "x-aws-ec2-metadata-token-ttl-seconds")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
RULE = ("kedro-kinetic never lets a dataset fetch from loopback, link-local, unspecified "
        "or cloud metadata hosts, whatever settings.py allows")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, compatible, NAT64 or 6to4."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_problem(ip: IPAddress) -> str | None:
    """Why a dataset may not fetch from ``ip`` (``None``: it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = address_problem(inner)
            return f"an IPv6 form of {inner}, {why}" if why else None
        ip = ipaddress.IPv6Address(int(ip))  # without a %zone
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata server's address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata servers answer)"
    if ip.is_loopback:
        return "a loopback address (the pod's own services)"
    if ip.is_unspecified or any(ip in net for net in REFUSED_NETWORKS):
        return "an unspecified address (it reaches the local host)"
    return None


def _numeric_problem(host: str) -> str | None:
    """A host made only of numbers: four decimal ones are an address; other spellings
    (what ``inet_aton`` also reads: one to four decimal, octal or hex parts) are refused."""
    try:
        return address_problem(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    try:
        meant = f" (libc reads it as {ipaddress.IPv4Address(socket.inet_aton(host))})"
    except OSError:
        meant = ""
    return (f"a numeric host spelled other than as four decimal numbers{meant}; write an "
            "IPv4 address as a.b.c.d")


def host_problem(host: str) -> str | None:
    """Why a dataset may not fetch from ``host`` as written (``None``: it may, unless the
    name resolves to a refused address: see :func:`resolved_problem`)."""
    if ":" in host:
        try:
            return address_problem(ipaddress.IPv6Address(host))
        except ValueError:
            return "not a valid IPv6 address (zone ids and other forms are refused)"
    name = host.lower().rstrip(".")
    if not _NAME.match(name):
        return ("not a plain host name (letters, digits, '-', '_' and dots; write an "
                "international name in its xn-- form)")
    if all(_NUMERIC_LABEL.match(label) for label in name.split(".")):
        return _numeric_problem(name)
    for refused in REFUSED_NAMES:
        if name == refused or name.endswith("." + refused):
            return (f"the name {refused!r} (or one under it), which reaches the pod or its "
                    "cloud's metadata server")
    return None


def resolved_problem(host: str, port: int) -> str | None:
    """Why a dataset may not fetch from ``host``, judged by the addresses it resolves to
    here; ``None`` if every address is fine or the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # as the fetch will
    except (OSError, UnicodeError, ValueError):
        return None  # not resolvable here; the fetch cannot resolve it either
    for info in infos:
        try:
            ip = ipaddress.ip_address(str(info[4][0]))
        except ValueError:
            continue
        why = address_problem(ip)
        if why:
            return f"a name that resolves to {ip}, {why}"
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _netloc(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url
    return re.split(r"[/?#]", rest, maxsplit=1)[0]


def url_problem(url: str, *, pattern: bool = False, resolve: bool = True) -> str | None:
    """Why a dataset may not fetch ``url`` (an ``http(s)://`` path), or ``None``.

    Args:
        url: The path as the catalog gives it.
        pattern: The path belongs to a dataset factory pattern: a placeholder may stand
            in the path, never in the host.
        resolve: Also resolve a host name and judge its addresses.
    """
    netloc = _netloc(url)
    if _CONTROL.search(url) or re.search(r"[\s\\]", netloc):
        return (f"{url!r} has a control character, or a space or backslash in its host part "
                f"(URL parsers disagree on those); {RULE}")
    if pattern and "{" in netloc:
        return (f"{url!r} has a factory placeholder in its host; GKERunner only accepts "
                "literal hosts, so that they can be checked before anything is fetched")
    if netloc.count("@") > 1 or "%" in netloc.rpartition("@")[2]:
        return (f"{url!r} has several '@' or a %-escape in its host part (URL parsers "
                f"disagree on those); {RULE}")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        host = parts.hostname or ""
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if not host.rstrip("."):
        return f"{url!r} names no host"
    why = host_problem(host)
    if why is None and resolve and not _is_address(host):
        why = resolved_problem(host, port)
    if why:
        return f"host {host!r} of {url!r} is {why}; {RULE}"
    return None


def _headers(config: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(key path, header name)`` of every entry of a ``headers`` mapping, at any depth."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}{key}"
            if str(key).lower() == "headers" and isinstance(value, Mapping):
                yield from ((f"{where}.{name}", str(name)) for name in value)
            else:
                yield from _headers(value, where + ".")
    elif isinstance(config, (list, tuple)):
        for i, item in enumerate(config):
            yield from _headers(item, f"{path}[{i}].")


def header_problem(config: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(key path, message)`` for a request header only metadata servers ask for."""
    for where, name in _headers(config):
        if name.strip().lower() in REFUSED_HEADERS:
            return (where, f"header {name!r} is only needed to ask a cloud metadata server "
                    "for the pod's credentials; no dataset may send it")
    return None
