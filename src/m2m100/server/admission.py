"""Who gets in: the ASGI guard before anything parses a request, and the checks of translation requests.

    GuardMiddleware(app, state)      outermost: counts in-flight requests, 503 while draining, 413 over the body
                                     limit (from Content-Length at once, or while reading a chunked body)
    admit(state, request, data)      API key (403) and rate limit (429, with Retry-After)
    check_capacity(state)            503 when max_queue requests are queued or running already
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from .errors import ApiError, unavailable
from .state import ServiceState

EXEMPT_WHILE_DRAINING = frozenset({"/health"})


def admit(state: ServiceState, request: Request, data: dict[str, Any]) -> None:
    """API key (403) and rate limit (429) checks for translation endpoints; `data` holds the request's
    parameters (params.read_params), whose api_key comes before the query string's."""
    key = data.get("api_key")
    if key is None:
        key = request.query_params.get("api_key")
    address = f"ip:{request.client.host if request.client else '?'}"
    if state.api_keys is not None:
        if key is None or key == "" or not isinstance(key, str) or key not in state.api_keys:
            state.counters["forbidden"] += 1
            # Failed attempts count against the client's address, so keys cannot be guessed at full speed.
            wait = state.limiter.check(address)
            if wait is not None:
                state.counters["rate_limited"] += 1
                raise ApiError(429, f"too many requests: the limit is {state.settings.req_limit} per minute "
                                    f"(req_limit), failed API key attempts included; retry in {wait} s",
                               {"Retry-After": str(wait)})
            raise ApiError(403, "missing API key: this server requires api_key" if not key else "invalid API key")
    client = f"key:{key}" if state.api_keys is not None else address
    wait = state.limiter.check(client)
    if wait is not None:
        state.counters["rate_limited"] += 1
        raise ApiError(
            429, f"too many requests: the limit is {state.settings.req_limit} per minute (req_limit); "
                 f"retry in {wait} s", {"Retry-After": str(wait)},
        )


def check_capacity(state: ServiceState) -> None:
    """503 (Retry-After 1) when `max_queue` translation requests are queued or running already."""
    settings = state.settings
    if state.active >= settings.max_queue:
        state.counters["rejected_full"] += 1
        raise unavailable(
            f"server is at capacity: {state.active} requests are queued or running (max_queue "
            f"{settings.max_queue}); retry shortly", 1,
        )


class GuardMiddleware:
    """Outermost layer: counts in-flight requests, refuses new ones while draining, and enforces the body size
    limit before anything parses the body (413 from Content-Length at once, or while reading a chunked body)."""

    def __init__(self, app: Any, state: ServiceState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = self.state
        state.inflight += 1
        try:
            if state.draining and scope["path"] not in EXEMPT_WHILE_DRAINING:
                state.counters["refused_draining"] += 1
                return await _send_json(send, 503, "server is shutting down; retry on another instance",
                                        {"retry-after": "5", "connection": "close"})
            limit = state.settings.max_body_bytes
            declared = None
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        return await _send_json(send, 400, "invalid Content-Length header")
            if declared is not None and declared > limit:
                state.counters["too_large"] += 1
                return await _send_json(send, 413, _too_large(declared, limit, exact=True), {"connection": "close"})
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body = message.get("body", b"")
                size += len(body)
                if size > limit:
                    state.counters["too_large"] += 1
                    return await _send_json(send, 413, _too_large(size, limit, exact=False), {"connection": "close"})
                chunks.append(body)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: waits for http.disconnect

            await self.app(scope, replay, send)
        finally:
            state.inflight -= 1


def _too_large(size: int, limit: int, exact: bool) -> str:
    what = f"{size} bytes" if exact else f"more than {limit} bytes"
    return f"request body is too large: {what}; the limit is {limit} bytes (max_body_bytes)"


async def _send_json(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
