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
    timeout_seconds: float = 20.0
    user_agent: str = USER_AGENT

    def in_scope(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host not in {h.lower() for h in self.allow_hosts}:
            return False
        return any(parts.path.startswith(p) for p in self.allow_paths)


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
    """A URL the crawler will not fetch (scheme, address, size); the message is the reason."""


def normalise(url: str) -> str:
    """Canonical form: lower-case scheme and host, no default port, no fragment, no session or tracking
    parameters, sorted query, single slashes."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    path = re.sub(r";jsessionid=[^/?]*", "", path, flags=re.I)
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not SESSION_PARAMS.match(k)))
    return urlunsplit((scheme, netloc, path, query, ""))


def check_address(url: str, allow_loopback: bool = False) -> None:
    """Refuse non-http(s) schemes and hosts resolving to private, loopback, link-local, multicast or
    reserved addresses (all of a host's addresses are checked, so DNS cannot smuggle one in)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"scheme {parts.scheme or '(none)'!r} is not fetched")
    host = parts.hostname
    if not host:
        raise Refused("no host in URL")
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise Refused(f"host {host!r} does not resolve ({exc.strerror})") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            if allow_loopback:
                continue
            raise Refused(f"{host} resolves to loopback address {ip}")
        if ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
            raise Refused(f"{host} resolves to non-public address {ip}")


def check_literal(url: str, allow_loopback: bool = False) -> None:
    """The checks that need no DNS: the scheme, and a host given as a non-public IP address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"scheme {parts.scheme or '(none)'!r} is not fetched")
    try:
        ip = ipaddress.ip_address((parts.hostname or "").strip("[]"))
    except ValueError:
        return
    if ip.is_loopback and allow_loopback:
        return
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise Refused(f"non-public address {ip}")


