"""LibreTranslate's endpoints; parameters from the query string, a form or JSON alike (params.read_params).

    POST /translate          q (string or list), source (or "auto"), target, format, alternatives, api_key
    POST /detect             q -> [{"confidence", "language"}], best first
    GET  /languages          [{"code", "name", "targets"}]
    GET  /frontend/settings  LibreTranslate's shape, plus the limits the web page shows
    POST /suggest            403, as a LibreTranslate with suggestions disabled
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..admission import admit
from ..codes import to_libre
from ..errors import ApiError
from ..params import normalize_language, read_params, validate
from ..pipeline import detect as detect_texts
from ..pipeline import run_request, translate_texts
from ..schemas import (
    ERROR_RESPONSES,
    DetectedLanguage,
    DetectRequest,
    FrontendSettings,
    Language,
    TranslateRequest,
    TranslateResponse,
    body_spec,
)
from ..state import ServiceState, require_ready

AUTO = "auto"
DETECT_CANDIDATES = 3  # /detect answers the best 3, as LibreTranslate's detector does


def build_router(state: ServiceState, file_formats: list[str]) -> APIRouter:
    """The router for `state`; `file_formats` (extensions, filled in by the app factory when the document
    router is included) are what /frontend/settings lists."""
    router = APIRouter(tags=["LibreTranslate"])
    settings = state.settings

    @router.get("/languages", response_model=list[Language], responses={503: ERROR_RESPONSES[503]})
    async def languages() -> Any:
        """Languages the model translates, each with the codes it translates into."""
        engine = require_ready(state)
        codes = engine.codes
        return [{"code": to_libre(code), "name": name, "targets": [to_libre(c) for c in codes if c != code]}
                for code, name in engine.languages()]

    @router.post("/translate", response_model=TranslateResponse, responses=ERROR_RESPONSES,
                 response_model_exclude_none=True, openapi_extra=body_spec("TranslateRequest", form=True))
    async def translate(request: Request) -> Any:
        """Translate q (a string or a list of strings) from source to target. With source "auto" each text's
        language is detected on its own and reported in detectedLanguage; with alternatives > 0, n-best beam
        search adds up to that many other translations per text."""
        data = await read_params(request)
        admit(state, request, data)
        body: TranslateRequest = validate(TranslateRequest, data, settings)
        engine = require_ready(state)
        single = isinstance(body.q, str)
        texts = [body.q] if single else list(body.q)
        target = normalize_language(engine, body.target, "target")
        detected = None
        if body.source.lower() == AUTO:
            # html: the language of the text, not of the markup
            seen = [_html_text(t) for t in texts] if body.format == "html" else texts
            detected = await detect_texts(state, seen, 1)
            sources = [normalize_language(engine, candidates[0][0], "detected source") for candidates in detected]
        else:
            sources = [normalize_language(engine, body.source, "source")] * len(texts)
        # n-best (alternatives): the best plus `alternatives` others, from at least alternatives + 1 beams within
        # max_beams (schemas.check_alternative_beams); quality: guard flags per text, in qualityFlags
        details = body.quality and not body.alternatives
        targets = [target] * len(texts)
        results = await run_request(state, request, lambda: translate_texts(
            state, texts, sources, targets, body.format, body.generation_options(), alternatives=body.alternatives,
            details=details))
        if results is None:
            return Response(status_code=499)
        translations = [r.text for r in results]
        out: dict[str, Any] = {"translatedText": translations[0] if single else translations}
        if detected is not None:
            reports = [_detection(candidates[0]) for candidates in detected]
            out["detectedLanguage"] = reports[0] if single else reports
        if body.alternatives:
            alternatives = [r.alternatives or [] for r in results]
            out["alternatives"] = alternatives[0] if single else alternatives
        if body.quality:  # n-best answers come from beam search without the guard: no flags to report
            flags = [[f.to_dict() for f in r.details.flags] if r.details is not None else [] for r in results]
            out["qualityFlags"] = flags[0] if single else flags
        return out

    @router.post("/detect", response_model=list[DetectedLanguage] | list[list[DetectedLanguage]],
                 responses=ERROR_RESPONSES, openapi_extra=body_spec("DetectRequest", form=True))
    async def detect(request: Request) -> Any:
        """The languages q may be in, best first (up to 3), confidence 0-100. For a list q (an extension),
        one such list per text, each detected on its own."""
        data = await read_params(request)
        admit(state, request, data)
        body: DetectRequest = validate(DetectRequest, data, settings)
        require_ready(state)
        texts = [body.q] if isinstance(body.q, str) else list(body.q)
        detected = await detect_texts(state, texts, DETECT_CANDIDATES)
        answers = [[_detection(candidate) for candidate in candidates] for candidates in detected]
        return answers[0] if isinstance(body.q, str) else answers

    @router.post("/suggest", responses={403: ERROR_RESPONSES[403]})
    async def suggest() -> Any:
        """Translation suggestions are not collected: answered as a LibreTranslate with suggestions disabled."""
        raise ApiError(403, "Suggestions are disabled on this server.")

    @router.get("/frontend/settings", response_model=FrontendSettings)
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

    return router


def _html_text(document: str) -> str:
    from ..markup import split_html

    return " ".join(split_html(document).texts)


def _detection(candidate: tuple[str, float]) -> dict[str, Any]:
    """LibreTranslate's {"confidence": 0-100, "language": code} for a (model code, 0..1) candidate."""
    code, confidence = candidate
    return {"confidence": round(100.0 * confidence, 1), "language": to_libre(code)}
