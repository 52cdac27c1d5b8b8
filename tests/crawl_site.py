"""A small site in the structure of the real ones, served on 127.0.0.1 for the crawler tests: listing and
detail pages, a PDF, robots.txt with a disallowed path and a sitemap, redirects out of scope, in a loop
and to private addresses, a 20 MB response, a slow response, a calendar trap, ETag validators."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "corpus" / "sample"
T1 = "igf-2024-day-2-ws-101-protecting-children-online-safety-by-design"
T2 = "igf-2024-day-3-ws-212-cert-cooperation-against-cybercrime"

ENTRY = """<html><head><title>WSIS Stocktaking</title></head><body><nav><a href="/net4/wsis/stocktaking/">Home</a></nav>
<main><h1>Farm Radio Market Prices</h1><dl>
<dt>Entity</dt><dd>Rural Voices Network</dd>
<dt>Stakeholder type</dt><dd>Civil society</dd>
<dt>Country</dt><dd>Malawi</dd>
<dt>WSIS Action Lines</dt><dd><ul><li>C7. ICT applications: E-agriculture</li><li>C3. Access to information</li></ul></dd>
<dt>SDGs</dt><dd><ul><li>Goal 2: Zero hunger</li><li>Goal 1: No poverty</li></ul></dd>
<dt>Description</dt><dd>Weekly radio shows and SMS bulletins give smallholder farmers market prices and weather
advice in Chichewa, reaching 80,000 listeners.</dd>
<dt>Year</dt><dd>2023</dd></dl></main></body></html>"""


class Site:
    def __init__(self):
        self.hits: Counter = Counter()
        self.conditional: Counter = Counter()
        self.delay_all = 0.0
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def pages(self) -> dict[str, tuple[str, bytes]]:
        b = self.base
        listing = f"""<html><body><nav><a href="/en/">IGF</a></nav><main><h1>IGF 2024 transcripts</h1><ul>
<li><a href="/en/content/{T1}">{T1}</a></li><li><a href="/en/content/{T2}#top">{T2}</a></li>
<li><a href="/private/secret">staff only</a></li><li><a href="http://example.com/elsewhere">elsewhere</a></li>
<li><a href="/en/redirect-out">moved</a></li><li><a href="/en/loop1">loop</a></li>
<li><a href="/en/big">big</a></li><li><a href="/en/slow">slow</a></li>
<li><a href="/en/ssrf-meta">meta</a></li><li><a href="/en/ssrf-private">private</a></li>
<li><a href="/en/ssrf-file">file</a></li><li><a href="file:///etc/passwd">passwd</a></li>
<li><a href="/en/calendar?month=1">calendar</a></li>
<li><a href="/en/content/{T1}?PHPSESSID=abc123">same page with a session id</a></li></ul></main></body></html>"""
        out = {
            "/robots.txt": ("text/plain", f"User-agent: *\nDisallow: /private/\nCrawl-delay: 0\nSitemap: {b}/sitemap.xml\n"
                            .encode()),
            "/sitemap.xml": ("application/xml", f"<?xml version='1.0'?><urlset><url><loc>{b}/en/content/{T1}</loc></url>"
                             f"<url><loc>{b}/net4/wsis/stocktaking/Project/Details?projectId=4242</loc></url></urlset>"
                             .encode()),
            "/en/transcripts": ("text/html", listing.encode()),
            f"/en/content/{T1}": ("text/html", (SAMPLE / "transcripts" / f"{T1}.html").read_bytes()),
            f"/en/content/{T2}": ("text/html", (SAMPLE / "transcripts" / f"{T2}.html").read_bytes()),
            "/private/secret": ("text/html", b"<p>secret</p>"),
            "/net4/wsis/stocktaking/list": ("text/html", b'<html><body><a href="/net4/wsis/stocktaking/Project/'
                                            b'Details?projectId=4242">Farm radio</a></body></html>'),
            "/net4/wsis/stocktaking/Project/Details": ("text/html", ENTRY.encode()),
            "/reports/": ("text/html", b'<html><body><a href="/reports/c5.pdf">C5 report</a></body></html>'),
            "/reports/c5.pdf": ("application/pdf", (SAMPLE / "reports" / "c5-facilitator-report-2024.pdf").read_bytes()),
        }
        return out

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, ctype="text/html", body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def do_GET(self):
                path, _, query = self.path.partition("?")
                site.hits[path] += 1
                if site.delay_all:
                    time.sleep(site.delay_all)
                redirects = {"/en/redirect-out": "http://other.example.net/x", "/en/loop1": "/en/loop2",
                             "/en/loop2": "/en/loop1", "/en/ssrf-meta": "http://169.254.169.254/latest/meta-data",
                             "/en/ssrf-private": "http://10.0.0.1/admin", "/en/ssrf-file": "file:///etc/passwd"}
                if path in redirects:
                    return self.send(302, headers={"Location": redirects[path]})
                if path == "/en/big":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(20 * 1024 * 1024))
                    self.end_headers()
                    try:
                        for _ in range(20 * 16):
                            self.wfile.write(b"x" * 65536)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if path == "/en/slow":
                    time.sleep(3)
                    return self.send(200, body=b"<p>late</p>")
                if path == "/en/calendar":
                    month = int(query.split("=")[-1] or 1)
                    return self.send(200, body=f'<a href="/en/calendar?month={month + 1}">next</a>'.encode())
                page = site.pages().get(path)
                if page is None:
                    return self.send(404, body=b"not found")
                ctype, body = page
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match"):
                    site.conditional[path] += 1
                    if self.headers["If-None-Match"] == etag:
                        return self.send(304, headers={"ETag": etag})
                return self.send(200, ctype, body, {"ETag": etag, "Last-Modified": "Mon, 02 Dec 2024 10:00:00 GMT"})

        return Handler


def sources_for(site: Site, rate: float = 0.0, timeout: float = 1.5, max_bytes: int = 5_000_000):
    from indexer.crawl import SourceConfig

    common = dict(allow_hosts=[f"127.0.0.1:{site.port}"], rate_limit_seconds=rate, timeout_seconds=timeout, max_bytes=max_bytes,
                  max_depth=3)
    return [
        SourceConfig(name="igf", kind="igf_transcript", seeds=[site.base + "/en/transcripts"],
                     allow_paths=["/en/", "/private/", "/sitemap.xml"], detail_patterns=[r"/content/igf-"], **common),
        SourceConfig(name="stocktaking", kind="stocktaking_entry", seeds=[site.base + "/net4/wsis/stocktaking/list"],
                     allow_paths=["/net4/wsis/stocktaking/"], **common),
        SourceConfig(name="reports", kind="action_line_report", seeds=[site.base + "/reports/"],
                     allow_paths=["/reports/"], **common),
    ]


# ------------------------------------------------------------------ a hostile site

HOSTILE_LINKS = ["http://127.0.0.1:99999/x", "http://[::1/x", "http://[::1]:abc/", "/h/redirect-badport",
                 "/h/redirect-badv6", "/h/trickle-body", "/h/trickle-headers", "/h/fine",
                 "http://100.64.0.1/latest/meta-data", "/h/redirect-cgnat", "http://exa\x00mple.org/", "/h/%zz"]


class HostileSite:
    """A site that attacks the crawler: links that do not parse (port out of range, broken IPv6), redirects
    to such URLs and to carrier-grade NAT, responses that trickle one byte at a time (body or headers),
    and a robots.txt that answers `robots` ("ok", "503", "slow", "reset", "404", "delay:<seconds>")."""

    def __init__(self, robots: str = "ok", trickle_every: float = 0.5, trickle_for: float = 12.0):
        self.robots = robots
        self.trickle_every, self.trickle_for = trickle_every, trickle_for
        self.hits: Counter = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # clients that give up are the point here
        self.port = self.server.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def source(self, **kw):
        from indexer.crawl import SourceConfig

        cfg = dict(name="hostile", kind="reference", seeds=[self.base + "/h/links"],
                   allow_hosts=[f"127.0.0.1:{self.port}"], allow_paths=["/h/"], rate_limit_seconds=0.0,
                   timeout_seconds=1.5, max_bytes=1_000_000, max_depth=2)
        return SourceConfig(**{**cfg, **kw})

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body=b"", headers=None, ctype="text/html"):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def trickle(self, data: bytes):
                t_end = time.monotonic() + site.trickle_for
                try:
                    for i in range(len(data)):
                        if time.monotonic() > t_end:
                            return
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(site.trickle_every)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                path = self.path.partition("?")[0]
                site.hits[path] += 1
                if path == "/robots.txt":
                    mode = site.robots
                    if mode == "503":
                        return self.send(503, b"maintenance")
                    if mode == "404":
                        return self.send(404, b"no robots here")
                    if mode == "slow":
                        time.sleep(5)
                        return self.send(200, b"User-agent: *\nAllow: /\n", ctype="text/plain")
                    if mode == "reset":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    delay = mode.split(":", 1)[1] if mode.startswith("delay:") else "0"
                    return self.send(200, f"User-agent: *\nCrawl-delay: {delay}\n".encode(), ctype="text/plain")
                if path == "/h/links":
                    links = "".join(f'<li><a href="{h}">x</a></li>' for h in HOSTILE_LINKS)
                    return self.send(200, f"<html><body><ul>{links}</ul></body></html>".encode())
                if path == "/h/redirect-badport":
                    return self.send(302, headers={"Location": "http://127.0.0.1:99999/"})
                if path == "/h/redirect-badv6":
                    return self.send(302, headers={"Location": "http://[::1/x"})
                if path == "/h/redirect-cgnat":
                    return self.send(302, headers={"Location": "http://100.100.100.200/latest/meta-data/"})
                if path == "/h/trickle-body":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.flush()
                    return self.trickle(b"<p>" + b"x" * 99_990 + b"</p>")
                if path == "/h/trickle-headers":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    return self.trickle(b"X-Slow: " + b"y" * 5000 + b"\r\n\r\n")
                if path == "/h/fine":
                    return self.send(200, b"<html><body><p>A fine page.</p></body></html>")
                return self.send(404, b"not found")

        return Handler
