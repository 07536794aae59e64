"""Limits: texts per request, characters per text, body size (413 before parsing), API keys (403), rate
limit (429 + Retry-After), request timeout (503). Every answer is a JSON error naming the limit."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from .conftest import post_json


def test_too_many_texts(server):
    response = post_json(server, "/translate", {"q": ["a"] * 17, "source": "en", "target": "fr"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "q has 17 texts" in error and "at most 16" in error and "max_texts" in error
    assert post_json(server, "/translate", {"q": [""] * 16, "source": "en", "target": "fr"}).status_code == 200


def test_text_too_long_names_index_and_limit(server):
    response = post_json(server, "/translate", {"q": ["ok", "fine", "x" * 2001], "source": "en", "target": "fr"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "q[2] has 2001 characters" in error and "at most 2000" in error and "max_chars" in error
    response = post_json(server, "/translate", {"q": "x" * 2001, "source": "en", "target": "fr"})
    assert response.status_code == 400 and "q has 2001 characters" in response.json()["error"]
    payload = {"items": ["a", {"text": "y" * 2001}], "source": "en", "target": "fr"}
    response = post_json(server, "/v1/translate", payload)
    assert response.status_code == 400 and "items[1].text has 2001 characters" in response.json()["error"]


def test_long_text_within_limit_is_split_and_translated(server, translator):
    text = " ".join(["The house is green and we walk to school every morning."] * 30)  # > 128 positions
    response = post_json(server, "/translate", {"q": text, "source": "en", "target": "fr", "max_new_tokens": 8})
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate(text, "en", "fr", max_new_tokens=8)


def test_body_too_large_with_content_length(server):
    body = b'{"q": "' + b"a" * 70000 + b'", "source": "en", "target": "fr"}'
    response = httpx.post(server.url + "/translate", content=body, headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code == 413
    error = response.json()["error"]
    assert "65536 bytes" in error and "max_body_bytes" in error


def test_body_too_large_without_content_length(server):
    def chunks():
        yield b'{"q": "'
        for _ in range(20):
            yield b"a" * 4096
        yield b'", "source": "en", "target": "fr"}'

    response = httpx.post(server.url + "/translate", content=chunks(), headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code == 413
    assert "more than 65536 bytes" in response.json()["error"]
    assert server.health().status_code == 200  # the server is fine afterwards


def test_api_key_required(strict_server, translator):
    payload = {"q": "Hello", "source": "en", "target": "fr", "max_new_tokens": 4}
    response = post_json(strict_server, "/translate", payload)
    assert response.status_code == 403 and "missing API key" in response.json()["error"]
    response = post_json(strict_server, "/translate", {**payload, "api_key": "wrong"})
    assert response.status_code == 403 and response.json()["error"] == "invalid API key"
    response = httpx.post(strict_server.url + "/translate", data={**payload, "api_key": "key-a"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == translator.translate("Hello", "en", "fr", max_new_tokens=4)
    response = post_json(strict_server, "/v1/translate", {"items": ["Hello"], "source": "en", "target": "fr"})
    assert response.status_code == 403
    settings = httpx.get(strict_server.url + "/frontend/settings", timeout=10).json()
    assert settings["keyRequired"] is True


def test_rate_limit(strict_server):
    payload = {"q": "Hello", "source": "en", "target": "fr", "max_new_tokens": 2, "api_key": "key-b"}
    codes = [post_json(strict_server, "/translate", payload).status_code for _ in range(5)]
    assert codes == [200] * 5
    response = post_json(strict_server, "/translate", payload)
    assert response.status_code == 429
    assert "5 per minute" in response.json()["error"] and "req_limit" in response.json()["error"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    # Other keys, /health and /languages are not affected.
    assert post_json(strict_server, "/translate", {**payload, "api_key": "key-c"}).status_code == 200
    assert strict_server.health().status_code == 200
    assert httpx.get(strict_server.url + "/languages", timeout=10).status_code == 200


def test_request_timeout(slow_server):
    """Two requests with different options need two batches of 1 s each (+0.2 s batch wait): the first is
    answered after about 1.2 s, the second would be after 2.2 s but the 1.8 s timeout answers it 503 first."""
    slow_server.wait_idle()
    results: dict[int, httpx.Response] = {}

    def send(beams: int) -> None:
        results[beams] = post_json(slow_server, "/translate", {"q": "Hello", "source": "en", "target": "fr",
                                                              "num_beams": beams, "max_new_tokens": 4})

    first = threading.Thread(target=send, args=(1,))
    second = threading.Thread(target=send, args=(2,))
    first.start()
    time.sleep(0.1)
    started = time.monotonic()
    second.start()
    first.join()
    second.join()
    assert results[1].status_code == 200, results[1].text
    assert results[2].status_code == 503
    assert "request_timeout" in results[2].json()["error"] and results[2].headers["retry-after"]
    assert time.monotonic() - started < 3.5


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_405(server, method):
    response = httpx.request(method, server.url + "/translate", timeout=10)
    assert response.status_code == 405 and "error" in response.json()
