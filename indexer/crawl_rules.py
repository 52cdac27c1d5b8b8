"""The crawler's rules, apart from its fetch loop: what each source may fetch (`SourceConfig`, loaded from
corpus/sources.toml), URL normalisation, and the address checks that keep it off private networks."""

from __future__ import annotations

import ipaddress
import re
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import __version__

USER_AGENT = f"wsis-search-crawler/{__version__} (+https://www.itu.int/net4/wsis/; polite research crawler)"
SESSION_PARAMS = re.compile(r"^(jsessionid|phpsessid|sessionid|sid|session|utm_[a-z]+|fbclid|gclid)$", re.I)


@dataclass
class SourceConfig:
    name: str
    kind: str
    seeds: list[str]
    allow_hosts: list[str]
    allow_paths: list[str] = field(default_factory=lambda: ["/"])
    detail_patterns: list[str] = field(default_factory=list)
    max_depth: int = 3
    max_pages: int = 500
    rate_limit_seconds: float = 2.0
    max_bytes: int = 20_000_000
    timeout_seconds: float = 20.0  # wall-clock deadline of one response, headers and body together
    max_crawl_delay_seconds: float = 30.0  # a robots.txt Crawl-delay above this is capped (and reported)
    user_agent: str = USER_AGENT

    def in_scope(self, url: str) -> bool:
        """Host, port and path prefix: an `allow_hosts` entry "host" allows the scheme's default port only
        (80 for http, 443 for https); "host:port" (or "[v6]:port") allows that port."""
        try:
            key = host_port(url)
        except ValueError:
            return False
        if key not in {_allowed(h) for h in self.allow_hosts}:
            return False
        return any(urlsplit(url).path.startswith(p) for p in self.allow_paths)


DEFAULT_PORTS = {"http": 80, "https": 443}


def host_port(url: str) -> tuple[str, str]:
    """(lower-case host, port or "default"); ValueError for a port out of range or a broken IPv6 literal."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is None or DEFAULT_PORTS.get(parts.scheme.lower()) == port:
        return host, "default"
    return host, str(port)


def _allowed(entry: str) -> tuple[str, str]:
    entry = entry.strip().lower()
    parts = urlsplit("//" + entry)
    return (parts.hostname or entry.strip("[]")), (str(parts.port) if parts.port is not None else "default")


def load_sources(path: Path) -> dict[str, SourceConfig]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    out = {}
    for raw in data.get("source", []):
        merged = {**{k: v for k, v in defaults.items() if k != "user_agent"}, **raw}
        merged.setdefault("user_agent", defaults.get("user_agent", USER_AGENT))
        known = SourceConfig.__dataclass_fields__
        out[raw["name"]] = SourceConfig(**{k: v for k, v in merged.items() if k in known})
    return out


class Refused(Exception):
    """A URL the crawler will not fetch (scheme, address, size, time); the message is the reason."""


class BadUrl(Refused):
    """A URL that cannot be parsed (port out of range, broken IPv6 literal, control characters)."""


def normalise(url: str) -> str:
    """Canonical form: lower-case scheme and host (IPv6 kept in brackets), no default port, no user info,
    no fragment, no session or tracking parameters, sorted query, single slashes. Raises `BadUrl` for a URL
    that cannot be parsed, so that one hostile link is reported, never fatal."""
    if not isinstance(url, str):
        raise BadUrl(f"not a URL: {type(url).__name__}")
    url = re.sub(r"[\t\n\r]", "", url)  # as browsers do
    if len(url) > 8000 or any(ord(c) < 32 or ord(c) == 127 for c in url.strip()):
        raise BadUrl("not a URL (too long or control characters)")
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise BadUrl(f"unparsable URL: {exc}") from exc
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    path = re.sub(r";jsessionid=[^/?]*", "", path, flags=re.I)
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not SESSION_PARAMS.match(k)))
    return urlunsplit((scheme, netloc, path, query, ""))


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool = False) -> str | None:
    """Why an address may not be fetched, or None. Only globally routable unicast addresses pass
    (`is_global`: this also refuses carrier-grade NAT 100.64.0.0/10, benchmarking, documentation and
    reserved ranges); an IPv4 address inside IPv6 (mapped, NAT64, 6to4, Teredo) is judged as itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            why = refusal(inner, allow_loopback)
            if why or ip.ipv4_mapped:
                return why
    if ip.is_loopback:
        return None if allow_loopback else f"loopback address {ip}"
    if not ip.is_global or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"non-public address {ip}"
    return None


def check_address(url: str, allow_loopback: bool = False) -> None:
    """Refuse non-http(s) schemes and hosts resolving to any address that is not globally routable
    (all of a host's addresses are checked, so DNS cannot smuggle one in)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"scheme {parts.scheme or '(none)'!r} is not fetched")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise BadUrl(f"unparsable URL: {exc}") from exc
    if not host:
        raise Refused("no host in URL")
    try:
        infos = socket.getaddrinfo(host, port or DEFAULT_PORTS[parts.scheme], proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc})") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        why = refusal(ip, allow_loopback)
        if why:
            raise Refused(f"{host} resolves to {why}")


def check_literal(url: str, allow_loopback: bool = False) -> None:
    """The checks that need no DNS: the scheme, and a host given as a non-public IP address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"scheme {parts.scheme or '(none)'!r} is not fetched")
    try:
        ip = ipaddress.ip_address((parts.hostname or "").strip("[]").split("%")[0])
    except ValueError:
        return
    why = refusal(ip, allow_loopback)
    if why:
        raise Refused(why)


