"""The HTTP application: `create_app(settings, translator_factory=...)`.

Nothing is loaded at import or at app creation: the lifespan starts a background task that builds the
Translator in the model worker thread, warms it up, then starts the batcher (state.load_model); until then
/health answers 503 and translation endpoints 503 with Retry-After.

Endpoints (LibreTranslate-compatible first; parameters from the query string, a form or JSON alike):
    POST /translate       q (string or list), source (or "auto"), target, format, alternatives, api_key
    POST /detect          q -> [{"confidence", "language"}], best first
    GET  /languages       [{"code", "name", "targets"}]
    GET  /frontend/settings  LibreTranslate's shape, plus the limits the web page shows
    POST /suggest         403, as a LibreTranslate with suggestions disabled
    GET  /health          200 {"status": "ok"} when loaded and warmed up, else 503
    GET  /spec            the API spec (title "LibreTranslate", which clients look for)
    POST /v1/translate    native: per-item source/target, num_beams, max_new_tokens, per-item details
    GET  /                the translation web page (static files under /static)
    GET  /docs            Swagger UI from the packaged swagger-ui-bundle-v2 assets (no CDN)
    GET  /openapi.json    the OpenAPI spec
Optional routers (OPTIONAL_ROUTERS, e.g. document translation) are included when their module is installed.
Around everything: an access log line per request, CORS (settings.cors_origins), `//path` == `/path`.

Where things are:
    state.py      ServiceState, rate limiter, model loading, readiness and overload
    admission.py  GuardMiddleware (drain, body size), API key and rate limit, capacity (max_queue)
    params.py     reading and validating parameters, language codes
    pipeline.py   run_request (timeout, disconnect, drain) and the way to the model (plan -> batcher -> finish)
    routes/       the endpoints: libretranslate.py, native.py, files.py, service.py
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from .admission import GuardMiddleware
from .errors import install_error_handlers
from .middleware import AccessLog, CollapseSlashes
from .routes import libretranslate, native, service
from .schemas import DetectRequest, NativeTranslateRequest, TranslateRequest
from .settings import ServerSettings, default_translator_factory, parse_origins  # re-exported: launchers import it here
from .state import ServiceState, load_model

# Routers of other features, included when their module exists: module.build_router(state) -> APIRouter and
# optionally module.SUPPORTED_FORMATS (file extensions, shown in /frontend/settings).
OPTIONAL_ROUTERS = ("m2m100.server.routes.files",)


def create_app(
    settings: ServerSettings | None = None,
    translator_factory: Callable[[ServerSettings], Any] | None = None,
) -> FastAPI:
    """The ASGI app. `translator_factory(settings)` builds the Translator (default: Translator.from_pretrained);
    it is called in a worker thread after startup, never at import or here."""
    settings = settings or ServerSettings.from_sources()
    origins = parse_origins(settings.cors_origins)  # ValueError for a malformed list: a startup error
    state = ServiceState(settings, translator_factory or default_translator_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start_workers()
        state.loader = asyncio.get_running_loop().create_task(load_model(state), name="m2m100-load")
        try:
            yield
        finally:
            await state.shut_down()

    app = FastAPI(
        title="m2m100 translation server",
        version=_version(),
        description="LibreTranslate-compatible translation API over a from-scratch M2M100 model.",
        lifespan=lifespan,
        docs_url=None,  # /docs (routes.service) serves Swagger UI from packaged assets instead of FastAPI's CDN
        redoc_url=None,
    )
    app.state.service = state
    install_error_handlers(app)

    file_formats: list[str] = []  # filled in below, shown by /frontend/settings
    service.install_health(app, state)
    app.include_router(libretranslate.build_router(state, file_formats))
    app.include_router(native.build_router(state))
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.include_router(module.build_router(state))
        file_formats.extend(getattr(module, "SUPPORTED_FORMATS", ()))
    service.install_pages(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (TranslateRequest, DetectRequest, NativeTranslateRequest):
                extra = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(extra.pop("$defs", {}))
                components[model.__name__] = extra
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Outermost last: AccessLog -> CORS (so that every answer, 413 and 503 included, carries its headers) ->
    # CollapseSlashes -> GuardMiddleware -> routes.
    app.add_middleware(GuardMiddleware, state=state)
    app.add_middleware(CollapseSlashes)
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["*"], max_age=86400)
    app.add_middleware(AccessLog)
    return app


def _version() -> str:
    from .. import __version__

    return __version__


__all__ = ["OPTIONAL_ROUTERS", "ServiceState", "create_app", "default_translator_factory"]
