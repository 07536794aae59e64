"""GET /languages: LibreTranslate's [{"code", "name", "targets"}] for every language of the model."""

from __future__ import annotations

import httpx


def test_languages(server, translator):
    response = httpx.get(server.url + "/languages", timeout=10)
    assert response.status_code == 200
    languages = response.json()
    # LibreTranslate's codes: zh-Hans for M2M100's zh, nb for its no; a language is not its own target
    codes = [{"zh": "zh-Hans", "no": "nb"}.get(code, code) for code, _ in translator.languages()]
    assert [lang["code"] for lang in languages] == codes
    assert len(codes) == 100 and "zh" not in codes and "no" not in codes
    by_code = {lang["code"]: lang for lang in languages}
    assert by_code["en"]["name"] == "English" and by_code["zh-Hans"]["name"] == "Chinese"
    for lang in languages:
        assert set(lang) == {"code", "name", "targets"}
        assert set(lang["targets"]) == set(codes) - {lang["code"]}


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
    # LibreTranslate's shape (libretranslate-aio reads every one of these), plus our limits
    source, target = {"code": "auto", "name": "Auto Detect"}, {"code": "en", "name": "English"}
    assert settings == {
        "charLimit": 2000, "frontendTimeout": 500, "apiKeys": False, "keyRequired": False, "suggestions": False,
        "filesTranslation": bool(settings["supportedFilesFormat"]), "supportedFilesFormat": settings["supportedFilesFormat"],
        "language": {"source": source, "target": target}, "batchLimit": 16, "maxBeams": 4, "maxAlternatives": 3}
