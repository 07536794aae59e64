"""LibreTranslate's API surface beyond /translate: /detect, "auto", /spec, /docs, /suggest, parameters from the
query string, `//path`, strict UTF-8 in every body type, and the access log."""

from __future__ import annotations

import re

import httpx
import pytest

from .conftest import post_json

DE = "Das Haus ist grün und wir gehen jeden Morgen zur Schule."
FR = "La maison est verte et nous allons à l'école chaque matin."


def test_detect_single_and_list(server, translator):
    response = post_json(server, "/detect", {"q": DE})
    assert response.status_code == 200, response.text
    expected = translator.detect_candidates([DE], 3)[0]
    assert response.json() == [{"confidence": round(100 * c, 1), "language": code} for code, c in expected]
    # a list q (an extension): one candidate list per text, each text detected on its own
    response = httpx.post(server.url + "/detect", data={"q": [DE, FR, "1234 !"]}, timeout=30)
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a[0]["language"] for a in answers] == ["de", "fr", "en"]
    assert answers[2] == [{"confidence": 0.0, "language": "en"}]  # nothing to detect: LibreTranslate's answer


@pytest.mark.parametrize("payload, fragment", [
    ({}, "Invalid request: missing q parameter"),
    ({"q": ""}, "q is empty"),
    ({"q": 5}, "q must be a string"),
    ({"q": ["ok", None]}, "q[1] must be a string"),
    ({"q": "x" * 2001}, "q has 2001 characters; at most 2000"),
    ({"q": ["x"] * 17}, "q has 17 texts; at most 16"),
])
def test_detect_bad_input(server, payload, fragment):
    response = post_json(server, "/detect", payload)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_auto_reports_low_confidence_and_translates(server, translator):
    text = "ok"  # too short to be sure: still translated, with the detector's (low) confidence
    (code, confidence), = [candidates[0] for candidates in translator.detect_candidates([text], 1)]
    response = post_json(server, "/translate", {"q": [text, ""], "source": "auto", "target": "de"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translatedText"] == [translator.translate(text, code, "de"), ""]
    assert body["detectedLanguage"] == [{"confidence": round(100 * confidence, 1), "language": code},
                                        {"confidence": 0.0, "language": "en"}]
    assert confidence < 0.5


def test_native_api_auto_per_item(server, translator):
    response = post_json(server, "/v1/translate", {
        "items": [DE, {"text": FR, "source": "auto"}, {"text": "Hello world.", "source": "en"}],
        "source": "auto", "target": "es"})
    assert response.status_code == 200, response.text
    found = [candidates[0] for candidates in translator.detect_candidates([DE, FR], 1)]
    items = response.json()["translations"]
    assert [(t["source"], t["detected_confidence"]) for t in items] == [*found, ("en", None)]
    assert [t["text"] for t in items] == [translator.translate(DE, "de", "es"), translator.translate(FR, "fr", "es"),
                                          translator.translate("Hello world.", "en", "es")]


def test_spec_docs_suggest_and_double_slashes(server):
    spec = httpx.get(server.url + "/spec", timeout=10).json()
    assert spec["info"]["title"] == "LibreTranslate"
    assert {"/translate", "/detect", "/languages", "/frontend/settings"} <= set(spec["paths"])
    docs = httpx.get(server.url + "/docs", timeout=10)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", docs.text)
    assert assets and all(a.startswith("/docs/static/") for a in assets), assets  # no CDN
    for asset in assets:
        assert httpx.get(server.url + asset, timeout=10).status_code == 200
    for send in ({"json": {"q": "a", "s": "b", "source": "en", "target": "fr"}}, {"data": {"q": "a"}}):
        response = httpx.post(server.url + "/suggest", timeout=10, **send)
        assert response.status_code == 403
        assert response.json() == {"error": "Suggestions are disabled on this server."}
    assert httpx.get(server.url + "//languages", timeout=10).status_code == 200
    assert httpx.get(server.url + "//frontend//settings", timeout=10).json()["charLimit"] == 2000


def test_parameters_from_the_query_string(server, translator):
    # deep-translator's way: every field in the query string, empty body, no content type
    text = "Birds sing!"
    response = httpx.post(server.url + "/translate", params={"q": text, "source": "en", "target": "fr"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json() == {"translatedText": translator.translate(text, "en", "fr")}
    # query values are defaults that a body overrides
    response = httpx.post(server.url + "/translate", params={"source": "de", "target": "it", "num_beams": "2"},
                          json={"q": text, "source": "en"}, timeout=60)
    assert response.json() == {"translatedText": translator.translate(text, "en", "it", num_beams=2)}
    response = httpx.post(server.url + "/translate", content=b"q=caf%E9&source=en&target=fr", timeout=30,
                          headers={"content-type": "text/plain"})
    assert response.status_code == 415
    response = httpx.post(server.url + "/translate?q=caf%E9&source=en&target=fr", timeout=30)
    assert response.status_code == 400 and "query string is not valid UTF-8" in response.json()["error"]


def test_invalid_utf8_is_the_same_400_in_every_body_type(server):
    boundary = "xyz"
    multipart = (f'--{boundary}\r\nContent-Disposition: form-data; name="q"\r\n\r\n'.encode() + b"caf\xe9\r\n"
                 + f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\nen\r\n'
                   f'--{boundary}\r\nContent-Disposition: form-data; name="target"\r\n\r\nfr\r\n--{boundary}--\r\n'
                 .encode())
    bodies = [
        (b'{"q": "caf\xe9", "source": "en", "target": "fr"}', "application/json"),
        (b"q=caf\xe9&source=en&target=fr", "application/x-www-form-urlencoded"),
        (multipart, f"multipart/form-data; boundary={boundary}"),
    ]
    for body, content_type in bodies:
        response = httpx.post(server.url + "/translate", content=body, headers={"content-type": content_type},
                              timeout=30)
        assert response.status_code == 400, (content_type, response.text)
        assert "not valid UTF-8" in response.json()["error"], content_type
    # a file part is not a text
    response = httpx.post(server.url + "/translate", files={"q": ("a.txt", b"hello")},
                          data={"source": "en", "target": "fr"}, timeout=30)
    assert response.status_code == 400 and "q must be a text field" in response.json()["error"]


def test_access_log_line_per_request_without_text(server):
    secret = "Zebras-whisper-quietly"
    httpx.post(server.url + "/translate", params={"q": secret, "source": "en", "target": "fr"}, timeout=60)
    post_json(server, "/translate", {"q": secret, "source": "en", "target": "zz"})
    httpx.get(server.url + "/nope", timeout=10)
    log = server.log()
    assert re.search(r"INFO m2m100\.server\.access: POST /translate 200 \d+\.\d ms", log)
    assert re.search(r"INFO m2m100\.server\.access: POST /translate 400 \d+\.\d ms", log)
    assert re.search(r"INFO m2m100\.server\.access: GET /nope 404 \d+\.\d ms", log)
    assert secret not in log


def test_auto_with_html_detects_the_text_not_the_markup(server):
    document = f'<div class="wrapper" title="{DE}"><p>{DE}</p><script>var sentence = "the house is";</script></div>'
    auto = post_json(server, "/translate", {"q": document, "source": "auto", "target": "fr", "format": "html"})
    assert auto.status_code == 200, auto.text
    assert auto.json()["detectedLanguage"]["language"] == "de"
    given = post_json(server, "/translate", {"q": document, "source": "de", "target": "fr", "format": "html"})
    assert auto.json()["translatedText"] == given.json()["translatedText"]
