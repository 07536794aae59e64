"""GET /languages: LibreTranslate's [{"code", "name", "targets"}] for every language of the model."""

from __future__ import annotations

import httpx


def test_languages(server, translator):
    response = httpx.get(server.url + "/languages", timeout=10)
    assert response.status_code == 200
    languages = response.json()
    codes = [code for code, _ in translator.languages()]
    assert [lang["code"] for lang in languages] == codes
    assert len(codes) == 100
    by_code = {lang["code"]: lang for lang in languages}
    assert by_code["en"]["name"] == "English" and by_code["zh"]["name"] == "Chinese"
    for lang in languages:
        assert set(lang) == {"code", "name", "targets"}
        assert set(lang["targets"]) == set(codes)


def test_languages_ignores_a_form_body(server):
    # libretranslatepy sends GET /languages with an (empty or api_key) form body.
    response = httpx.request("GET", server.url + "/languages", content=b"api_key=whatever",
                             headers={"content-type": "application/x-www-form-urlencoded"}, timeout=10)
    assert response.status_code == 200 and len(response.json()) == 100


def test_languages_is_get_only(server):
    response = httpx.post(server.url + "/languages", timeout=10)
    assert response.status_code == 405
    assert response.json()["error"].startswith("method POST not allowed")


def test_frontend_settings(server):
    settings = httpx.get(server.url + "/frontend/settings", timeout=10).json()
    assert settings == {"keyRequired": False, "charLimit": 2000, "batchLimit": 16, "maxBeams": 4}
