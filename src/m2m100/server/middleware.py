"""Two small ASGI layers every request goes through.

AccessLog: one info line per request on the `m2m100.server.access` logger, `METHOD /path STATUS N.N ms`;
    the path only: never the query string or the body, which hold the texts (deep-translator sends them in
    the query string).
CollapseSlashes: `//translate` is `/translate` (a client whose base URL ends in `/` adds another one).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

access_log = logging.getLogger("m2m100.server.access")
_SLASHES = re.compile(r"/{2,}")


class AccessLog:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 0

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # status 0: the client went away before an answer started
            access_log.info("%s %s %d %.1f ms", scope.get("method", "?"), scope.get("path", "?"), status,
                            1000 * (time.perf_counter() - started))


class CollapseSlashes:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "//" in scope.get("path", ""):
            scope = dict(scope)
            scope["path"] = _SLASHES.sub("/", scope["path"])
            if scope.get("raw_path"):
                scope["raw_path"] = _SLASHES.sub("/", scope["raw_path"].decode("latin-1")).encode("latin-1")
        return await self.app(scope, receive, send)
