"""Protections for a public endpoint: request size limit (bodies with and without a Content-Length, read
no further than the limit), per-client rate limit on /ask (forwarded headers trusted only from configured
proxies), a bounded pool for the answer work (`AskPool`), security headers. All errors in the one error
shape."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.datastructures import Headers

from .errors import Busy, error_body
from .shared_state import SharedDB

PAGE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
# Swagger UI sets inline styles on its own elements; its scripts are local files (no inline script)
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class TokenBuckets:
    """Per-client token buckets (bounded number of clients tracked, least recently seen dropped)."""

    def __init__(self, per_minute: float, burst: int, max_clients: int = 10_000):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_clients = max_clients
        self._b: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._b.pop(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= 1.0
            if ok:
                tokens -= 1.0
            self._b[key] = (tokens, now)
            while len(self._b) > self.max_clients:
                self._b.popitem(last=False)
            retry = 0.0 if ok else (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
            return ok, retry


class SharedTokenBuckets:
    """TokenBuckets kept in a SQLite file that every server worker process opens: one client's budget is the
    same whichever worker its requests reach."""

    def __init__(self, path: Path, per_minute: float, burst: int, max_clients: int = 10_000):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_clients = max_clients
        self._calls = 0
        self.db = SharedDB(path, (
            "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, last REAL NOT NULL)",
            "CREATE INDEX IF NOT EXISTS buckets_last ON buckets(last)"))

    def allow(self, key: str) -> tuple[bool, float]:
        now = time.time()
        with self.db.transaction() as con:
            row = con.execute("SELECT tokens, last FROM buckets WHERE key = ?", (key,)).fetchone()
            tokens, last = row if row else (float(self.burst), now)
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
            ok = tokens >= 1.0
            if ok:
                tokens -= 1.0
            con.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (key, tokens, now))
            self._calls += 1
            if self._calls % 256 == 0:  # bound the clients tracked (least recently seen dropped)
                con.execute("DELETE FROM buckets WHERE key IN (SELECT key FROM buckets ORDER BY last DESC "
                            "LIMIT -1 OFFSET ?)", (self.max_clients,))
        retry = 0.0 if ok else (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
        return ok, retry


def parse_networks(values: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip()]


def _ip(value: str):
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_key(scope, headers: Headers, trusted: list) -> str:
    """The address a rate limit counts: the TCP peer, unless the peer is one of the configured proxies
    (`WSIS_TRUSTED_PROXIES`); then the right-most X-Forwarded-For address that is not itself a trusted
    proxy (the left part of the header is whatever the client wrote)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    peer_ip = _ip(peer)
    if not trusted or peer_ip is None or not any(peer_ip in n for n in trusted):
        return peer
    chain = [h.strip() for v in headers.getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
    for hop in reversed(chain):
        ip = _ip(hop)
        if ip is None:
            return peer  # a hop that is not an address: do not guess past it
        if not any(ip in n for n in trusted):
            return str(ip)
    return peer


async def send_error(send, status: int, code: str, message: str, headers: dict | None = None) -> None:
    body = json.dumps(error_body(status, code, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"x-content-type-options", b"nosniff")]
    raw += [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guards:
    """Pure ASGI middleware (it sees the body as it arrives, unlike BaseHTTPMiddleware)."""

    def __init__(self, app, max_body_bytes: int, ask_buckets: TokenBuckets | None, trusted_proxies: list[str] = ()):
        self.app = app
        self.max_body = max_body_bytes
        self.ask_buckets = ask_buckets
        self.trusted = parse_networks(list(trusted_proxies))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        too_large = f"request body over {self.max_body} bytes"
        length = headers.get("content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_body):
            return await send_error(send, 413, "too_large", too_large, {"Connection": "close"})
        buffered: list[dict] = []
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") or headers.get("transfer-encoding"):
            # read the body as it comes and stop at the limit: a chunked body of any size costs at most
            # max_body bytes of memory, and the 413 goes out while the client is still sending
            size = 0
            while True:
                message = await receive()
                buffered.append(message)
                if message["type"] != "http.request":
                    break
                size += len(message.get("body", b""))
                if size > self.max_body:
                    return await send_error(send, 413, "too_large", too_large, {"Connection": "close"})
                if not message.get("more_body", False):
                    break
        if self.ask_buckets is not None and scope["method"] == "POST" and scope["path"].startswith("/ask"):
            ok, retry = self.ask_buckets.allow(client_key(scope, headers, self.trusted))
            if not ok:
                return await send_error(send, 429, "rate_limited", "too many questions; slow down",
                                        {"Retry-After": str(max(1, int(retry + 0.999)))})

        async def replay():
            return buffered.pop(0) if buffered else await receive()

        path = scope["path"]
        csp = PAGE_CSP if path == "/" or path.endswith(".html") else DOCS_CSP if path.startswith("/docs") else None

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY")]
                if csp:
                    extra.append((b"content-security-policy", csp.encode()))
                message = {**message, "headers": list(message.get("headers", [])) + [h for h in extra if h[0] not in have]}
            await send(message)

        await self.app(scope, replay if buffered else receive, send_with_headers)


class AskPool:
    """The answer work (encoding, retrieval, sentence scoring) runs on `workers` threads of its own, with
    at most `queue` more questions waiting; beyond that a question is refused at once with 503 and
    Retry-After. Memory under load is then that of `workers` answers at a time, whatever the number of
    clients (each thread that ever runs an answer also keeps its own malloc arena, so the work stays on
    these few threads)."""

    def __init__(self, workers: int, queue: int, retry_after_s: int = 2):
        self.workers, self.queue, self.retry_after_s = max(1, workers), max(0, queue), retry_after_s
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ask")
        self._lock = threading.Lock()
        self.in_flight = 0
        self.refused = 0

    def _admit(self) -> None:
        with self._lock:
            if self.in_flight >= self.workers + self.queue:
                self.refused += 1
                raise Busy(f"the server is answering {self.workers} questions with {self.queue} waiting; "
                           f"try again in {self.retry_after_s} s", headers={"Retry-After": str(self.retry_after_s)})
            self.in_flight += 1

    def _done(self, _future=None) -> None:
        with self._lock:
            self.in_flight -= 1

    async def run(self, fn: Callable, *args):
        """Run fn(*args) on the pool and await its result; Busy (503) when the pool and its queue are full."""
        self._admit()
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._done()
            raise
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def stream(self, gen_fn: Callable, *args):
        """Run the generator gen_fn(*args) on the pool; returns an async iterator of its items (admission
        is decided now, so a full pool is a 503 before any byte of the stream is sent). The work runs to
        its end even if the client goes away (it is bounded), and its slot is freed then."""
        self._admit()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        end = object()

        def put(kind, value):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the server's loop has closed (shutdown): nobody is listening
                pass

        def work():
            try:
                for item in gen_fn(*args):
                    put("item", item)
            except BaseException as exc:  # handed to the stream, which reports it in-band
                put("error", exc)
            finally:
                put("end", end)

        try:
            future = self._pool.submit(work)
        except BaseException:
            self._done()
            raise
        future.add_done_callback(self._done)

        async def items():
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value

        return items()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
