"""An unmodified LibreTranslate client from PyPI (libretranslatepy) against our server."""

from __future__ import annotations

import urllib.error

import pytest

libretranslatepy = pytest.importorskip("libretranslatepy", reason="pip install libretranslatepy (dev extra)")


def test_translate_and_languages(server, translator):
    client = libretranslatepy.LibreTranslateAPI(server.url)
    text = "The house is green and we walk to school every morning."
    assert client.translate(text, "en", "fr") == translator.translate(text, "en", "fr")
    assert client.translate("Birds sing!", source="en", target="es", timeout=60) == translator.translate(
        "Birds sing!", "en", "es")
    languages = client.languages()
    assert {"code": "en", "name": "English"}.items() <= next(lang for lang in languages if lang["code"] == "en").items()
    assert len(languages) == 100


def test_errors_surface_as_http_errors(server):
    client = libretranslatepy.LibreTranslateAPI(server.url)
    with pytest.raises(urllib.error.HTTPError) as info:
        client.translate("Hello", "en", "zz")
    assert info.value.code == 400
    assert b"'zz'" in info.value.read()


def test_api_key(strict_server, translator):
    with pytest.raises(urllib.error.HTTPError) as info:
        libretranslatepy.LibreTranslateAPI(strict_server.url).translate("Hello", "en", "de")
    assert info.value.code == 403
    client = libretranslatepy.LibreTranslateAPI(strict_server.url, api_key="key-c")
    assert client.translate("Hello", "en", "de") == translator.translate("Hello", "en", "de")
    assert len(client.languages()) == 100  # GET with an api_key form body
