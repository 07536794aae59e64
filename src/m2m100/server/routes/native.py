"""The native API: `POST /v1/translate`, JSON only.

Per-item source and target languages (source "auto": detected item by item), num_beams, max_new_tokens, and
per item the normalised languages, the number of model inputs, the detector's confidence and the quality
guard's report. With "stream": true the answer is Server-Sent Events, sentence by sentence (server.streaming).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from ..admission import admit, check_capacity
from ..params import normalize_language, read_params, validate
from ..pipeline import detect, run_request, translate_texts
from ..schemas import (
    ERROR_RESPONSES,
    NativeTranslateRequest,
    NativeTranslateResponse,
    NativeTranslation,
    body_spec,
)
from ..state import ServiceState, require_ready
from ..streaming import translation_events

AUTO = "auto"


def build_router(state: ServiceState) -> APIRouter:
    router = APIRouter(tags=["native"])
    settings = state.settings

    @router.post("/v1/translate", response_model=NativeTranslateResponse, responses=ERROR_RESPONSES,
                 openapi_extra=body_spec("NativeTranslateRequest", form=False))
    async def translate_native(request: Request) -> Any:
        """Per-item source and target languages, generation parameters, details per item."""
        started = time.perf_counter()
        data = await read_params(request, allow_form=False, allow_query=False)
        admit(state, request, data)
        body: NativeTranslateRequest = validate(NativeTranslateRequest, data, settings)
        engine = require_ready(state)
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
                    cache[(value, key)] = normalize_language(engine, value, where)
                out.append(cache[(value, key)])
        options = body.generation_options()
        texts = [item.text for item in body.items]
        confidences: dict[int, float] = {}
        if auto:
            for i, candidates in zip(auto, await detect(state, [texts[i] for i in auto], 1)):
                sources[i], confidences[i] = candidates[0]

        def respond(results: list[Any]) -> NativeTranslateResponse:  # TextResult per item
            translations = [
                NativeTranslation(text=r.text, source=src, target=tgt, sentences=r.pieces,
                                  detected_confidence=confidences.get(i), quality=_quality(r.details))
                for i, (r, src, tgt) in enumerate(zip(results, sources, targets))
            ]
            return NativeTranslateResponse(translations=translations, model=engine.name,
                                           elapsed_ms=round(1000 * (time.perf_counter() - started), 2))

        if body.stream:  # Server-Sent Events, sentence by sentence (server.streaming)
            check_capacity(state)
            events = translation_events(state, texts, sources, targets, body.format, options,
                                        lambda results: respond(results).model_dump(mode="json"))
            return StreamingResponse(events, media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        results = await run_request(state, request, lambda: translate_texts(
            state, texts, sources, targets, body.format, options, details=True))
        if results is None:
            return Response(status_code=499)
        return respond(results)

    return router


def _quality(details: Any) -> dict[str, Any] | None:
    """The native API's `quality` of one text from its guard details (m2m100.guards.TextDetails)."""
    if details is None:
        return None
    return {"flags": [f.to_dict() for f in details.flags], "retries": details.retries, "changed": details.changed,
            "score": details.score}
