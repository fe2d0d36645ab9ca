"""The SSRF guard: the ONE httpx transport every outbound call of formflow goes through.

- only http and https;
- the host is resolved once, here; every address it resolves to must be public
  (not loopback, private, link-local — 169.254.169.254 included —, shared
  100.64/10, unspecified 0.0.0.0/::, multicast, reserved, unique-local fc00::/7,
  and IPv6 forms that embed such an IPv4 address: ::ffff:a.b.c.d, 64:ff9b::/96,
  2002::/16). Decimal or hex spellings (http://2130706433/, http://0x7f.1/) are
  resolved by the system resolver like any name, so they are checked as the
  address they really are;
- the request is sent to the checked address (Host header and TLS SNI keep the
  name), so a second DNS answer cannot swap the target (DNS rebinding);
- redirects are never followed (clients are built with follow_redirects=False and
  a 3xx counts as a failure for webhooks).

Private targets are reachable only through the admin allow-list, off by default:
FORMFLOW_OUTBOUND_ALLOW="10.1.2.0/24,erp.internal" (CIDR ranges or host names).
"""
from __future__ import annotations

import ipaddress
import os
import socket
import threading
from typing import Callable, Iterable

import httpx

from . import defaults

Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(httpx.ConnectError):
    """An outbound call to a target the guard does not allow."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo: names, dotted, decimal and hex IPv4)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = info[4][0].split("%", 1)[0]
        if addr not in out:
            out.append(addr)
    return out


def embedded_ipv4(ip: ipaddress._BaseAddress):
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), else None."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return None


def is_public(address: str) -> bool:
    """Whether an IP address is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public(str(inner)):
        return False
    return bool(ip.is_global and not ip.is_multicast and not ip.is_reserved
                and not ip.is_link_local and not ip.is_loopback and not ip.is_unspecified)


class AllowList:
    """Admin allow-list of private targets: CIDR ranges and host names."""

    def __init__(self, entries: Iterable[str] = ()):
        self.networks = []
        self.hosts = set()
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().strip("[]"))

    @classmethod
    def from_env(cls, environ=None) -> "AllowList":
        env = os.environ if environ is None else environ
        return cls((env.get(defaults.OUTBOUND_ALLOW_ENV) or "").split(","))

    def allows(self, host: str, address: str) -> bool:
        if host.lower() in self.hosts:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        candidates = [ip] + ([embedded_ipv4(ip)] if embedded_ipv4(ip) is not None else [])
        return any(c.version == n.version and c in n for c in candidates for n in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts)


def check_target(url: str | httpx.URL, *, allow: AllowList | None = None,
                 resolver: Resolver | None = None) -> list[str]:
    """The checked addresses of a URL's host; OutboundRefused (with the reason) otherwise."""
    url = httpx.URL(url) if not isinstance(url, httpx.URL) else url
    request = httpx.Request("GET", url) if url.scheme in ("http", "https") and url.host else None
    if url.scheme not in ("http", "https"):
        raise OutboundRefused(f"only http and https URLs may be called, not {url.scheme or 'this'!r}",
                              request=request)
    host = url.host
    if not host:
        raise OutboundRefused("the URL has no host", request=request)
    allow = AllowList.from_env() if allow is None else allow
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]       # an IP literal needs no resolver
    except ValueError:
        addresses = None
    try:
        if addresses is None:
            addresses = (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise OutboundRefused(f"cannot resolve {host!r}: {exc}", request=request) from None
    if not addresses:
        raise OutboundRefused(f"{host!r} resolves to no address", request=request)
    for address in addresses:
        if not is_public(address) and not allow.allows(host, address):
            raise OutboundRefused(f"{host!r} resolves to {address}, which is not a public address "
                                  f"(an administrator can allow it with {defaults.OUTBOUND_ALLOW_ENV})",
                                  request=request)
    return addresses


class SafeTransport(httpx.BaseTransport):
    """httpx transport applying the guard, then sending through `inner` to the checked address."""

    def __init__(self, *, allow: AllowList | None = None, resolver: Resolver | None = None,
                 inner: httpx.BaseTransport | None = None):
        self.allow = AllowList.from_env() if allow is None else allow
        self.resolver = resolver
        self.inner = inner or httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            addresses = check_target(request.url, allow=self.allow, resolver=self.resolver)
        except OutboundRefused as exc:
            raise OutboundRefused(str(exc), request=request) from None
        host = request.url.host
        address = addresses[0]
        if address != host:
            request.url = request.url.copy_with(host=address)
            if "host" not in request.headers:
                request.headers["host"] = host
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


_clients: dict[int, httpx.Client] = {}
_clients_lock = threading.Lock()


def transport_for(ff) -> httpx.BaseTransport:
    """The guarded transport of an instance (tests may set `ff.workflows_transport`)."""
    custom = getattr(ff, "workflows_transport", None)
    if custom is not None:
        return custom
    default = getattr(ff, "_workflows_default_transport", None)
    if default is None:
        default = ff._workflows_default_transport = SafeTransport()
    return default


def client(ff) -> httpx.Client:
    """A shared httpx client on the guarded transport: 15 s timeout, redirects never followed."""
    key = id(ff)
    with _clients_lock:
        found = _clients.get(key)
        if found is None or getattr(found, "_ff_transport", None) is not transport_for(ff):
            transport = transport_for(ff)
            found = httpx.Client(transport=transport, follow_redirects=False,
                                 timeout=defaults.WEBHOOK_TIMEOUT_SECONDS)
            found._ff_transport = transport
            _clients[key] = found
        return found
