"""Real LibreTranslate clients from PyPI, unchanged, against a real server process; every assertion is on the
client's own return value, compared with the Translator (and the detector) in this process.

deep-translator's LibreTranslator sends every field in the query string with an empty body; libretranslatepy
sends urlencoded forms (GET /languages with a form body); libretranslate-aio sends forms through httpx and
parses /frontend/settings, detectedLanguage and alternatives into dataclasses.
"""

from __future__ import annotations

import pytest

EN = "The house is green and we walk to school every morning."
DE = "Das Haus ist grün und wir gehen jeden Morgen zur Schule."
FR = "La maison est verte et nous allons à l'école chaque matin."


def _lt_code(code: str) -> str:
    return {"zh": "zh-Hans", "no": "nb"}.get(code, code)


# -- deep-translator -------------------------------------------------------------------------------------
def test_deep_translator_translate_and_batch(server, translator):
    deep = pytest.importorskip("deep_translator", reason="pip install deep-translator (dev extra)")
    # deep-translator needs some api_key and a base URL ending in "/"
    client = deep.LibreTranslator(source="en", target="de", api_key="unused", custom_url=server.url + "/")
    assert client.translate(EN) == translator.translate(EN, "en", "de")
    batch = [EN, "Birds sing!", "Hello world."]
    assert client.translate_batch(batch) == translator.translate(batch, "en", "de")
    auto = deep.LibreTranslator(source="auto", target="fr", api_key="unused", custom_url=server.url + "/")
    detected = translator.detect_candidates([DE], 1)[0][0][0]
    assert detected == "de"
    assert auto.translate(DE) == translator.translate(DE, detected, "fr")


# -- libretranslatepy ------------------------------------------------------------------------------------
def test_libretranslatepy_translate_detect_languages_auto(server, translator):
    lt = pytest.importorskip("libretranslatepy", reason="pip install libretranslatepy (dev extra)")
    # a base URL ending in "/" plus the client's own "/" gives "//translate": served all the same
    client = lt.LibreTranslateAPI(server.url + "//")
    assert client.translate(EN, "en", "fr") == translator.translate(EN, "en", "fr")
    assert client.translate(DE, "auto", "en") == translator.translate(DE, "de", "en")
    # legacy LibreTranslate codes are accepted: zt (Traditional Chinese) -> zh, pb (Brazilian Portuguese) -> pt
    assert client.translate(EN, "en", "pb") == translator.translate(EN, "en", "pt")
    assert client.translate(EN, "en", "zt") == translator.translate(EN, "en", "zh")

    detections = client.detect(FR)
    expected = translator.detect_candidates([FR], 3)[0]
    assert detections[0]["language"] == "fr"
    assert [d["language"] for d in detections] == [_lt_code(code) for code, _ in expected]
    assert [d["confidence"] for d in detections] == [round(100 * conf, 1) for _, conf in expected]
    assert all(0 <= d["confidence"] <= 100 for d in detections)

    languages = client.languages()
    codes = [lang["code"] for lang in languages]
    assert len(codes) == 100 and "zh-Hans" in codes and "zh" not in codes and "nb" in codes
    by_code = {lang["code"]: lang for lang in languages}
    assert by_code["zh-Hans"]["name"] == "Chinese"
    assert "en" not in by_code["en"]["targets"] and len(by_code["en"]["targets"]) == 99
    assert "zh-Hans" in by_code["en"]["targets"]


# -- libretranslate-aio ----------------------------------------------------------------------------------
def test_libretranslate_aio(server, translator):
    aio = pytest.importorskip("libretranslate_aio", reason="pip install libretranslate-aio (dev extra)")
    with aio.LibreTranslate(server.url + "/") as client:
        # alternatives: n-best beam search, the best first
        result = client.translate(EN, "en", "fr", alternatives=2)
        beams = max(3, translator.model.generation_config.num_beams or 1)
        nbest = translator.translate_nbest([EN], "en", "fr", 3, num_beams=beams)[0]
        assert result.translated_text == nbest[0]
        assert result.alternatives == nbest[1:]
        assert result.detected_language is None

        # a mixed batch with source "auto": each text is detected on its own
        texts = [EN, DE, FR]
        found = [candidates[0] for candidates in translator.detect_candidates(texts, 1)]
        assert [code for code, _ in found] == ["en", "de", "fr"]
        result = client.translate(texts, "auto", "es")
        assert result.translated_text == [translator.translate(t, code, "es") for t, (code, _) in zip(texts, found)]
        assert [d.language for d in result.detected_language] == ["en", "de", "fr"]
        assert [d.confidence for d in result.detected_language] == [round(100 * c, 1) for _, c in found]

        detections = client.detect(DE)
        assert detections[0].language == "de" and detections[0].confidence == round(100 * found[1][1], 1)

        settings = client.frontend_settings()
        assert settings.char_limit == 2000 and settings.key_required is False and settings.api_keys is False
        assert settings.suggestions is False
        assert settings.language.source.code == "auto" and settings.language.target.code == "en"

        languages = client.languages()
        assert [lang.code for lang in languages] == [_lt_code(code) for code, _ in translator.languages()]
        assert client.health() is True

        with pytest.raises(aio.ForbiddenError, match="Suggestions are disabled"):
            client.suggest(EN, "better", "en", "fr")
        with pytest.raises(aio.BadRequestError, match="zz is not supported"):
            client.translate(EN, "en", "zz")
        with pytest.raises(aio.BadRequestError, match="alternatives parameter must be <= 3"):
            client.translate(EN, "en", "fr", alternatives=9)
