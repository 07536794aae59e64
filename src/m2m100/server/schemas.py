"""Typed request and response bodies (they also make the OpenAPI spec at /openapi.json).

Requests are validated with a context holding the server limits (`limits_context`), so every message names
the parameter, the index of the text and the limit: "q[3] has 6000 characters; at most 5000 ...".
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_INT_STRING = re.compile(r"[+-]?\d{1,30}")


def limits_context(settings: Any) -> dict[str, int]:
    return {
        "max_chars": settings.max_chars, "max_texts": settings.max_texts,
        "max_beams": settings.max_beams, "max_new_tokens": settings.max_new_tokens,
        "max_alternatives": getattr(settings, "max_alternatives", 3),
    }


def check_alternative_beams(alternatives: int, max_beams: int) -> None:
    """`alternatives` n-best translations take alternatives + 1 beams: a ValueError when that is more than the
    server's max_beams."""
    if alternatives and alternatives + 1 > max_beams:
        raise ValueError(
            f"Invalid request: alternatives {alternatives} needs {alternatives + 1} beams (alternatives + 1), "
            f"but this server allows at most {max_beams} beams (max_beams); ask for at most "
            f"{max_beams - 1} alternatives"
        )


def _limit(info: ValidationInfo, name: str, default: int) -> int:
    return int((info.context or {}).get(name, default))


def _check_text(value: Any, where: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {_type_name(value)}")
    if len(value) > max_chars:
        raise ValueError(
            f"{where} has {len(value)} characters; at most {max_chars} characters per text are accepted "
            f"(limit max_chars)"
        )
    if _SURROGATE.search(value):
        raise ValueError(f"{where} contains an unpaired surrogate code point, which is not valid Unicode text")
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def check_texts(value: Any, info: ValidationInfo, name: str) -> str | list[str]:
    """A string or a non-empty list of strings within the limits; names the index of a bad item."""
    max_chars = _limit(info, "max_chars", 5000)
    max_texts = _limit(info, "max_texts", 64)
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{name} is an empty list; give at least one text")
        if len(value) > max_texts:
            raise ValueError(
                f"{name} has {len(value)} texts; at most {max_texts} texts per request are accepted (limit max_texts)"
            )
        return [_check_text(item, f"{name}[{i}]", max_chars) for i, item in enumerate(value)]
    text = _check_text(value, name, max_chars)
    if not text.strip():
        raise ValueError(f"{name} is empty; give the text to translate")
    return text


def check_int_param(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = value if not isinstance(value, int) or abs(value) < 10**12 else f"{str(value)[:12]}..."
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {shown!r}")
    return value


def check_language(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a language code such as 'en', got {_type_name(value)}")
    if not value.strip():
        raise ValueError(f"{name} is empty; give a language code such as 'en'")
    if len(value) > 64:
        raise ValueError(f"{name} is not a language code ({len(value)} characters)")
    return value.strip()


class _GenerationParams(BaseModel):
    num_beams: int | None = Field(None, description="beam size (1 = greedy); default: the checkpoint's")
    max_new_tokens: int | None = Field(None, description="most tokens generated per sentence")

    @field_validator("num_beams", mode="before")
    @classmethod
    def _beams(cls, value: Any, info: ValidationInfo) -> int | None:
        return check_int_param(value, "num_beams", 1, _limit(info, "max_beams", 8))

    @field_validator("max_new_tokens", mode="before")
    @classmethod
    def _new_tokens(cls, value: Any, info: ValidationInfo) -> int | None:
        return check_int_param(value, "max_new_tokens", 1, _limit(info, "max_new_tokens", 1024))

    def generation_options(self) -> dict[str, int]:
        pairs = (("num_beams", self.num_beams), ("max_new_tokens", self.max_new_tokens))
        return {k: v for k, v in pairs if v is not None}


# =====================================================================================================
# LibreTranslate API
# =====================================================================================================
class _TextsAndKey(BaseModel):
    """The checks of the LibreTranslate requests' shared fields `q` (a text or a list of texts, within the
    server's limits) and `api_key` (a string or absent). Validators only: each request declares the fields
    itself, so its field order and descriptions (the OpenAPI schema) stay its own."""

    @field_validator("q", mode="before", check_fields=False)
    @classmethod
    def _q(cls, value: Any, info: ValidationInfo) -> Any:
        return check_texts(value, info, "q")

    @field_validator("api_key", mode="before", check_fields=False)
    @classmethod
    def _api_key(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"api_key must be a string, got {_type_name(value)}")
        return value


class TranslateRequest(_GenerationParams, _TextsAndKey):
    """POST /translate, as JSON or as a form (application/x-www-form-urlencoded or multipart/form-data)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "examples": [{"q": "Hello world!", "source": "en", "target": "fr"}]
    })

    q: str | list[str] = Field(description="text to translate, or a list of texts")
    source: str = Field(description='source language code, or "auto" to detect the language of each text')
    target: str = Field(description="target language code")
    format: Literal["text", "html"] = Field("text", description='"text" or "html" (tags kept, text translated)')
    api_key: str | None = Field(None, description="API key, when the server requires one")
    alternatives: int = Field(0, description="number of alternative translations per text (n-best beam search), "
                                             "0 to the server's max_alternatives")
    quality: bool = Field(False, description="an extension: true adds qualityFlags, the quality guard's findings "
                                             "per text (repetition, length, language, copy, unk_output, unk_source)")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> str:
        return check_language(value, "source")

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> str:
        return check_language(value, "target")

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if value is None:
            return "text"
        if value not in ("text", "html"):
            raise ValueError(f'format must be "text" or "html", got {value!r}')
        return value

    @field_validator("quality", mode="before")
    @classmethod
    def _quality(cls, value: Any) -> bool:
        # JSON booleans, and the strings a form sends
        if value is None or value == "":
            return False
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
            return value.strip().lower() in ("true", "1")
        if not isinstance(value, bool):
            raise ValueError(f"quality must be true or false, got {_type_name(value)}")
        return value

    @field_validator("alternatives", mode="before")
    @classmethod
    def _alternatives(cls, value: Any, info: ValidationInfo) -> int:
        # LibreTranslate's own messages, which clients show: "is not a number", "must be <= N"
        if value is None or value == "":
            return 0
        if isinstance(value, str) and _INT_STRING.fullmatch(value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("Invalid request: alternatives parameter is not a number")
        limit = _limit(info, "max_alternatives", 3)
        if value < 0:
            raise ValueError(f"Invalid request: alternatives parameter must be >= 0 and <= {limit}, got {value}")
        if value > limit:
            raise ValueError(f"Invalid request: alternatives parameter must be <= {limit} (max_alternatives)")
        return value

    @model_validator(mode="after")
    def _alternatives_within_beams(self, info: ValidationInfo) -> "TranslateRequest":
        # n-best needs the best plus `alternatives` others, so at least alternatives + 1 beams (the endpoint
        # raises num_beams to that): the server's beam limit holds for those beams too
        check_alternative_beams(self.alternatives, _limit(info, "max_beams", 8))
        return self


class DetectedLanguage(BaseModel):
    confidence: float = Field(description="0 to 100; low values mean the detector is unsure")
    language: str = Field(description="language code, as /languages lists it")


class QualityFlag(BaseModel):
    kind: str = Field(description="repetition | length | language | copy | unk_output | unk_source")
    message: str = Field(description="what the guard saw")
    words: list[str] | None = Field(None, description="unk_source: the source words the tokenizer cannot represent")


class Quality(BaseModel):
    flags: list[QualityFlag] = Field(description="findings on the first decode of the text's pieces")
    retries: int = Field(description="extra decodes the guard ran for this text")
    changed: int = Field(description="pieces whose first decode a retry replaced")
    score: float | None = Field(description="model log-probability per output token (higher is more confident)")


class TranslateResponse(BaseModel):
    translatedText: str | list[str] = Field(description="translation, or one per text in the same order")
    detectedLanguage: DetectedLanguage | list[DetectedLanguage] | None = Field(
        None, description='with source "auto": the language detected (one per text for a list q, each text '
                          "detected on its own); the text is translated even when the confidence is low"
    )
    alternatives: list[str] | list[list[str]] | None = Field(
        None, description="present when alternatives > 0 was asked: other translations, best first, distinct "
                          "from translatedText and from each other (fewer when beam search finds fewer)"
    )
    qualityFlags: list[QualityFlag] | list[list[QualityFlag]] | None = Field(
        None, description="present when quality was asked: the quality guard's findings on the first decode of each "
                          "text (flagged parts were decoded again; empty with alternatives)"
    )


class DetectRequest(_TextsAndKey):
    """POST /detect, as JSON, a form or query parameters."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"q": "Bonjour tout le monde !"}]})

    q: str | list[str] = Field(description="text whose language to detect, or a list of texts")
    api_key: str | None = Field(None, description="API key, when the server requires one")


class Language(BaseModel):
    code: str = Field(description="language code")
    name: str = Field(description="English name")
    targets: list[str] = Field(description="codes this language translates into")


class ErrorResponse(BaseModel):
    error: str


# The error answers of the translation endpoints, for their OpenAPI `responses`.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "bad input"},
    403: {"model": ErrorResponse, "description": "missing or invalid API key"},
    413: {"model": ErrorResponse, "description": "body too large"},
    415: {"model": ErrorResponse, "description": "unsupported content type"},
    429: {"model": ErrorResponse, "description": "rate limit exceeded"},
    503: {"model": ErrorResponse, "description": "not ready, draining, at capacity or timed out"},
}


def body_spec(schema: str, form: bool) -> dict[str, Any]:
    """OpenAPI `requestBody` of an endpoint that reads its body itself (params.read_params): JSON, and with
    `form` the two form encodings, each the components schema `schema` (added by the app's openapi())."""
    ref = {"$ref": f"#/components/schemas/{schema}"}
    content = {"application/json": {"schema": ref}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": ref}
        content["multipart/form-data"] = {"schema": ref}
    return {"requestBody": {"required": True, "content": content}}


class Health(BaseModel):
    status: Literal["ok", "loading", "warming up", "failed", "draining", "overloaded"]
    model: str | None = None
    error: str | None = None
    stats: dict[str, int | float] = Field(default_factory=dict)


class LanguageRef(BaseModel):
    code: str
    name: str


class FrontendLanguages(BaseModel):
    source: LanguageRef
    target: LanguageRef


class FrontendSettings(BaseModel):
    """LibreTranslate's /frontend/settings, plus batchLimit, maxBeams and maxAlternatives."""

    charLimit: int
    frontendTimeout: int
    apiKeys: bool
    keyRequired: bool
    suggestions: bool
    filesTranslation: bool
    supportedFilesFormat: list[str]
    language: FrontendLanguages
    batchLimit: int
    maxBeams: int
    maxAlternatives: int


# =====================================================================================================
# Native API
# =====================================================================================================
class NativeItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="text to translate")
    source: str | None = Field(None, description="source language of this item (default: the request's)")
    target: str | None = Field(None, description="target language of this item (default: the request's)")


class NativeTranslateRequest(_GenerationParams):
    """POST /v1/translate: per-item languages, generation parameters, per-item details in the answer."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"items": ["Hello!", {"text": "Good morning.", "target": "de"}], "source": "en", "target": "fr",
                      "num_beams": 4}]
    })

    items: list[NativeItem] = Field(description="texts (strings or objects with their own source/target)")
    source: str | None = Field(None, description="default source language of the items")
    target: str | None = Field(None, description="default target language of the items")
    format: Literal["text", "html"] = "text"
    api_key: str | None = None
    stream: bool = Field(False, description="true: answer with Server-Sent Events, a `sentence` event per "
                                            "translated sentence in order, then a `done` event with the whole "
                                            "response (m2m100.server.streaming)")

    @field_validator("stream", mode="before")
    @classmethod
    def _stream(cls, value: Any) -> bool:
        if not isinstance(value, bool):  # no "yes"/1 coercion: a typo must not silently change the answer's type
            raise ValueError(f"stream must be true or false, got {_type_name(value)}")
        return value

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any, info: ValidationInfo) -> Any:
        max_chars = _limit(info, "max_chars", 5000)
        max_texts = _limit(info, "max_texts", 64)
        if not isinstance(value, list):
            raise ValueError(f"items must be a list of texts or objects, got {_type_name(value)}")
        if not value:
            raise ValueError("items is an empty list; give at least one text")
        if len(value) > max_texts:
            raise ValueError(
                f"items has {len(value)} texts; at most {max_texts} texts per request are accepted (limit max_texts)"
            )
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                item = {"text": item}
            if not isinstance(item, dict):
                raise ValueError(f"items[{i}] must be a string or an object with text, got {_type_name(item)}")
            unknown = sorted(set(item) - {"text", "source", "target"})
            if unknown:
                raise ValueError(f"items[{i}] has unknown field {unknown[0]!r}; fields are text, source, target")
            if "text" not in item:
                raise ValueError(f"items[{i}] has no text")
            item = dict(item)
            item["text"] = _check_text(item["text"], f"items[{i}].text", max_chars)
            for key in ("source", "target"):
                if item.get(key) is not None:
                    item[key] = check_language(item[key], f"items[{i}].{key}")
            out.append(item)
        return out

    @field_validator("source", "target", mode="before")
    @classmethod
    def _languages(cls, value: Any, info: ValidationInfo) -> Any:
        return None if value is None else check_language(value, info.field_name or "language")

    @model_validator(mode="after")
    def _every_item_has_languages(self) -> "NativeTranslateRequest":
        for i, item in enumerate(self.items):
            for key in ("source", "target"):
                if getattr(item, key) is None and getattr(self, key) is None:
                    raise ValueError(f"items[{i}] has no {key}: give {key} for the request or for the item")
        return self


class NativeTranslation(BaseModel):
    text: str = Field(description="the translation")
    source: str = Field(description="normalised source code")
    target: str = Field(description="normalised target code")
    sentences: int = Field(description="model inputs the text was split into (0: returned unchanged)")
    detected_confidence: float | None = Field(
        None, description='with source "auto": the detector\'s confidence (0..1) in `source`')
    quality: Quality | None = Field(None, description="the quality guard's report (score null: the text needed no "
                                                      "model)")


class NativeTranslateResponse(BaseModel):
    translations: list[NativeTranslation]
    model: str | None = None
    elapsed_ms: float


FORM_NUMBERS = ("num_beams", "max_new_tokens", "alternatives")


def coerce_form_numbers(data: dict[str, Any], names: tuple[str, ...] = FORM_NUMBERS) -> dict[str, Any]:
    """Form fields are strings: integer-looking values of numeric parameters become ints."""
    for name in names:
        value = data.get(name)
        if isinstance(value, str):
            if value.strip() == "":
                data[name] = None
            elif _INT_STRING.fullmatch(value.strip()):
                data[name] = int(value.strip())
    return data
