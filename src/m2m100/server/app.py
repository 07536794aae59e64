"""The HTTP application: `create_app(settings, translator_factory=...)`.

Nothing is loaded at import or at app creation: the lifespan starts a background task that builds the
Translator in the model worker thread, warms it up, then starts the batcher; until then /health answers 503
and translation endpoints 503 with Retry-After.

Endpoints (LibreTranslate-compatible first):
    POST /translate       JSON or form: q (string or list), source, target, format, api_key
    GET  /languages       [{"code", "name", "targets"}]
    GET  /health          200 {"status": "ok"} when loaded and warmed up, else 503
    POST /v1/translate    native: per-item source/target, num_beams, max_new_tokens, per-item details
    GET  /frontend/settings  limits the web page shows
    GET  /                the translation web page (static files under /static)
    GET  /openapi.json    the OpenAPI spec
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from .batching import Batcher, Worker
from .engine import Engine
from .errors import (
    ApiError,
    bad_request,
    describe_validation_error,
    install_error_handlers,
    unavailable,
)
from .schemas import (
    ErrorResponse,
    FrontendSettings,
    Health,
    Language,
    NativeTranslateRequest,
    NativeTranslateResponse,
    NativeTranslation,
    TranslateRequest,
    TranslateResponse,
    coerce_form_numbers,
    limits_context,
)
from .settings import ServerSettings, load_api_keys

log = logging.getLogger("m2m100.server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
EXEMPT_WHILE_DRAINING = frozenset({"/health"})
AUTO = "auto"


def default_translator_factory(settings: ServerSettings) -> Any:
    """Load the Translator the settings name (runs in the model worker thread)."""
    import torch

    from ..translate import Translator, default_model

    if settings.threads:
        torch.set_num_threads(settings.threads)
    return Translator.from_pretrained(
        settings.model or default_model(), device=settings.device, dtype=settings.dtype,
        quantize=settings.quantize, prepack=None if settings.prepack else False, max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size, progress=False,
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
# Request bodies
# =====================================================================================================
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_payload(request: Request, allow_form: bool = True) -> dict[str, Any]:
    """The request's parameters as a dict, from JSON or a form; 400/415 with a clear message otherwise."""
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    body = await request.body()
    if mime in JSON_TYPES or (mime.startswith("application/") and mime.endswith("+json")):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise bad_request(f"request body is not valid UTF-8 (invalid byte at offset {exc.start})") from None
        if not text.strip():
            raise bad_request("request body is empty; send a JSON object")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise bad_request(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise bad_request("invalid JSON: nested too deeply") from None
        if not isinstance(data, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null", int: "a number",
                    float: "a number"}.get(type(data), type(data).__name__)
            raise bad_request(f"JSON body must be an object with the request's parameters, got {kind}")
        return data
    if allow_form and mime == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise bad_request(f"request body is not valid UTF-8 (invalid byte at offset {exc.start})") from None
        except ValueError as exc:
            raise bad_request(f"invalid form body: {exc}") from None
        return coerce_form_numbers(_group_form(pairs))
    if allow_form and mime == "multipart/form-data":
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart
            raise bad_request(f"invalid multipart form body: {exc}") from None
        pairs = []
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise bad_request(f"{key} must be a text field, not a file")
            pairs.append((key, value))
        return coerce_form_numbers(_group_form(pairs))
    accepted = "application/json" + (", application/x-www-form-urlencoded or multipart/form-data" if allow_form else "")
    got = f"got {mime!r}" if mime else "none was given"
    raise ApiError(415, f"unsupported Content-Type: send {accepted} ({got})")


def _group_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key == "q" and key in data:  # repeated q: a list of texts
            data[key] = (data[key] if isinstance(data[key], list) else [data[key]]) + [value]
        else:
            data[key] = value
    return data


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
        docs_url=None,  # Swagger UI loads from a CDN; the spec is at /openapi.json
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
        return [{"code": code, "name": name, "targets": codes} for code, name in engine.languages()]

    @app.post("/translate", response_model=TranslateResponse, responses=errors, tags=["LibreTranslate"],
              response_model_exclude_none=True, openapi_extra=_body_spec("TranslateRequest", form=True))
    async def translate(request: Request) -> Any:
        """Translate q (a string or a list of strings) from source to target."""
        data = await read_payload(request)
        _admit(state, request, data)
        body: TranslateRequest = validate(TranslateRequest, data, settings)
        engine = _require_ready(state)
        if body.source.lower() == AUTO:
            raise bad_request('source "auto" needs language detection, which this server does not have; '
                              "give the source language code")
        source = _normalize(engine, body.source, "source")
        target = _normalize(engine, body.target, "target")
        options = engine.check_options(body.generation_options())
        texts = body.q if isinstance(body.q, list) else [body.q]
        results = await _translate(state, request, texts, [source] * len(texts), [target] * len(texts),
                                   body.format, options)
        if results is None:
            return Response(status_code=499)
        out: dict[str, Any] = {"translatedText": results[0][0] if isinstance(body.q, str) else [r[0] for r in results]}
        if body.alternatives:
            out["alternatives"] = [] if isinstance(body.q, str) else [[] for _ in results]
        return out

    @app.post("/v1/translate", response_model=NativeTranslateResponse, responses=errors, tags=["native"],
              openapi_extra=_body_spec("NativeTranslateRequest", form=False))
    async def translate_native(request: Request) -> Any:
        """Per-item source and target languages, generation parameters, details per item."""
        started = time.perf_counter()
        data = await read_payload(request, allow_form=False)
        _admit(state, request, data)
        body: NativeTranslateRequest = validate(NativeTranslateRequest, data, settings)
        engine = _require_ready(state)
        cache: dict[tuple[str, str], str] = {}
        sources, targets = [], []
        for i, item in enumerate(body.items):
            for key, out in (("source", sources), ("target", targets)):
                value = getattr(item, key) or getattr(body, key)
                where = f"items[{i}].{key}" if getattr(item, key) else key
                if value.lower() == AUTO:
                    raise bad_request(f'{where}: "auto" needs language detection, which this server does not have')
                if (value, key) not in cache:
                    cache[(value, key)] = _normalize(engine, value, where)
                out.append(cache[(value, key)])
        options = engine.check_options(body.generation_options())
        texts = [item.text for item in body.items]
        results = await _translate(state, request, texts, sources, targets, body.format, options)
        if results is None:
            return Response(status_code=499)
        translations = [
            NativeTranslation(text=text, source=src, target=tgt, sentences=n)
            for (text, n), src, tgt in zip(results, sources, targets)
        ]
        return NativeTranslateResponse(translations=translations, model=engine.name,
                                       elapsed_ms=round(1000 * (time.perf_counter() - started), 2))

    @app.get("/frontend/settings", response_model=FrontendSettings, tags=["service"])
    async def frontend_settings() -> Any:
        """Limits the web page needs."""
        return {"keyRequired": state.api_keys is not None, "charLimit": settings.max_chars,
                "batchLimit": settings.max_texts, "maxBeams": settings.max_beams}

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (TranslateRequest, NativeTranslateRequest):
                extra = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(extra.pop("$defs", {}))
                components[model.__name__] = extra
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(GuardMiddleware, state=state)
    return app


# =====================================================================================================
# helpers
# =====================================================================================================
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
        engine = Engine(translator)
        log.info("model %s loaded in %.1f s", engine.name, time.perf_counter() - started)
        state.status = "warming up"
        if settings.warmup:
            started = time.perf_counter()
            await state.model_worker.run(engine.warmup)
            log.info("warm-up done in %.2f s", time.perf_counter() - started)
        batcher = Batcher(
            engine.run_batch, state.model_worker, max_batch_tokens=settings.max_batch_tokens,
            max_batch_size=settings.max_batch_size, batch_wait=settings.batch_wait_ms / 1000.0,
        )
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
        return engine.normalize(value, what)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def _admit(state: ServiceState, request: Request, data: dict[str, Any]) -> None:
    """API key (403) and rate limit (429) checks for translation endpoints."""
    key = data.get("api_key")
    if key is None:
        key = request.query_params.get("api_key")
    if state.api_keys is not None:
        if key is None or key == "":
            state.counters["forbidden"] += 1
            raise ApiError(403, "missing API key: this server requires api_key")
        if not isinstance(key, str) or key not in state.api_keys:
            state.counters["forbidden"] += 1
            raise ApiError(403, "invalid API key")
    client = f"key:{key}" if state.api_keys is not None else f"ip:{request.client.host if request.client else '?'}"
    wait = state.limiter.check(client)
    if wait is not None:
        state.counters["rate_limited"] += 1
        raise ApiError(
            429, f"too many requests: the limit is {state.settings.req_limit} per minute (req_limit); "
                 f"retry in {wait} s", {"Retry-After": str(wait)},
        )


async def _translate(state: ServiceState, request: Request, texts: list[str], sources: list[str],
                     targets: list[str], fmt: str, options: dict[str, Any]) -> list[tuple[str, int]] | None:
    """(translation, model inputs) per text, through the batcher; None when the client went away."""
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
        async def work() -> list[tuple[str, int]]:
            plan = await state.prep_worker.run(engine.plan, texts, sources, targets, fmt)
            outputs = await batcher.translate(plan.pieces, options) if plan.pieces else []
            return list(zip(engine.finish(plan, outputs), [entry.count for entry in plan.texts]))

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
