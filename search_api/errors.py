"""One error tree, one JSON shape: {"error": {"status": int, "code": str, "message": str, "details": ...}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


class Busy(ApiError):
    """All answer workers busy and the queue full: try again after Retry-After."""
    status, code = 503, "busy"


STATUS_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
                422: "invalid_request", 429: "rate_limited", 503: "unavailable"}


def error_body(status: int, code: str, message: str, details: Any = None) -> dict:
    body: dict = {"status": status, "code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _clean_validation(errors: list) -> list[dict]:
    out = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path")]
        out.append({"field": ".".join(loc) or "request", "problem": e.get("msg", "invalid")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return JSONResponse(error_body(exc.status, exc.code, exc.message, exc.details), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = _clean_validation(exc.errors())
        msg = "; ".join(f"{d['field']}: {d['problem']}" for d in details) or "invalid request"
        return JSONResponse(error_body(422, "invalid_request", msg, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = STATUS_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(exc.status_code, code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(error_body(500, "internal_error", "internal error"), status_code=500)


def json_cors_middleware():
    """Starlette's CORSMiddleware answers a refused preflight with plain text; this one answers in the error
    shape (same decisions otherwise)."""
    from starlette.middleware.cors import CORSMiddleware
    from starlette.responses import PlainTextResponse

    class JsonCORSMiddleware(CORSMiddleware):
        def preflight_response(self, request_headers):
            response = super().preflight_response(request_headers)
            if isinstance(response, PlainTextResponse) and response.status_code >= 400:
                message = response.body.decode("utf-8", "replace")
                headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type",
                                                                                          "content-length")}
                return JSONResponse(error_body(response.status_code, "cors_refused", message),
                                    status_code=response.status_code, headers=headers)
            return response

    return JsonCORSMiddleware
