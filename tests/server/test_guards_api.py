"""Quality guards through the server: the native API reports flags, retries and score per item; the
LibreTranslate API adds qualityFlags only when asked. A server with the guards on (M2M100_GUARDS=1) is compared
with an in-process Translator with the guards on."""

from __future__ import annotations

import pytest

from .conftest import MAIN_ARGS, post_json

TEXTS = ["The house is green and we walk to school every morning.", "Birds sing!", "12 345"]


@pytest.fixture(scope="module")
def guarded_server(start_server):
    return start_server(MAIN_ARGS, env={"M2M100_GUARDS": "1"}).wait_ready()


@pytest.fixture(scope="module")
def guarded(server_checkpoint):
    import torch

    from m2m100 import Translator

    torch.set_num_threads(1)
    translator = Translator.from_pretrained(server_checkpoint, device="cpu", guards=True)
    translator.max_new_tokens_cap = 200  # as the server's --max-new-tokens in MAIN_ARGS
    return translator


def test_native_api_reports_the_guard_per_item(guarded_server, guarded):
    response = post_json(guarded_server, "/v1/translate", {"items": TEXTS, "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text
    items = response.json()["translations"]
    expected = guarded.translate(TEXTS, "en", "fr", return_details=True)
    assert [item["text"] for item in items] == [d.translation for d in expected]
    for item, d in zip(items[:2], expected[:2]):
        quality = item["quality"]
        assert [f["kind"] for f in quality["flags"]] == [f.kind for f in d.flags]
        assert quality["retries"] == d.retries and quality["changed"] == d.changed
        assert quality["score"] == pytest.approx(d.score, abs=1e-3)
    assert any(item["quality"]["flags"] for item in items[:2])  # the random model loops
    # no letters: never reached the model, nothing to report
    assert items[2]["quality"] == {"flags": [], "retries": 0, "changed": 0, "score": None}


def test_libretranslate_quality_flags_are_opt_in(guarded_server, guarded):
    plain = post_json(guarded_server, "/translate", {"q": TEXTS[:2], "source": "en", "target": "fr"})
    assert plain.status_code == 200, plain.text
    assert "qualityFlags" not in plain.json()
    asked = post_json(guarded_server, "/translate", {"q": TEXTS[:2], "source": "en", "target": "fr", "quality": True})
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["translatedText"] == plain.json()["translatedText"] == guarded.translate(TEXTS[:2], "en", "fr")
    expected = guarded.translate(TEXTS[:2], "en", "fr", return_details=True)
    assert [[f["kind"] for f in flags] for flags in body["qualityFlags"]] == [[f.kind for f in d.flags] for d in expected]
    single = post_json(guarded_server, "/translate", {"q": TEXTS[1], "source": "en", "target": "fr", "quality": "true"})
    assert single.status_code == 200 and isinstance(single.json()["qualityFlags"], list)
    bad = post_json(guarded_server, "/translate", {"q": TEXTS[1], "source": "en", "target": "fr", "quality": [1]})
    assert bad.status_code == 400 and "quality must be true or false" in bad.json()["error"]
