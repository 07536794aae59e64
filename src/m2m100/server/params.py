"""Request parameters read the way LibreTranslate reads them: from the query string, a form
(application/x-www-form-urlencoded or multipart/form-data) or a JSON object, alike.

    read_params(request) -> {"q": "..." | [...], "source": ..., ...}
    validate(model, data, settings) -> the typed request (schemas), or 400 naming the field and the limit
    normalize_language(engine, value, what) -> the model's code, or 400 "xx is not supported (...)"

Query parameters come first and the body's override them (deep-translator sends every field in the query
string with an empty body; browsers and other clients send forms or JSON). A repeated `q` is a list of
texts. Every body type is decoded as strict UTF-8: invalid bytes are the same 400 whether they come in JSON,
a urlencoded form, a multipart field or the query string (never silently read as Latin-1). The body size is
already bounded by the server's guard before this runs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import ValidationError

from .codes import from_libre
from .errors import ApiError, bad_request, describe_validation_error
from .schemas import FORM_NUMBERS, coerce_form_numbers, limits_context

JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"


async def read_params(request: Request, *, allow_form: bool = True, allow_query: bool = True) -> dict[str, Any]:
    """The request's parameters as one dict; 400 (malformed, invalid UTF-8) or 415 (other content types)."""
    params: dict[str, Any] = {}
    if allow_query and request.scope.get("query_string"):
        params = _group(_parse_urlencoded(request.scope["query_string"], "query string"))
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower()
    if not body and params:
        return coerce_form_numbers(params)  # e.g. deep-translator: every field in the query string
    if mime in JSON_TYPES or (mime.startswith("application/") and mime.endswith("+json")):
        data = _parse_json(body)
        merged = {**params, **data}
        if params:  # query values are strings: numbers in them are parsed as for forms
            coerce_form_numbers(merged, tuple(k for k in FORM_NUMBERS if k in params and k not in data))
        return merged
    if allow_form and mime == FORM_TYPE:
        return coerce_form_numbers({**params, **_group(_parse_urlencoded(body, "request body"))})
    if allow_form and mime == MULTIPART_TYPE:
        return coerce_form_numbers({**params, **_group(_parse_multipart(body, content_type))})
    if not body:
        return coerce_form_numbers(params)  # nothing sent: "missing q parameter" comes from validation
    accepted = "application/json" + (f", {FORM_TYPE} or {MULTIPART_TYPE}" if allow_form else "")
    got = f"got {mime!r}" if mime else "none was given"
    raise ApiError(415, f"unsupported Content-Type: send {accepted} ({got})")


def validate(model: type, data: dict[str, Any], settings: Any) -> Any:
    """`model` (a schemas request) validated against the server's limits; 400 naming the bad field."""
    try:
        return model.model_validate(data, context=limits_context(settings))
    except ValidationError as exc:
        raise bad_request(describe_validation_error(list(exc.errors()))) from None


def normalize_language(engine: Any, value: str, what: str) -> str:
    """The model's code for a language as a client gives it (LibreTranslate's codes too: server.codes)."""
    try:
        return engine.normalize(from_libre(value), what)
    except ValueError as exc:  # LibreTranslate's "xx is not supported" first: clients show it
        raise bad_request(f"{value} is not supported ({exc})") from None


def _parse_json(body: bytes) -> dict[str, Any]:
    text = _utf8(body, "request body")
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


def _parse_urlencoded(raw: bytes, where: str) -> list[tuple[str, str]]:
    text = _utf8(raw, where)
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:  # a percent-escape that decodes to invalid UTF-8
        raise bad_request(f"{where} is not valid UTF-8 (invalid percent-encoded byte at offset {exc.start})") from None
    except ValueError as exc:
        raise bad_request(f"invalid {where}: {exc}") from None


def _parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Text fields of a multipart body, each name and value strict UTF-8; a file part is a 400 here (files go to
    /translate_file)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise bad_request("invalid multipart form body: the Content-Type has no boundary")
    fields: list[tuple[str, str]] = []
    part: dict[str, Any] = {}

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, name=b"", value=b"", data=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["name"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part["value"] += data[start:end]

    def on_header_end() -> None:
        part["headers"][bytes(part["name"]).lower()] = bytes(part["value"])
        part["name"], part["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part["data"] += data[start:end]

    def on_part_end() -> None:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        if b"name" not in disposition:
            raise bad_request("invalid multipart form body: a part has no name (Content-Disposition)")
        name = _utf8(disposition[b"name"], "a multipart field name")
        if b"filename" in disposition:
            raise bad_request(f"{name} must be a text field, not a file")
        fields.append((name, _utf8(bytes(part["data"]), f"multipart field {name!r}")))

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_part_data": on_part_data, "on_part_end": on_part_end}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart's errors for malformed bodies
        raise bad_request(f"invalid multipart form body: {exc}") from None
    return fields


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"{where} is not valid UTF-8 (invalid byte at offset {exc.start})") from None


def _group(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A dict of the pairs; a repeated q becomes a list of texts (other repeated names: the last wins)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key == "q" and key in data:
            data[key] = (data[key] if isinstance(data[key], list) else [data[key]]) + [value]
        else:
            data[key] = value
    return data
