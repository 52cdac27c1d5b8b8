"""Protections for a public endpoint: request size limit, per-client rate limit on /ask, security
headers, optional CORS. All errors in the one error shape."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import error_body


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


class Guards(BaseHTTPMiddleware):
    def __init__(self, app, max_body_bytes: int, ask_buckets: TokenBuckets | None):
        super().__init__(app)
        self.max_body = max_body_bytes
        self.ask_buckets = ask_buckets

    async def dispatch(self, request: Request, call_next):
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > self.max_body):
            return JSONResponse(error_body(413, "too_large", f"request body over {self.max_body} bytes"), status_code=413)
        if request.method == "POST":
            body = await request.body()  # bounded read also for chunked bodies without a length
            if len(body) > self.max_body:
                return JSONResponse(error_body(413, "too_large", f"request body over {self.max_body} bytes"),
                                    status_code=413)
        if self.ask_buckets is not None and request.url.path.startswith("/ask"):
            client = request.client.host if request.client else "unknown"
            ok, retry = self.ask_buckets.allow(client)
            if not ok:
                return JSONResponse(error_body(429, "rate_limited", "too many questions; slow down"),
                                    status_code=429, headers={"Retry-After": str(max(1, int(retry + 0.999)))})
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path == "/" or request.url.path.endswith(".html"):
            response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                        "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'")
        return response
