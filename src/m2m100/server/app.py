"""The HTTP application: `create_app(settings, translator_factory=...)`.

Nothing is loaded at import or at app creation: the lifespan starts a background task that builds the
Translator in the model worker thread, warms it up, then starts the batcher; until then /health answers 503
and translation endpoints 503 with Retry-After.

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
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from .batching import Batcher, Worker
from .codes import from_libre, to_libre
from .engine import Engine
from .errors import (
    ApiError,
    bad_request,
    describe_validation_error,
    install_error_handlers,
    unavailable,
)
from .middleware import AccessLog, CollapseSlashes
from .params import read_params
from .scheduler import make_batcher
from .schemas import (
    DetectedLanguage,
    DetectRequest,
    ErrorResponse,
    FrontendSettings,
    Health,
    Language,
    NativeTranslateRequest,
    NativeTranslateResponse,
    NativeTranslation,
    TranslateRequest,
    TranslateResponse,
    limits_context,
)
from .settings import ServerSettings, load_api_keys, parse_origins
from .streaming import translation_events

log = logging.getLogger("m2m100.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
EXEMPT_WHILE_DRAINING = frozenset({"/health"})
AUTO = "auto"
DETECT_CANDIDATES = 3  # /detect answers the best 3, as LibreTranslate's detector does
# Routers of other features, included when their module exists: module.build_router(state) -> APIRouter and
# optionally module.SUPPORTED_FORMATS (file extensions, shown in /frontend/settings).
OPTIONAL_ROUTERS = ("m2m100.server.files",)


def default_translator_factory(settings: ServerSettings) -> Any:
    """Load the Translator the settings name (runs in the model worker thread)."""
    import torch

    from ..translate import Translator, default_model

    if settings.threads:
        torch.set_num_threads(settings.threads)
    return Translator.from_pretrained(
        settings.model or default_model(), device=settings.device, dtype=settings.dtype,
        quantize=settings.quantize, prepack=None if settings.prepack else False, max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size, progress=False, shortlist=settings.shortlist,
    )


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


class RateLimiter:
    """At most `per_minute` requests per client in any sliding 60-second window."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def check(self, client: str) -> int | None:
        """None when allowed (and counted), else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        hits = self._hits[client]
        while hits and now - hits[0] >= 60.0:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(1, math.ceil(60.0 - (now - hits[0])))
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle clients
            for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= 60.0]:
                del self._hits[key]
        return None


class ServiceState:
    """Everything the endpoints share: settings, model status, batcher, counters."""

    def __init__(self, settings: ServerSettings, translator_factory: Callable[[ServerSettings], Any]):
        self.settings = settings
        self.translator_factory = translator_factory
        self.status = "loading"
        self.error: str | None = None
        self.engine: Engine | None = None
        self.batcher: Batcher | None = None
        self.model_worker: Worker | None = None
        self.prep_worker: Worker | None = None
        self.api_keys = load_api_keys(settings.api_keys) if settings.api_keys else None
        self.limiter = RateLimiter(settings.req_limit)
        self.draining = False
        self.aborted = asyncio.Event()  # set when draining ends: requests still in flight answer 503 now
        self.inflight = 0  # HTTP requests being handled
        self.active = 0  # translation requests admitted (queued or running)
        self.counters: dict[str, int] = defaultdict(int)
        self.on_fatal: Callable[[BaseException], None] | None = None
        self.loader: asyncio.Task | None = None
        self.started = time.time()

    @property
    def ready(self) -> bool:
        return self.status == "ready" and self.engine is not None and self.batcher is not None

    def begin_drain(self) -> None:
        """Refuse new requests (503) and report 503 on /health; in-flight requests go on."""
        self.draining = True

    def abort_inflight(self) -> None:
        """End of the drain: requests still waiting for the model answer 503 at once."""
        self.draining = True
        self.aborted.set()

    def idle(self) -> bool:
        return self.inflight == 0 and self.active == 0

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {
            "inflight": self.inflight, "active": self.active,
            "queued_pieces": self.batcher.queued if self.batcher else 0,
            "running_pieces": self.batcher.running if self.batcher else 0,
            "uptime_s": round(time.time() - self.started, 1),
        }
        out.update(self.counters)
        if self.batcher is not None:
            out.update(self.batcher.stats.as_dict())
            steps = getattr(self.batcher, "steps", None)  # continuous scheduler (server.scheduler)
            if steps is not None:
                out.update(running_batches=self.batcher.running_batches, decode_steps=steps.steps)
                merger = steps.merger  # greedy rows of all batches in one decoder call (generation.continuous)
                if merger is not None:
                    out.update(merged_rows=merger.rows, merged_steps=merger.steps, merged_largest=merger.largest)
        return out


# =====================================================================================================
# ASGI guard: draining, body size
# =====================================================================================================
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


# =====================================================================================================
# Request parameters (params.read_params) and their validation
# =====================================================================================================
def validate(model: type, data: dict[str, Any], settings: ServerSettings) -> Any:
    try:
        return model.model_validate(data, context=limits_context(settings))
    except ValidationError as exc:
        raise bad_request(describe_validation_error(list(exc.errors()))) from None


# =====================================================================================================
# App
# =====================================================================================================
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
        state.model_worker = Worker("m2m100-model")
        state.prep_worker = Worker("m2m100-prep", threads=2)
        state.loader = asyncio.get_running_loop().create_task(_load(state), name="m2m100-load")
        try:
            yield
        finally:
            state.draining = True
            if state.loader is not None and not state.loader.done():
                state.loader.cancel()
            if state.batcher is not None:
                await state.batcher.stop(unavailable("server is shutting down"))
            state.model_worker.close()
            state.prep_worker.close()

    app = FastAPI(
        title="m2m100 translation server",
        version=_version(),
        description="LibreTranslate-compatible translation API over a from-scratch M2M100 model.",
        lifespan=lifespan,
        docs_url=None,  # /docs below serves Swagger UI from packaged assets instead of FastAPI's CDN links
        redoc_url=None,
    )
    app.state.service = state
    install_error_handlers(app)
    errors = {
        400: {"model": ErrorResponse, "description": "bad input"},
        403: {"model": ErrorResponse, "description": "missing or invalid API key"},
        413: {"model": ErrorResponse, "description": "body too large"},
        415: {"model": ErrorResponse, "description": "unsupported content type"},
        429: {"model": ErrorResponse, "description": "rate limit exceeded"},
        503: {"model": ErrorResponse, "description": "not ready, draining, at capacity or timed out"},
    }

    # -- endpoints ---------------------------------------------------------------------------------------
    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, tags=["service"])
    async def health() -> JSONResponse:
        """200 once the model is loaded and warmed up; 503 while loading, after a load failure, or while draining."""
        if state.draining:
            status, error = "draining", "server is shutting down"
        elif state.ready and _overloaded(state):
            status, error = "overloaded", _overloaded(state)
        elif state.ready:
            status, error = "ok", None
        else:
            status = state.status
            error = state.error or f"model is {state.status}"
        body = Health(status=status, model=state.engine.name if state.engine else None, error=error,
                      stats=state.stats()).model_dump(exclude_none=True)
        return JSONResponse(body, status_code=200 if status == "ok" else 503,
                            headers=None if status == "ok" else {"Retry-After": "1"})

    @app.get("/languages", response_model=list[Language], responses={503: errors[503]}, tags=["LibreTranslate"])
    async def languages() -> Any:
        """Languages the model translates, each with the codes it translates into."""
        engine = _require_ready(state)
        codes = engine.codes
        return [{"code": to_libre(code), "name": name, "targets": [to_libre(c) for c in codes if c != code]}
                for code, name in engine.languages()]

    @app.post("/translate", response_model=TranslateResponse, responses=errors, tags=["LibreTranslate"],
              response_model_exclude_none=True, openapi_extra=_body_spec("TranslateRequest", form=True))
    async def translate(request: Request) -> Any:
        """Translate q (a string or a list of strings) from source to target. With source "auto" each text's
        language is detected on its own and reported in detectedLanguage; with alternatives > 0, n-best beam
        search adds up to that many other translations per text."""
        data = await read_params(request)
        _admit(state, request, data)
        body: TranslateRequest = validate(TranslateRequest, data, settings)
        engine = _require_ready(state)
        single = isinstance(body.q, str)
        texts = [body.q] if single else list(body.q)
        target = _normalize(engine, body.target, "target")
        options = engine.check_options(body.generation_options())
        detected = None
        if body.source.lower() == AUTO:
            # html: the language of the text, not of the markup
            seen = [_html_text(t) for t in texts] if body.format == "html" else texts
            detected = await _detect(state, seen, 1)
            sources = [_normalize(engine, candidates[0][0], "detected source") for candidates in detected]
        else:
            sources = [_normalize(engine, body.source, "source")] * len(texts)
        if body.quality and not body.alternatives:
            options = {**options, "details": True}  # guard flags per text, in qualityFlags
        if body.alternatives:
            # n-best: the best plus `alternatives` others, from at least that many beams
            beams = max(options.get("num_beams") or engine.default_beams(), body.alternatives + 1)
            options = {**options, "num_beams": beams, "alternatives": body.alternatives + 1}
        results = await _translate(state, request, texts, sources, [target] * len(texts), body.format, options)
        if results is None:
            return Response(status_code=499)
        translations = [r[0] for r in results]
        out: dict[str, Any] = {"translatedText": translations[0] if single else translations}
        if detected is not None:
            reports = [_detection(candidates[0]) for candidates in detected]
            out["detectedLanguage"] = reports[0] if single else reports
        if body.alternatives:
            alternatives = [r[2] or [] for r in results]
            out["alternatives"] = alternatives[0] if single else alternatives
        if body.quality:  # n-best answers come from beam search without the guard: no flags to report
            flags = [[f.to_dict() for f in r[3].flags] if r[3] is not None else [] for r in results]
            out["qualityFlags"] = flags[0] if single else flags
        return out

    @app.post("/detect", response_model=list[DetectedLanguage] | list[list[DetectedLanguage]], responses=errors,
              tags=["LibreTranslate"], openapi_extra=_body_spec("DetectRequest", form=True))
    async def detect(request: Request) -> Any:
        """The languages q may be in, best first (up to 3), confidence 0-100. For a list q (an extension),
        one such list per text, each detected on its own."""
        data = await read_params(request)
        _admit(state, request, data)
        body: DetectRequest = validate(DetectRequest, data, settings)
        _require_ready(state)
        texts = [body.q] if isinstance(body.q, str) else list(body.q)
        detected = await _detect(state, texts, DETECT_CANDIDATES)
        answers = [[_detection(candidate) for candidate in candidates] for candidates in detected]
        return answers[0] if isinstance(body.q, str) else answers

    @app.post("/suggest", responses={403: errors[403]}, tags=["LibreTranslate"])
    async def suggest() -> Any:
        """Translation suggestions are not collected: answered as a LibreTranslate with suggestions disabled."""
        raise ApiError(403, "Suggestions are disabled on this server.")

    @app.post("/v1/translate", response_model=NativeTranslateResponse, responses=errors, tags=["native"],
              openapi_extra=_body_spec("NativeTranslateRequest", form=False))
    async def translate_native(request: Request) -> Any:
        """Per-item source and target languages, generation parameters, details per item."""
        started = time.perf_counter()
        data = await read_params(request, allow_form=False, allow_query=False)
        _admit(state, request, data)
        body: NativeTranslateRequest = validate(NativeTranslateRequest, data, settings)
        engine = _require_ready(state)
        cache: dict[tuple[str, str], str] = {}
        sources, targets = [], []
        auto: list[int] = []  # items whose source is "auto": detected one by one
        for i, item in enumerate(body.items):
            for key, out in (("source", sources), ("target", targets)):
                value = getattr(item, key) or getattr(body, key)
                where = f"items[{i}].{key}" if getattr(item, key) else key
                if key == "source" and value.lower() == AUTO:
                    auto.append(i)
                    out.append(AUTO)
                    continue
                if (value, key) not in cache:
                    cache[(value, key)] = _normalize(engine, value, where)
                out.append(cache[(value, key)])
        options = engine.check_options(body.generation_options())
        texts = [item.text for item in body.items]
        confidences: dict[int, float] = {}
        if auto:
            for i, candidates in zip(auto, await _detect(state, [texts[i] for i in auto], 1)):
                sources[i], confidences[i] = candidates[0]

        def respond(results: list[tuple[str, int, Any, Any]]) -> NativeTranslateResponse:
            translations = [
                NativeTranslation(text=text, source=src, target=tgt, sentences=n,
                                  detected_confidence=confidences.get(i), quality=_quality(details))
                for i, ((text, n, _, details), src, tgt) in enumerate(zip(results, sources, targets))
            ]
            return NativeTranslateResponse(translations=translations, model=engine.name,
                                           elapsed_ms=round(1000 * (time.perf_counter() - started), 2))

        if body.stream:  # Server-Sent Events, sentence by sentence (server.streaming)
            if state.active >= settings.max_queue:
                state.counters["rejected_full"] += 1
                raise unavailable(f"server is at capacity: {state.active} requests are queued or running "
                                  f"(max_queue {settings.max_queue}); retry shortly", 1)
            events = translation_events(state, texts, sources, targets, body.format, {**options, "details": True},
                                        lambda results: respond(results).model_dump(mode="json"))
            return StreamingResponse(events, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        results = await _translate(state, request, texts, sources, targets, body.format, {**options, "details": True})
        if results is None:
            return Response(status_code=499)
        return respond(results)

    file_formats: list[str] = []

    @app.get("/frontend/settings", response_model=FrontendSettings, tags=["LibreTranslate"])
    async def frontend_settings() -> Any:
        """LibreTranslate's frontend settings (limits, key requirement, default languages), plus batchLimit,
        maxBeams and maxAlternatives."""
        engine = state.engine
        has_detection = engine is None or getattr(engine.translator, "detect_candidates", None) is not None
        names = dict(engine.languages()) if engine is not None else {}

        def language(value: str, name: str) -> dict[str, str]:  # in the model's codes (NLLB: eng_Latn)
            try:
                code = engine.normalize(value, "language") if engine is not None else value
            except ValueError:
                code = value
            return {"code": to_libre(code), "name": names.get(code, name)}

        source = {"code": AUTO, "name": "Auto Detect"} if has_detection else language("en", "English")
        target = language("en", "English")
        if source["code"] == target["code"]:
            target = language("fr", "French")
        keyed = state.api_keys is not None
        return {"charLimit": settings.max_chars, "frontendTimeout": 500, "apiKeys": keyed, "keyRequired": keyed,
                "suggestions": False, "filesTranslation": bool(file_formats), "supportedFilesFormat": file_formats,
                "language": {"source": source, "target": target}, "batchLimit": settings.max_texts,
                "maxBeams": settings.max_beams, "maxAlternatives": settings.max_alternatives}

    @app.get("/spec", include_in_schema=False)
    async def spec() -> JSONResponse:
        """The OpenAPI spec, titled "LibreTranslate" as clients that probe an instance expect."""
        document = dict(app.openapi())
        document["info"] = {**document.get("info", {}), "title": "LibreTranslate",
                            "description": f"{app.title}: {app.description}"}
        return JSONResponse(document)

    _add_swagger_ui(app)
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        app.include_router(module.build_router(state))
        file_formats.extend(getattr(module, "SUPPORTED_FORMATS", ()))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

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


# =====================================================================================================
# helpers
# =====================================================================================================
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


def _html_text(document: str) -> str:
    from .markup import split_html

    return " ".join(split_html(document).texts)


def _quality(details: Any) -> dict[str, Any] | None:
    """The native API's `quality` of one text from its guard details (m2m100.guards.TextDetails)."""
    if details is None:
        return None
    return {"flags": [f.to_dict() for f in details.flags], "retries": details.retries, "changed": details.changed,
            "score": details.score}


def _detection(candidate: tuple[str, float]) -> dict[str, Any]:
    """LibreTranslate's {"confidence": 0-100, "language": code} for a (model code, 0..1) candidate."""
    code, confidence = candidate
    return {"confidence": round(100.0 * confidence, 1), "language": to_libre(code)}


async def _detect(state: ServiceState, texts: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Up to k (code, confidence) candidates per text, computed beside the model (prep worker)."""
    engine = state.engine
    assert engine is not None and state.prep_worker is not None
    detected = await state.prep_worker.run(engine.detect, texts, k)
    if detected is None:
        raise bad_request('source "auto" and /detect need language identification, which this installation '
                          "does not have; give the source language code")
    state.counters["detected_texts"] += len(texts)
    return detected


def _version() -> str:
    from .. import __version__

    return __version__


def _body_spec(schema: str, form: bool) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    content = {"application/json": {"schema": ref}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": ref}
        content["multipart/form-data"] = {"schema": ref}
    return {"requestBody": {"required": True, "content": content}}


async def _load(state: ServiceState) -> None:
    settings = state.settings
    assert state.model_worker is not None
    try:
        state.status = "loading"
        started = time.perf_counter()
        translator = await state.model_worker.run(state.translator_factory, settings)
        engine = Engine(translator, max_new_tokens=settings.max_new_tokens)  # caps every request
        log.info("model %s loaded in %.1f s", engine.name, time.perf_counter() - started)
        state.status = "warming up"
        if settings.warmup:
            started = time.perf_counter()
            await state.model_worker.run(engine.warmup)
            log.info("warm-up done in %.2f s", time.perf_counter() - started)
        batcher = make_batcher(engine, state.model_worker, settings)  # settings.scheduler: batch | continuous
        batcher.start()
        state.engine, state.batcher = engine, batcher
        state.status = "ready"
        log.info("ready")
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported on /health and to on_fatal
        state.status = "failed"
        state.error = f"model failed to load: {type(exc).__name__}: {exc}"
        log.error("%s", state.error)
        if state.on_fatal is not None:
            state.on_fatal(exc)


def _require_ready(state: ServiceState) -> Engine:
    if state.draining:
        raise unavailable("server is shutting down; retry on another instance", 5)
    if not state.ready:
        if state.status == "failed":
            raise unavailable(state.error or "model failed to load", 30)
        raise unavailable(f"model is {state.status}; retry shortly", 2)
    assert state.engine is not None
    return state.engine


def _normalize(engine: Engine, value: str, what: str) -> str:
    try:
        return engine.normalize(from_libre(value), what)
    except ValueError as exc:  # LibreTranslate's "xx is not supported" first: clients show it
        raise bad_request(f"{value} is not supported ({exc})") from None


def _overloaded(state: ServiceState) -> str | None:
    """Why new requests would be refused or time out now (None when they would not): /health answers 503
    "overloaded" then, so that a load balancer sends traffic elsewhere."""
    settings = state.settings
    if state.active >= settings.max_queue:
        return f"at capacity: {state.active} requests queued or running (max_queue {settings.max_queue})"
    wait = state.batcher.oldest_wait if state.batcher is not None else 0.0
    if wait >= settings.request_timeout / 2:
        return f"queued work has waited {wait:.0f} s (request_timeout {settings.request_timeout:g} s)"
    return None


def _admit(state: ServiceState, request: Request, data: dict[str, Any]) -> None:
    """API key (403) and rate limit (429) checks for translation endpoints."""
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


async def _translate(state: ServiceState, request: Request, texts: list[str], sources: list[str],
                     targets: list[str], fmt: str,
                     options: dict[str, Any]) -> list[tuple[str, int, list[str] | None, Any]] | None:
    """(translation, model inputs, alternatives, guard details) per text, through the batcher; None when the
    client went away. Alternatives are None unless options has `alternatives` (n-best size, see
    Engine.run_batch); details (m2m100.guards.TextDetails) are None unless options has `details`."""
    settings = state.settings
    if state.active >= settings.max_queue:
        state.counters["rejected_full"] += 1
        raise unavailable(
            f"server is at capacity: {state.active} requests are queued or running (max_queue "
            f"{settings.max_queue}); retry shortly", 1,
        )
    engine, batcher = state.engine, state.batcher
    assert engine is not None and batcher is not None and state.prep_worker is not None
    state.active += 1
    try:
        async def work() -> list[tuple[str, int, list[str] | None, Any]]:
            plan = await state.prep_worker.run(engine.plan, texts, sources, targets, fmt)
            outputs = await batcher.translate(plan.pieces, options) if plan.pieces else []
            counts = [entry.count for entry in plan.texts]
            if options.get("alternatives"):
                return [(best, n, alts, None) for (best, alts), n in zip(engine.finish_nbest(plan, outputs), counts)]
            if options.get("details"):  # guard reports per piece (Engine.run_batch): summed up per text
                from ..guards import summarize

                reports = list(outputs)
                finished = engine.finish(plan, [r.text for r in reports])
                return [(text, entry.count, None, summarize(text, reports[entry.start:entry.start + entry.count]))
                        for text, entry in zip(finished, plan.texts)]
            return [(text, n, None, None) for text, n in zip(engine.finish(plan, outputs), counts)]

        try:
            results = await _until_done_or_gone(request, work(), settings.request_timeout, state.aborted)
        except ClientGone:
            state.counters["disconnected"] += 1
            log.info("client disconnected from %s; its queued work was cancelled", request.url.path)
            return None
        state.counters["translated_requests"] += 1
        return results
    finally:
        state.active -= 1


async def _until_done_or_gone(request: Request, coro: Any, timeout: float, aborted: asyncio.Event) -> Any:
    """The result of `coro`, unless the client disconnects (ClientGone), `timeout` passes (503) or the server's
    drain time is over (503); in those cases `coro` is cancelled, which cancels its queued pieces."""
    task = asyncio.ensure_future(coro)
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    abort = asyncio.ensure_future(aborted.wait())
    try:
        done, _ = await asyncio.wait({task, watcher, abort}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        for future in (task, watcher, abort):
            future.cancel()
        raise
    watcher.cancel()
    abort.cancel()
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:  # noqa: BLE001 - cancelled on purpose
        pass
    if watcher in done:
        raise ClientGone()
    if abort in done:
        raise unavailable("server is shutting down and this request did not finish within the drain time "
                          "(drain_timeout); retry on another instance", 5)
    raise unavailable(f"translation did not finish within {timeout:g} s (request_timeout); retry later", 5)


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
