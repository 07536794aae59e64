"""POST /translate (LibreTranslate) and POST /v1/translate (native) against a real server process."""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from .conftest import post_json

EN = ["Hello world.", "The house is green and we walk to school every morning.", "Birds sing!"]


def test_json_string(server, translator):
    response = post_json(server, "/translate", {"q": EN[0], "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"translatedText": translator.translate(EN[0], "en", "fr")}


def test_json_list_keeps_order(server, translator):
    response = post_json(server, "/translate", {"q": EN, "source": "en", "target": "de"})
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate(EN, "en", "de")


def test_language_names_and_variants_are_normalised(server, translator):
    response = post_json(server, "/translate", {"q": EN[1], "source": "English", "target": "fr-FR"})
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate(EN[1], "en", "fr")


def test_urlencoded_form(server, translator):
    response = httpx.post(server.url + "/translate", data={"q": EN[2], "source": "en", "target": "es"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate(EN[2], "en", "es")


def test_multipart_form_and_repeated_q(server, translator):
    response = httpx.post(server.url + "/translate", files={"source": (None, "en"), "target": (None, "it"),
                                                          "q": (None, EN[0])}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate(EN[0], "en", "it")
    body = "q=Hello+world.&q=Birds+sing%21&source=en&target=it"
    response = httpx.post(server.url + "/translate", content=body,
                          headers={"content-type": "application/x-www-form-urlencoded"}, timeout=60)
    assert response.json()["translatedText"] == translator.translate([EN[0], EN[2]], "en", "it")


def test_form_numbers_are_parsed(server, translator):
    response = httpx.post(server.url + "/translate",
                          data={"q": EN[0], "source": "en", "target": "fr", "num_beams": "2", "max_new_tokens": "9"},
                          timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate(EN[0], "en", "fr", num_beams=2, max_new_tokens=9)


def test_empty_items_keep_their_positions_without_a_model_call(server, translator):
    before = server.wait_idle()
    response = post_json(server, "/translate", {"q": ["", "  ", "42 !", ""], "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == ["", "  ", "42 !", ""]
    after = server.wait_idle()
    assert after["pieces_run"] == before["pieces_run"] and after["batches"] == before["batches"]

    response = post_json(server, "/translate", {"q": ["", EN[0], "", EN[2]], "source": "en", "target": "fr"})
    assert response.json()["translatedText"] == ["", *translator.translate([EN[0]], "en", "fr"), "",
                                                 *translator.translate([EN[2]], "en", "fr")]


def test_same_source_and_target_unchanged(server):
    response = post_json(server, "/translate", {"q": "Bonjour", "source": "fr", "target": "French"})
    assert response.json() == {"translatedText": "Bonjour"}


@pytest.mark.parametrize("q, fragment", [
    ("", "q is empty"),
    ("   \n", "q is empty"),
    ([], "q is an empty list"),
    ([EN[0], 5], "q[1] must be a string"),
    ([None], "q[0] must be a string"),
    ([["nested"]], "q[0] must be a string"),
    (42, "q must be a string"),
    ({"text": "x"}, "q must be a string"),
])
def test_bad_q(server, q, fragment):
    response = post_json(server, "/translate", {"q": q, "source": "en", "target": "fr"})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize("payload, fragment", [
    ({"source": "en", "target": "fr"}, "missing q parameter"),
    ({"q": "x", "target": "fr"}, "missing source parameter"),
    ({"q": "x", "source": "en"}, "missing target parameter"),
    ({"q": "x", "source": "zz", "target": "fr"}, "'zz'"),
    ({"q": "x", "source": "en", "target": "zz"}, "'zz'"),
    ({"q": "x", "source": "en", "target": 7}, "target must be a language code"),
    ({"q": "x", "source": "", "target": "fr"}, "source is empty"),
    ({"q": "x", "source": "en", "target": "fr", "alternatives": 4}, "alternatives parameter must be <= 3"),
    ({"q": "x", "source": "en", "target": "fr", "alternatives": -1}, "alternatives parameter must be >= 0"),
    ({"q": "x", "source": "en", "target": "fr", "alternatives": "two"}, "alternatives parameter is not a number"),
    ({"q": "x", "source": "en", "target": "fr", "alternatives": 1.5}, "alternatives parameter is not a number"),
    ({"q": "x", "source": "en", "target": "fr", "format": "pdf"}, 'format must be "text" or "html"'),
    ({"q": "x\ud800", "source": "en", "target": "fr"}, "unpaired surrogate"),
    ({"q": "x", "source": "en", "target": "fr", "api_key": 5}, "api_key must be a string"),
])
def test_bad_parameters(server, payload, fragment):
    response = post_json(server, "/translate", payload)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_unknown_language_is_named_with_suggestions(server):
    error = post_json(server, "/translate", {"q": "x", "source": "en", "target": "zz"}).json()["error"]
    assert "target" in error and "'zz'" in error and "did you mean" in error


@pytest.mark.parametrize("name, value", [
    ("num_beams", 0), ("num_beams", -1), ("num_beams", 1.5), ("num_beams", "4"), ("num_beams", 10**6),
    ("num_beams", True), ("num_beams", 5), ("num_beams", 10**40),
    ("max_new_tokens", 0), ("max_new_tokens", -5), ("max_new_tokens", 10**9), ("max_new_tokens", "10"),
    ("max_new_tokens", 2.0), ("max_new_tokens", 201), ("max_new_tokens", []),
])
@pytest.mark.parametrize("path", ["/translate", "/v1/translate"])
def test_bad_generation_parameters(server, path, name, value):
    payload = {"q": "Hello", "source": "en", "target": "fr"} if path == "/translate" else \
        {"items": ["Hello"], "source": "en", "target": "fr"}
    response = post_json(server, path, {**payload, name: value})
    assert response.status_code == 400, response.text
    high = 4 if name == "num_beams" else 200  # --max-beams 4, --max-new-tokens 200
    assert f"{name} must be an integer from 1 to {high}" in response.json()["error"]


@pytest.mark.parametrize("options", [
    {"num_beams": 1}, {"num_beams": 4}, {"max_new_tokens": 1}, {"max_new_tokens": 200},
    {"num_beams": 4, "max_new_tokens": 200}, {"num_beams": None},
])
def test_generation_parameter_edges_pass(server, translator, options):
    response = post_json(server, "/translate", {"q": EN[0], "source": "en", "target": "fr", **options})
    assert response.status_code == 200, response.text
    given = {k: v for k, v in options.items() if v is not None}
    assert response.json()["translatedText"] == translator.translate(EN[0], "en", "fr", **given)


def test_alternatives_are_the_translators_nbest(server, translator):
    # n-best from beam search: best + 3 others from max(num_beams, 4) beams; distinct, best first
    response = post_json(server, "/translate", {"q": EN[1], "source": "en", "target": "fr", "alternatives": 3})
    assert response.status_code == 200, response.text
    nbest = translator.translate_nbest([EN[1]], "en", "fr", 4, num_beams=max(4, _default_beams(translator)))[0]
    assert response.json() == {"translatedText": nbest[0], "alternatives": nbest[1:]}
    # a list q: one list of alternatives per text; texts that need no model call have none
    response = post_json(server, "/translate", {"q": [EN[2], "", "42"], "source": "en", "target": "de",
                                                "alternatives": "1"})
    nbest = translator.translate_nbest([EN[2]], "en", "de", 2, num_beams=max(2, _default_beams(translator)))[0]
    assert response.json() == {"translatedText": [nbest[0], "", "42"], "alternatives": [nbest[1:], [], []]}


def _default_beams(translator) -> int:
    return translator.model.generation_config.num_beams or 1


def test_html_keeps_markup(server, translator):
    document = '<p class="x">Hello world. <b>Birds sing!</b></p><script>var a = "do not translate";</script>'
    response = post_json(server, "/translate", {"q": document, "source": "en", "target": "fr", "format": "html"})
    assert response.status_code == 200, response.text
    out = response.json()["translatedText"]
    assert re.findall(r"<[^>]+>", out) == re.findall(r"<[^>]+>", document)
    assert 'var a = "do not translate";' in out
    # one unit for the paragraph (the inline <b> is a span over it, not a separate fragment)
    expected = translator.translate("Hello world. Birds sing!", "en", "fr")
    paragraph = out[len('<p class="x">'):out.index("</p>")]
    assert html.unescape(re.sub(r"<[^>]+>", "", paragraph)) == expected


@pytest.mark.parametrize("body, content_type, status, fragment", [
    (b'{"q": "x", "source": "en"', "application/json", 400, "invalid JSON"),
    (b"", "application/json", 400, "body is empty"),
    (b"[]", "application/json", 400, "got an array"),
    (b"42", "application/json", 400, "got a number"),
    (b"null", "application/json", 400, "got null"),
    (b'"q"', "application/json", 400, "got a string"),
    (b"[" * 60000, "application/json", 400, "JSON"),
    (b'{"q": "caf\xe9", "source": "en", "target": "fr"}', "application/json", 400, "not valid UTF-8"),
    (b"q=caf\xe9&source=en&target=fr", "application/x-www-form-urlencoded", 400, "not valid UTF-8"),
    (b"q=caf%E9&source=en&target=fr", "application/x-www-form-urlencoded", 400, "not valid UTF-8"),
    (b"q=x", "text/plain", 415, "unsupported Content-Type"),
    (b"q=x", None, 415, "unsupported Content-Type"),
    (b"--b\r\nbroken", "multipart/form-data; boundary=b", 400, "missing q"),
])
def test_malformed_bodies_are_4xx_json(server, body, content_type, status, fragment):
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(server.url + "/translate", content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert fragment in response.json()["error"]


def test_wrong_method_and_unknown_path(server):
    response = httpx.get(server.url + "/translate", timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "not allowed" in response.json()["error"]
    response = httpx.put(server.url + "/languages", timeout=10)
    assert response.status_code == 405 and "error" in response.json()
    response = httpx.get(server.url + "/nope", timeout=10)
    assert response.status_code == 404 and response.json() == {"error": "not found: /nope"}


def test_native_per_item_targets(server, translator):
    payload = {"items": [EN[0], {"text": EN[1], "target": "de"}, {"text": "", "target": "es"},
                         {"text": EN[2], "source": "fr"}],
               "source": "en", "target": "fr", "num_beams": 2}
    response = post_json(server, "/v1/translate", payload)
    assert response.status_code == 200, response.text
    body = response.json()
    got = [(t["text"], t["source"], t["target"]) for t in body["translations"]]
    assert got == [
        (translator.translate(EN[0], "en", "fr", num_beams=2), "en", "fr"),
        (translator.translate(EN[1], "en", "de", num_beams=2), "en", "de"),
        ("", "en", "es"),
        (translator.translate(EN[2], "fr", "fr", num_beams=2), "fr", "fr"),
    ]
    assert [t["sentences"] for t in body["translations"]] == [1, 1, 0, 0]
    assert body["elapsed_ms"] >= 0


@pytest.mark.parametrize("payload, fragment", [
    ({"items": [{"text": "x", "target": "zz"}], "source": "en", "target": "fr"}, "items[0].target"),
    ({"items": ["a", {"text": "x"}], "source": "en"}, "items[0] has no target"),
    ({"items": [{"txt": "x"}], "source": "en", "target": "fr"}, "unknown field 'txt'"),
    ({"items": [3], "source": "en", "target": "fr"}, "items[0] must be a string or an object"),
    ({"items": [], "source": "en", "target": "fr"}, "items is an empty list"),
    ({"items": "x", "source": "en", "target": "fr"}, "items must be a list"),
    ({"items": ["x"], "source": "en", "target": "fr", "beams": 3}, "beams"),
])
def test_native_errors_name_the_item(server, payload, fragment):
    response = post_json(server, "/v1/translate", payload)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_native_is_json_only(server):
    response = httpx.post(server.url + "/v1/translate", data={"items": "x"}, timeout=10)
    assert response.status_code == 415


def test_openapi_spec(server):
    spec = httpx.get(server.url + "/openapi.json", timeout=10).json()
    translate = spec["paths"]["/translate"]["post"]
    assert set(translate["requestBody"]["content"]) == {
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
    assert {"200", "400", "403", "413", "415", "429", "503"} <= set(translate["responses"])
    schemas = spec["components"]["schemas"]
    assert {"q", "source", "target", "format", "api_key"} <= set(schemas["TranslateRequest"]["properties"])
    assert "translatedText" in schemas["TranslateResponse"]["properties"]
    assert {"/languages", "/health", "/v1/translate"} <= set(spec["paths"])
    json.dumps(spec)  # serialisable


def test_quantized_server_configured_from_environment(start_server, server_checkpoint):
    """--quantize through M2M100_QUANTIZE, a limit through M2M100_MAX_CHARS: answers match the quantized
    Translator's."""
    from m2m100 import Translator

    server = start_server(["--threads", "1"], env={"M2M100_QUANTIZE": "int8", "M2M100_MAX_CHARS": "40"}).wait_ready()
    assert httpx.get(server.url + "/frontend/settings", timeout=10).json()["charLimit"] == 40
    response = post_json(server, "/translate", {"q": EN[0], "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text
    reference = Translator.from_pretrained(server_checkpoint, device="cpu", quantize="int8")
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert response.json()["translatedText"] == reference.translate(EN[0], "en", "fr")
    finally:
        torch.set_num_threads(previous)
    assert post_json(server, "/translate", {"q": "x" * 41, "source": "en", "target": "fr"}).status_code == 400
    assert server.terminate() == 0
