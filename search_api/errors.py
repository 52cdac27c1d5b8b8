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

    def __init__(self, message: str, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Unavailable(ApiError):
    status, code = 503, "unavailable"


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
        return JSONResponse(error_body(exc.status, exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = _clean_validation(exc.errors())
        msg = "; ".join(f"{d['field']}: {d['problem']}" for d in details) or "invalid request"
        return JSONResponse(error_body(422, "invalid_request", msg, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}.get(
            exc.status_code, "http_error")
        return JSONResponse(error_body(exc.status_code, code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(error_body(500, "internal_error", "internal error"), status_code=500)
