"""The service's own endpoints, installed on the app (they need it: the spec, static mounts).

    GET /health   200 {"status": "ok"} when loaded and warmed up, else 503 (loading, failed, draining, overloaded)
    GET /spec     the API spec (title "LibreTranslate", which clients look for)
    GET /docs     Swagger UI from the packaged swagger-ui-bundle-v2 assets (no CDN); absent without them
    GET /         the translation web page (static files under /static)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ..schemas import Health
from ..state import ServiceState, overloaded

log = logging.getLogger("m2m100.server")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install_health(app: FastAPI, state: ServiceState) -> None:
    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, tags=["service"])
    async def health() -> JSONResponse:
        """200 once the model is loaded and warmed up; 503 while loading, after a load failure, or while draining."""
        busy = overloaded(state) if state.ready and not state.draining else None
        if state.draining:
            status, error = "draining", "server is shutting down"
        elif busy:
            status, error = "overloaded", busy
        elif state.ready:
            status, error = "ok", None
        else:
            status = state.status
            error = state.error or f"model is {state.status}"
        body = Health(status=status, model=state.engine.name if state.engine else None, error=error,
                      stats=state.stats()).model_dump(exclude_none=True)
        return JSONResponse(body, status_code=200 if status == "ok" else 503,
                            headers=None if status == "ok" else {"Retry-After": "1"})


def install_pages(app: FastAPI) -> None:
    """/spec, /docs and the web page."""

    @app.get("/spec", include_in_schema=False)
    async def spec() -> JSONResponse:
        """The OpenAPI spec, titled "LibreTranslate" as clients that probe an instance expect."""
        document = dict(app.openapi())
        document["info"] = {**document.get("info", {}), "title": "LibreTranslate",
                            "description": f"{app.title}: {app.description}"}
        return JSONResponse(document)

    _add_swagger_ui(app)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _add_swagger_ui(app: FastAPI) -> None:
    """/docs: Swagger UI from the swagger-ui-bundle-v2 package's files under /docs/static (no CDN); absent when
    that package is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle-v2 is not installed: /docs is off (the spec is at /openapi.json)")
        return

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title} - API docs",
            swagger_js_url="/docs/static/swagger-ui-bundle.js", swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )

    app.mount("/docs/static", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
