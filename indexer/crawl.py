"""`wsis crawl`: fetch the real sources politely and safely into a raw-document folder that
`wsis build --source DIR` reads.

Polite: robots.txt (disallow, crawl-delay, sitemaps), a per-host rate limit, an identifying User-Agent,
conditional GET (ETag / Last-Modified) on re-crawl. Safe: http(s) only, no private, loopback, link-local or
reserved addresses (checked on every hop, redirects included), redirects only within scope, bounded
response size and time, URL normalisation and page / depth caps against crawl traps. Resumable: the
frontier and what was fetched are kept on disk after every page."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import urllib.robotparser
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .crawl_adapters import ADAPTERS, Extracted
from .crawl_rules import BadUrl, Refused, SourceConfig, check_address, check_literal, load_sources, normalise
from .crawl_state import STATE_FILE, CrawlReport, State

__all__ = [
    "BadUrl",
    "CrawlReport",
    "Crawler",
    "Refused",
    "SourceConfig",
    "check_address",
    "check_literal",
    "load_sources",
    "normalise",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the crawler

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: parse at least the first 500 KiB
ROBOTS_MAX_REDIRECTS = 5


class Crawler:
    def __init__(self, sources: list[SourceConfig], out_dir: Path, allow_loopback: bool = False,
                 max_pages: int | None = None, client: httpx.AsyncClient | None = None):
        self.sources = sources
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.allow_loopback = allow_loopback
        self.max_pages = max_pages
        self.client = client  # created inside the crawler's event loop when not given
        self._loop: asyncio.Runner | None = None  # the event loop of this run's HTTP exchanges
        self.robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self.robots_status: dict[str, str] = {}
        self.sitemaps: dict[str, list[str]] = {}
        self.last_hit: dict[str, float] = {}
        self.report = CrawlReport()
        self.state = State(self.out / STATE_FILE, check_url=normalise)
        self.report.errors += self.state.problems

    def close(self) -> None:
        """Close the HTTP client and the event loop (run() does it when it ends)."""
        if self._loop is not None:
            if self.client is not None:
                self._loop.run(self.client.aclose())
                self.client = None
            self._loop.close()
            self._loop = None

    # -- politeness
    def _robots(self, src: SourceConfig, url: str) -> urllib.robotparser.RobotFileParser | None:
        """robots.txt as RFC 9309 says: 2xx = the rules (first 500 KiB); up to five redirects followed (each
        hop's address checked); 4xx = no rules ("unavailable"), except 401 and 403, read as disallow-all
        as older crawlers do; 5xx, a timeout, a refused address or a network error = "unreachable", which
        means disallow-all for this origin in this run."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin in self.robots:
            return self.robots[origin]
        rp = urllib.robotparser.RobotFileParser()
        target = origin + "/robots.txt"
        why = ""
        try:
            for _ in range(ROBOTS_MAX_REDIRECTS + 1):
                status, headers, body, _ = self._get(src, target, {}, max_bytes=ROBOTS_MAX_BYTES, truncate=True)
                if status in (301, 302, 303, 307, 308) and headers.get("location"):
                    target = normalise(urljoin(target, headers["location"]))
                    check_literal(target, self.allow_loopback)
                    continue
                break
            else:
                status, why = 404, "too many redirects: treated as unavailable"
            if 200 <= status < 300:
                text = body.decode("utf-8", "replace")
                rp.parse(text.splitlines())
                self.sitemaps[origin] = [ln.split(":", 1)[1].strip() for ln in text.splitlines()
                                         if ln.lower().startswith("sitemap:")]
                why = why or f"HTTP {status}: rules read"
            elif status in (401, 403):
                rp.disallow_all = True
                why = f"HTTP {status}: disallow all"
            elif 400 <= status < 500:
                rp.allow_all = True
                why = why or f"HTTP {status}: unavailable, no rules"
            else:
                rp.disallow_all = True
                why = f"HTTP {status}: unreachable, disallow all"
        except (Refused, httpx.HTTPError, OSError) as exc:
            rp.disallow_all = True
            why = f"unreachable ({type(exc).__name__}: {exc}), disallow all"
        log.info("robots.txt of %s: %s", origin, why)
        self.robots_status[origin] = why
        self.report.robots[origin] = why
        self.robots[origin] = rp
        return rp

    def _wait(self, src: SourceConfig, url: str) -> None:
        host = urlsplit(url).netloc
        rp = self.robots.get(f"{urlsplit(url).scheme}://{host}")
        delay = src.rate_limit_seconds
        if rp is not None:
            try:
                cd = float(rp.crawl_delay(src.user_agent) or 0)
            except (TypeError, ValueError):
                cd = 0.0
            if cd > src.max_crawl_delay_seconds:
                self.report.crawl_delay_capped[host] = cd
                cd = src.max_crawl_delay_seconds
            delay = max(delay, cd)
        wait = self.last_hit.get(host, 0.0) + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last_hit[host] = time.monotonic()

    # -- one HTTP exchange: size bounded, one wall-clock deadline for headers and body, no redirects
    def _get(self, src: SourceConfig, url: str, headers: dict, max_bytes: int | None = None, truncate: bool = False):
        check_address(url, self.allow_loopback)
        self._wait(src, url)
        if self._loop is None:
            self._loop = asyncio.Runner()
        return self._loop.run(self._aget(src, url, headers, max_bytes or src.max_bytes, truncate))

    async def _aget(self, src: SourceConfig, url: str, headers: dict, limit: int, truncate: bool):
        if self.client is None:
            self.client = httpx.AsyncClient(follow_redirects=False, http2=False, trust_env=False)
        req_headers = {"User-Agent": src.user_agent, "Accept": "text/html,application/pdf,application/json;q=0.9,*/*;q=0.5",
                       **headers}
        try:
            async with asyncio.timeout(src.timeout_seconds):
                async with self.client.stream("GET", url, headers=req_headers, timeout=src.timeout_seconds) as r:
                    declared = r.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit and not truncate:
                        raise Refused(f"response of {declared} bytes exceeds the {limit}-byte limit")
                    chunks, size = [], 0
                    async for chunk in r.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            if truncate:
                                chunks.append(chunk[:limit - size + len(chunk)])
                                break
                            raise Refused(f"response exceeds the {limit}-byte limit")
                        chunks.append(chunk)
                    return r.status_code, r.headers, b"".join(chunks), str(r.url)
        except TimeoutError as exc:
            raise Refused(f"response took longer than {src.timeout_seconds} s (deadline for headers and body)") \
                from exc

    def fetch(self, src: SourceConfig, url: str) -> tuple[str, int, Any, bytes] | None:
        """Follow redirects by hand, each hop checked for scope and safety. Returns (final url, status,
        headers, body) or None when the URL was skipped (and reported)."""
        chain = []
        current = url
        for _ in range(6):
            if current in chain:
                self.report.errors.append({"url": url, "reason": f"redirect loop via {current}"})
                return None
            chain.append(current)
            if len(chain) > 1:  # a redirect target: refuse unsafe addresses before anything else
                try:
                    check_literal(current, self.allow_loopback)
                except Refused as exc:
                    self.report.errors.append({"url": current, "reason": f"refused: {exc} (redirected from {url})"})
                    return None
            if not src.in_scope(current):
                self.report.out_of_scope.append(current)
                return None
            try:  # an address that may not be fetched is an error, not a robots.txt matter
                check_address(current, self.allow_loopback)
            except Refused as exc:
                self.report.errors.append({"url": current, "reason": f"refused: {exc}"})
                return None
            rp = self._robots(src, current)
            if rp is not None and not rp.can_fetch(src.user_agent, current):
                self.report.robots_disallowed.append(current)
                return None
            headers = {}
            known = self.state.pages.get(current, {})
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
            try:
                status, resp_headers, body, _ = self._get(src, current, headers)
            except Refused as exc:
                self.report.errors.append({"url": current, "reason": f"refused: {exc}"})
                return None
            except httpx.TimeoutException:
                self.report.errors.append({"url": current, "reason": "timed out"})
                return None
            except httpx.HTTPError as exc:
                self.report.errors.append({"url": current, "reason": f"{type(exc).__name__}: {exc}"})
                return None
            if status in (301, 302, 303, 307, 308):
                loc = resp_headers.get("location")
                if not loc:
                    self.report.errors.append({"url": current, "reason": f"redirect {status} without Location"})
                    return None
                try:
                    target = urljoin(current, loc)
                    if urlsplit(target).scheme not in ("http", "https"):
                        raise Refused(f"redirect to scheme {urlsplit(target).scheme!r}")
                    current = normalise(target)
                except (Refused, ValueError) as exc:
                    self.report.errors.append({"url": current, "reason": f"refused: {exc} (Location {loc[:200]!r})"})
                    return None
                continue
            return current, status, resp_headers, body
        self.report.errors.append({"url": url, "reason": "too many redirects"})
        return None

    # -- the crawl loop
    def run(self) -> CrawlReport:
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> CrawlReport:
        t0 = time.perf_counter()
        st = self.state
        if st.run_complete:  # a new run: start from the seeds (validators are kept for conditional GET)
            st.frontier = deque()
            st.seen = set()
            st.done_pages = set()
            for src in self.sources:
                for seed in src.seeds:
                    try:
                        u = normalise(seed)
                    except Refused as exc:
                        self.report.errors.append({"url": seed, "reason": f"refused: {exc}"})
                        continue
                    if u not in st.seen:
                        st.seen.add(u)
                        st.frontier.append((src.name, u, 0))
            st.run_complete = False
            st.save()
        by_name = {s.name: s for s in self.sources}
        pages = 0
        sitemap_done: set[str] = set()
        while st.frontier:
            if self.max_pages is not None and pages >= self.max_pages:
                break
            name, url, depth = st.frontier[0]
            src = by_name.get(name)
            if src is None or len([p for p in st.done_pages if p.startswith(name + " ")]) >= src.max_pages:
                st.frontier.popleft()
                continue
            pages += 1
            try:
                result = self.fetch(src, url)
                if result is not None:
                    final, status, headers, body = result
                    self._handle(src, url, final, status, headers, body, depth)
                origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
                if origin not in sitemap_done and self.sitemaps.get(origin):
                    sitemap_done.add(origin)
                    for sm in self.sitemaps[origin]:
                        self._enqueue_raw(src, origin + "/", sm, 1)
            except (Refused, ValueError, UnicodeError, OSError, httpx.HTTPError) as exc:
                # one URL's failure is reported and the crawl goes on; it leaves the frontier below, so a
                # rerun does not stumble on it again
                log.warning("crawling %s failed: %s: %s", url, type(exc).__name__, exc)
                self.report.errors.append({"url": url, "reason": f"{type(exc).__name__}: {exc}"})
            st.frontier.popleft()
            st.done_pages.add(f"{name} {url}")
            st.save()
        if not st.frontier:
            st.run_complete = True
            st.save()
        self.report.seconds = time.perf_counter() - t0
        return self.report

    def _enqueue_raw(self, src: SourceConfig, base: str, link: str, depth: int) -> str | None:
        """Resolve and normalise a link found on a page; a link that cannot be parsed is reported, never
        fatal. Returns the normalised URL (or None)."""
        try:
            url = normalise(urljoin(base, link))
        except (Refused, ValueError) as exc:
            self.report.errors.append({"url": str(link)[:300], "reason": f"refused link on {base}: {exc}"})
            return None
        self._enqueue(src, url, depth)
        return url

    def _enqueue(self, src: SourceConfig, url: str, depth: int) -> None:
        if depth > src.max_depth or len(url) > 2000 or url.count("&") > 20:
            return
        if url in self.state.seen:
            return
        self.state.seen.add(url)
        if urlsplit(url).scheme not in ("http", "https"):
            self.report.errors.append({"url": url, "reason": f"refused: scheme {urlsplit(url).scheme!r}"})
            return
        if not src.in_scope(url):
            self.report.out_of_scope.append(url)
            return
        self.state.frontier.append((src.name, url, depth))

    def _handle(self, src: SourceConfig, url: str, final: str, status: int, headers, body: bytes, depth: int) -> None:
        page = self.state.pages.setdefault(final, {})
        if status == 304:
            self.report.not_modified.append(final)
            for link in page.get("links", []):
                self._enqueue_raw(src, final, link, depth + 1)
            return
        if status != 200:
            self.report.errors.append({"url": final, "reason": f"HTTP {status}"})
            return
        self.report.fetched.append(final)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if body[:5] == b"%PDF-":
            ctype = "application/pdf"
        elif body.lstrip()[:1] == b"<" and ctype not in ("application/xml", "text/xml"):
            ctype = ctype if ctype in ("text/html", "application/xhtml+xml") or b"<urlset" not in body[:500] \
                else "application/xml"
        page.update({"etag": headers.get("etag", ""), "last_modified": headers.get("last-modified", ""),
                     "sha256": hashlib.sha256(body).hexdigest(), "content_type": ctype, "fetched_at": time.time()})
        adapter = ADAPTERS.get(src.kind, ADAPTERS["reference"])
        ext: Extracted = adapter(final, ctype, body, src.detail_patterns)
        page["links"] = [u for u in (self._enqueue_raw(src, final, link, depth + 1) for link in ext.links) if u]
        if ext.document is not None:
            name, data = ext.document
            target = self.out / src.name / name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            page["file"] = str(target.relative_to(self.out))
            self.report.documents.append({"url": final, "file": page["file"]})
