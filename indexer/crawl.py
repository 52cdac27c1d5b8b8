"""`wsis crawl`: fetch the real sources politely and safely into a raw-document folder that
`wsis build --source DIR` reads.

Polite: robots.txt (disallow, crawl-delay, sitemaps), a per-host rate limit, an identifying User-Agent,
conditional GET (ETag / Last-Modified) on re-crawl. Safe: http(s) only, no private, loopback, link-local or
reserved addresses (checked on every hop, redirects included), redirects only within scope, bounded
response size and time, URL normalisation and page / depth caps against crawl traps. Resumable: the
frontier and what was fetched are kept on disk after every page."""

from __future__ import annotations

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
from .crawl_rules import Refused, SourceConfig, check_address, check_literal, load_sources, normalise
from .crawl_state import STATE_FILE, CrawlReport, State

__all__ = ["Crawler", "CrawlReport", "Refused", "SourceConfig", "check_address", "check_literal", "load_sources",
           "normalise"]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the crawler

class Crawler:
    def __init__(self, sources: list[SourceConfig], out_dir: Path, allow_loopback: bool = False,
                 max_pages: int | None = None, client: httpx.Client | None = None):
        self.sources = sources
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.allow_loopback = allow_loopback
        self.max_pages = max_pages
        self.client = client or httpx.Client(follow_redirects=False, http2=False)
        self.robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self.sitemaps: dict[str, list[str]] = {}
        self.last_hit: dict[str, float] = {}
        self.report = CrawlReport()
        self.state = State(self.out / STATE_FILE)

    # -- politeness
    def _robots(self, src: SourceConfig, url: str) -> urllib.robotparser.RobotFileParser | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.robots:
            rp = urllib.robotparser.RobotFileParser()
            try:
                status, _, body, _ = self._get(src, origin + "/robots.txt", {}, max_bytes=500_000)
                if status == 200:
                    rp.parse(body.decode("utf-8", "replace").splitlines())
                    self.sitemaps[origin] = [ln.split(":", 1)[1].strip() for ln in body.decode("utf-8", "replace")
                                             .splitlines() if ln.lower().startswith("sitemap:")]
                elif status in (401, 403):
                    rp.disallow_all = True
                else:
                    rp.allow_all = True
            except (Refused, httpx.HTTPError) as exc:
                log.info("robots.txt of %s unavailable: %s", origin, exc)
                rp.allow_all = True
            self.robots[origin] = rp
        return self.robots[origin]

    def _wait(self, src: SourceConfig, url: str) -> None:
        host = urlsplit(url).netloc
        rp = self.robots.get(f"{urlsplit(url).scheme}://{host}")
        delay = src.rate_limit_seconds
        if rp is not None:
            cd = rp.crawl_delay(src.user_agent)
            if cd:
                delay = max(delay, float(cd))
        wait = self.last_hit.get(host, 0.0) + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last_hit[host] = time.monotonic()

    # -- one HTTP exchange, size and time bounded, no automatic redirects
    def _get(self, src: SourceConfig, url: str, headers: dict, max_bytes: int | None = None):
        check_address(url, self.allow_loopback)
        self._wait(src, url)
        limit = max_bytes or src.max_bytes
        deadline = time.monotonic() + src.timeout_seconds
        req_headers = {"User-Agent": src.user_agent, "Accept": "text/html,application/pdf,application/json;q=0.9,*/*;q=0.5",
                       **headers}
        timeout = httpx.Timeout(min(10.0, src.timeout_seconds), read=min(10.0, src.timeout_seconds))
        with self.client.stream("GET", url, headers=req_headers, timeout=timeout) as r:
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise Refused(f"response of {declared} bytes exceeds the {limit}-byte limit")
            chunks, size = [], 0
            for chunk in r.iter_bytes(65536):
                size += len(chunk)
                if size > limit:
                    raise Refused(f"response exceeds the {limit}-byte limit")
                if time.monotonic() > deadline:
                    raise Refused(f"response took longer than {src.timeout_seconds} s")
                chunks.append(chunk)
            return r.status_code, r.headers, b"".join(chunks), str(r.url)

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
                target = urljoin(current, loc)
                if urlsplit(target).scheme not in ("http", "https"):
                    self.report.errors.append({"url": current, "reason": f"refused: redirect to scheme "
                                                                         f"{urlsplit(target).scheme!r}"})
                    return None
                current = normalise(target)
                continue
            return current, status, resp_headers, body
        self.report.errors.append({"url": url, "reason": "too many redirects"})
        return None

    # -- the crawl loop
    def run(self) -> CrawlReport:
        t0 = time.perf_counter()
        st = self.state
        if st.run_complete:  # a new run: start from the seeds (validators are kept for conditional GET)
            st.frontier = deque()
            st.seen = set()
            st.done_pages = set()
            for src in self.sources:
                for seed in src.seeds:
                    u = normalise(seed)
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
            result = self.fetch(src, url)
            pages += 1
            if result is not None:
                final, status, headers, body = result
                self._handle(src, url, final, status, headers, body, depth)
            origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
            if origin not in sitemap_done and self.sitemaps.get(origin):
                sitemap_done.add(origin)
                for sm in self.sitemaps[origin]:
                    self._enqueue(src, normalise(urljoin(origin + "/", sm)), 1)
            st.frontier.popleft()
            st.done_pages.add(f"{name} {url}")
            st.save()
        if not st.frontier:
            st.run_complete = True
            st.save()
        self.report.seconds = time.perf_counter() - t0
        return self.report

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
                self._enqueue(src, link, depth + 1)
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
        page["links"] = [normalise(urljoin(final, link)) for link in ext.links]
        for link in page["links"]:
            self._enqueue(src, link, depth + 1)
        if ext.document is not None:
            name, data = ext.document
            target = self.out / src.name / name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            page["file"] = str(target.relative_to(self.out))
            self.report.documents.append({"url": final, "file": page["file"]})
