"""NLLB-200 through the front ends: language normalisation per code set, `m2m100 translate`, `m2m100 languages`,
the server (/languages, /translate), `m2m100 train` and `m2m100 eval --flores` on an NLLB-layout checkpoint
saved by transformers (tests/builders.py build_nllb_checkpoint).
"""

from __future__ import annotations

import json
import time

import pytest
from builders import build_nllb_checkpoint

from m2m100 import Translator
from m2m100.errors import LanguageError
from m2m100.languages import (
    check_language,
    code_set_kind,
    language_alternatives,
    language_name,
    normalize_language,
    to_code_set,
)
from m2m100.languages_nllb import NLLB_LANGUAGE_CODES

TEXT = "the house is green and we walk to school."
GENERATION = ["--beam", "1", "--max-new-tokens", "8"]


@pytest.fixture(scope="module")
def nllb_dir(spm_bpe, tmp_path_factory):
    return build_nllb_checkpoint(tmp_path_factory.mktemp("nllb_front"), spm_bpe, seed=4)


@pytest.fixture(scope="module")
def translator(nllb_dir):
    return Translator.from_pretrained(nllb_dir, device="cpu", progress=False)


# --------------------------------------------------------------------------------------------------------------
# Language normalisation per code set
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, code", [
    ("en", "eng_Latn"), ("English", "eng_Latn"), ("eng", "eng_Latn"), ("en-US", "eng_Latn"), ("EN", "eng_Latn"),
    ("ENG_LATN", "eng_Latn"), ("eng-Latn", "eng_Latn"), ("__eng_Latn__", "eng_Latn"), ("fre", "fra_Latn"),
    ("français", "fra_Latn"), ("pt_BR", "por_Latn"), ("Flemish", "nld_Latn"),
    # ambiguous names: the documented default
    ("Chinese", "zho_Hans"), ("zh", "zho_Hans"), ("zho", "zho_Hans"), ("Arabic", "arb_Arab"), ("ar", "arb_Arab"),
    ("Persian", "pes_Arab"), ("Norwegian", "nob_Latn"), ("no", "nob_Latn"), ("Kurdish", "kmr_Latn"),
    ("Kashmiri", "kas_Arab"), ("Acehnese", "ace_Latn"), ("Serbian", "srp_Cyrl"), ("sr", "srp_Cyrl"),
    # scripts, regions and names that pick another variety
    ("zh-Hant", "zho_Hant"), ("zh-TW", "zho_Hant"), ("zh_HK", "zho_Hant"), ("zh-Hant-TW", "zho_Hant"),
    ("zh-CN", "zho_Hans"), ("Traditional Chinese", "zho_Hant"), ("Chinese (Traditional)", "zho_Hant"),
    ("Cantonese", "yue_Hant"), ("yue", "yue_Hant"), ("ks-Deva", "kas_Deva"), ("Dari", "prs_Arab"),
    ("nn", "nno_Latn"), ("ckb", "ckb_Arab"),
    # NLLB languages M2M100 does not have
    ("Esperanto", "epo_Latn"), ("eo", "epo_Latn"), ("Basque", "eus_Latn"), ("eu", "eus_Latn"), ("Maori", "mri_Latn"),
])
def test_nllb_normalisation(value, code):
    assert normalize_language(value, "nllb") == code
    assert normalize_language(value, NLLB_LANGUAGE_CODES) == code  # a tokenizer's list of codes: the same


def test_nllb_errors_name_the_input_and_suggest_flores_codes():
    with pytest.raises(LanguageError, match=r"'zz'.*did you mean: .*_Latn \("):
        normalize_language("zz", "nllb")
    with pytest.raises(LanguageError, match=r"no Latn script for Serbian; it has srp_Cyrl"):
        normalize_language("sr-Latn", "nllb")
    with pytest.raises(LanguageError, match="Breton|did you mean"):
        normalize_language("br", "nllb")  # Breton is in M2M100, not in FLORES-200
    with pytest.raises(LanguageError, match="must be a string"):
        normalize_language(None, "nllb")


def test_code_sets_alternatives_names_and_detector_mapping():
    assert code_set_kind("nllb") == "nllb" and code_set_kind("m2m100") == "m2m100"
    assert code_set_kind(["eng_Latn", "fra_Latn"]) == "nllb" and code_set_kind(["en", "fr"]) == "m2m100"
    assert language_alternatives("zho_Hans") == ["zho_Hant", "yue_Hant"]
    assert "nno_Latn" in language_alternatives("nob_Latn") and language_alternatives("fra_Latn") == []
    assert language_name("eng_Latn") == "English" and language_name("fr") == "French"
    assert to_code_set("fr", "nllb") == "fra_Latn" and to_code_set("zh", "nllb") == "zho_Hans"
    assert to_code_set("br", "nllb") is None and to_code_set("fr", "m2m100") == "fr"
    assert to_code_set("fr", ["eng_Latn"]) is None
    # M2M100 sets are unchanged: FLORES-style input still maps to M2M100 codes
    assert normalize_language("fra_Latn") == "fr" and normalize_language("zh-Hant") == "zh"
    # front ends check a language against every code set before the model is known, and keep what was typed
    assert check_language(" Esperanto ") == "Esperanto" and check_language("fr") == "fr"
    with pytest.raises(LanguageError, match="Klingon"):
        check_language("Klingon")


# --------------------------------------------------------------------------------------------------------------
# m2m100 translate / languages
# --------------------------------------------------------------------------------------------------------------
def test_cli_translate_with_an_nllb_model(nllb_dir, translator, capsys):
    from m2m100.cli import main

    want = translator.translate([TEXT, "дом зелёный"], source="eng_Latn", target="fra_Latn", num_beams=1,
                                max_new_tokens=8)
    code = main(["translate", "--model", str(nllb_dir), "-s", "English", "-t", "French", *GENERATION, "-q",
                 TEXT, "дом зелёный"])
    assert code == 0
    assert capsys.readouterr().out == "".join(line + "\n" for line in want)
    # an NLLB-only language passes the model-free check and reaches the model's codes
    assert main(["translate", "--model", str(nllb_dir), "-s", "en", "-t", "Esperanto", *GENERATION, "-q", TEXT]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    # unknown everywhere: a usage error before the model loads
    assert main(["translate", "--model", str(nllb_dir), "-s", "Klingon", "-t", "fr", TEXT]) == 2
    assert "--source: unsupported language 'Klingon'" in capsys.readouterr().err
    # known, but not to this model in that script
    assert main(["translate", "--model", str(nllb_dir), "-s", "en", "-t", "sr-Latn", *GENERATION, TEXT]) == 1
    assert "srp_Cyrl" in capsys.readouterr().err


def test_cli_languages_lists_the_202_codes(nllb_dir, capsys):
    from m2m100.cli import main

    assert main(["languages", "--codes", "nllb"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 202 and "eng_Latn\tEnglish" in lines and "zho_Hant\tChinese (Traditional)" in lines
    assert main(["languages", "--model", str(nllb_dir), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == NLLB_LANGUAGE_CODES and listed["fra_Latn"] == "French"
    assert main(["languages"]) == 0 and len(capsys.readouterr().out.splitlines()) == 100  # default unchanged
    assert main(["languages", "--codes", "nllb", "--model", str(nllb_dir)]) == 2


# --------------------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------------------
def test_server_languages_and_translate(nllb_dir, translator):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from m2m100.server import ServerSettings, create_app

    settings = ServerSettings.from_sources({"model": str(nllb_dir), "threads": 1, "max_beams": 4}, environ={})
    with TestClient(create_app(settings)) as client:
        for _ in range(300):  # the model loads in the background
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.1)
        languages = client.get("/languages").json()
        assert [lang["code"] for lang in languages] == NLLB_LANGUAGE_CODES
        by_code = {lang["code"]: lang for lang in languages}
        assert by_code["eng_Latn"]["name"] == "English" and len(by_code["eng_Latn"]["targets"]) == 201
        want = translator.translate(TEXT, source="en", target="fr", num_beams=1, max_new_tokens=8)
        for source, target in (("en", "fr"), ("English", "French"), ("eng_Latn", "fra_Latn")):
            response = client.post("/translate", json={"q": TEXT, "source": source, "target": target,
                                                       "num_beams": 1, "max_new_tokens": 8})
            assert response.status_code == 200, response.text
            assert response.json()["translatedText"] == want
        response = client.post("/translate", json={"q": "Bonjour tout le monde, comment allez-vous aujourd'hui ?",
                                                   "source": "auto", "target": "en"})
        assert response.status_code == 200 and response.json()["detectedLanguage"]["language"] == "fra_Latn"
        settings_page = client.get("/frontend/settings").json()
        assert settings_page["language"]["target"] == {"code": "eng_Latn", "name": "English"}
        # LibreTranslate's legacy zt means Traditional Chinese: zho_Hant on an NLLB model
        response = client.post("/translate", json={"q": TEXT, "source": "en", "target": "zt", "num_beams": 1,
                                                   "max_new_tokens": 8})
        assert response.json()["translatedText"] == translator.translate(TEXT, source="en", target="zho_Hant",
                                                                         num_beams=1, max_new_tokens=8)
        response = client.post("/translate", json={"q": TEXT, "source": "en", "target": "zz"})
        assert response.status_code == 400 and "zz" in response.json()["error"]


# --------------------------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------------------------
def test_cli_train_on_an_nllb_model(nllb_dir, tmp_path, capsys):
    import transformers

    from m2m100.cli import main

    data = tmp_path / "pairs.jsonl"
    rows = [{"source": f"the house {i} is green.", "target": f"дом {i} зелёный", "source_lang": "English",
             "target_lang": "rus_Cyrl"} for i in range(12)]
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "trained"
    code = main(["train", "--model", str(nllb_dir), "--train", str(data), "--output", str(out), "--max-steps", "2",
                 "--no-progress"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["steps"] == 2
    # the result is an NLLB checkpoint again: transformers' NLLB tokenizer and model read it
    reference = transformers.NllbTokenizerFast.from_pretrained(str(out))
    assert reference.convert_tokens_to_ids("rus_Cyrl") == Translator.from_pretrained(out, device="cpu").tokenizer \
        .convert_tokens_to_ids("rus_Cyrl")
    transformers.M2M100ForConditionalGeneration.from_pretrained(out)


def test_cli_eval_flores_directory_of_nllb_codes(nllb_dir, tmp_path, capsys):
    pytest.importorskip("sacrebleu")
    from m2m100.cli import main

    flores = tmp_path / "flores"
    (flores / "devtest").mkdir(parents=True)
    (flores / "devtest" / "eng_Latn.devtest").write_text("the house is green.\nwe walk to school.\nhello world\n")
    (flores / "devtest" / "fra_Latn.devtest").write_text("la maison est verte.\nnous allons à l'école.\nbonjour\n")
    code = main(["eval", "--model", str(nllb_dir), "--flores", str(flores), "-s", "English", "-t", "fra_Latn,en",
                 "--tokenize", "13a", "--json", "-q", *GENERATION])
    assert code == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["target"], r["sentences"]) for r in results] == [("eng_Latn", "fra_Latn", 3)]
    # a language with no file: an error naming the FLORES code looked for
    assert main(["eval", "--model", str(nllb_dir), "--flores", str(flores), "-s", "en", "-t", "German"]) != 0
    assert "deu_Latn" in capsys.readouterr().err


def test_pipeline_takes_flores_codes_and_task_names(nllb_dir, translator):
    from m2m100 import pipeline

    want = translator.translate(TEXT, source="eng_Latn", target="fra_Latn", num_beams=1, max_new_tokens=8)
    by_codes = pipeline("translation", model=str(nllb_dir), src_lang="eng_Latn", tgt_lang="fra_Latn", device="cpu")
    by_task = pipeline("translation_en_to_fr", model=str(nllb_dir), device="cpu")
    for translate in (by_codes, by_task):
        assert translate(TEXT, num_beams=1, max_new_tokens=8) == [{"translation_text": want}]


def test_readme_nllb_example_runs(nllb_dir, capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## NLLB-200", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    assert code.count("facebook/nllb-200-distilled-600M") == 3
    namespace: dict = {}
    exec(compile(code.replace("facebook/nllb-200-distilled-600M", str(nllb_dir)), "README.md (NLLB-200)", "exec"),
         namespace)
    assert type(namespace["tokenizer"]).__name__ == "NllbTokenizer"
    assert namespace["generated"][0, 1] == namespace["tokenizer"].convert_tokens_to_ids("fra_Latn")
    assert capsys.readouterr().out.startswith("['")
