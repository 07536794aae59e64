"""JSON errors: every error response is `{"error": "..."}` with the status LibreTranslate uses.

400 bad input (also what FastAPI would answer 422 for), 403 bad or missing API key, 404, 405 (with Allow),
413 body too large, 415 wrong content type, 429 rate limit (with Retry-After), 503 not ready, draining, at
capacity or timed out (with Retry-After). Bad input never produces a 500; an unexpected exception is logged
with its traceback and answered `{"error": "internal error"}`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import M2M100Error

log = logging.getLogger("m2m100.server")

_REASONS = {
    400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 405: "method not allowed",
    408: "request timeout", 413: "request body too large", 415: "unsupported media type",
    422: "bad request", 429: "too many requests", 500: "internal error", 503: "service unavailable",
}


class ApiError(Exception):
    """An error answered as `{"error": message}` with `status` and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unavailable(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(503, message, {"Retry-After": str(retry_after)})


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def describe_validation_error(errors: list[dict[str, Any]]) -> str:
    """One line naming the field (q[3], items[0].target) of the first problems."""
    parts = []
    for err in errors[:3]:
        loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        name = ""
        for p in loc:
            name += f"[{p}]" if isinstance(p, int) else (f".{p}" if name else str(p))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "missing":
            parts.append(f"Invalid request: missing {name or 'body'} parameter")  # LibreTranslate's words
        elif name and not msg.startswith((name, "Invalid request:")):
            parts.append(f"{name}: {msg}")
        else:
            parts.append(msg)
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else None
        if status == 404:
            message = f"not found: {request.url.path}"
        elif status == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"method {request.method} not allowed for {request.url.path}" + (
                f"; use {allowed}" if allowed else ""
            )
        else:
            message = detail or _REASONS.get(status, "error")
        if status == 422:
            status = 400
        return error_response(status, message, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, describe_validation_error(list(exc.errors())))

    @app.exception_handler(M2M100Error)
    async def _m2m100_error(request: Request, exc: M2M100Error) -> JSONResponse:
        if isinstance(exc, ValueError):  # LanguageError, GenerationError, InputTooLongError, ConfigError
            return error_response(400, str(exc))
        log.exception("error while handling %s %s", request.method, request.url.path)
        return error_response(500, "internal error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while handling %s %s", request.method, request.url.path)
        return error_response(500, "internal error")
