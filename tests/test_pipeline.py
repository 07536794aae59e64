"""`m2m100.pipeline`: the transformers 4.x translation pipeline contract over the Translator.

transformers 5.24 has no translation pipeline to compare with, so the contract is the 4.x one (a str or a list of
str in, a list of `{"translation_text": ...}` out; src_lang/tgt_lang at construction or call; the task
`translation_xx_to_yy`; generation options such as max_length). What 4.x computed for a sentence is
`tokenizer.decode(model.generate(**tokenizer(text), forced_bos_token_id=<tgt id>)[0], skip_special_tokens=True)`;
that is checked with transformers' own model and tokenizer loaded from the same checkpoint, and the outputs are
checked to equal the Translator's.
"""

from __future__ import annotations

import shutil

import pytest
import torch

import m2m100
from m2m100 import GenerationError, LanguageError, Translator, pipeline
from m2m100.errors import ConfigError
from m2m100.tokenizer import M2M100Tokenizer

TEXTS = ["the house is green", "we walk to school every morning", "дом зелёный", "house"]
GEN = dict(num_beams=1, max_length=12)


@pytest.fixture(scope="module")
def pipe(tiny_checkpoint):
    return pipeline("translation", model=str(tiny_checkpoint), src_lang="en", tgt_lang="fr", device="cpu")


@pytest.fixture(scope="module")
def translator(tiny_checkpoint):
    return Translator.from_pretrained(tiny_checkpoint, device="cpu")


def reference_4x(directory, texts, src, tgt, **generate_kwargs):
    """What transformers 4.x's TranslationPipeline computed for an M2M100 model, with transformers' classes."""
    from transformers import M2M100ForConditionalGeneration, M2M100Tokenizer

    tok = M2M100Tokenizer.from_pretrained(str(directory))
    model = M2M100ForConditionalGeneration.from_pretrained(str(directory)).eval()
    tok.src_lang = src
    out = []
    for text in texts:
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(**enc, forced_bos_token_id=tok.get_lang_id(tgt), **generate_kwargs)
        out.append({"translation_text": tok.decode(ids[0], skip_special_tokens=True)})
    return out


def test_contract_and_outputs(pipe, translator, tiny_checkpoint):
    one = pipe(TEXTS[0], **GEN)
    assert isinstance(one, list) and len(one) == 1 and set(one[0]) == {"translation_text"}
    many = pipe(TEXTS, **GEN)
    assert [list(item) for item in many] == [["translation_text"]] * len(TEXTS)
    assert [item["translation_text"] for item in many] == translator.translate(TEXTS, "en", "fr", **GEN)
    assert one[0]["translation_text"] == many[0]["translation_text"]
    assert many == reference_4x(tiny_checkpoint, TEXTS, "en", "fr", **GEN)
    assert pipe([]) == []


def test_languages_at_call_time_and_in_the_task(pipe, translator, tiny_checkpoint):
    got = pipe(TEXTS, src_lang="ru", tgt_lang="de", **GEN)
    assert [item["translation_text"] for item in got] == translator.translate(TEXTS, "ru", "de", **GEN)
    task_pipe = pipeline("translation_en_to_de", model=str(tiny_checkpoint), device=-1)
    assert task_pipe(TEXTS, **GEN) == pipe(TEXTS, tgt_lang="de", **GEN)
    assert task_pipe.task == "translation_en_to_de" and task_pipe.src_lang == "en"
    # generation defaults given to pipeline() apply to every call; call options win
    defaults = pipeline("translation", model=str(tiny_checkpoint), src_lang="en", tgt_lang="fr", max_length=5,
                        num_beams=1)
    assert defaults(TEXTS) == pipe(TEXTS, max_length=5, num_beams=1)
    assert defaults(TEXTS, max_length=12) == pipe(TEXTS, **GEN)


def test_already_loaded_model_and_tokenizer(tiny_checkpoint, pipe):
    from m2m100 import M2M100ForConditionalGeneration

    model = M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint)
    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint)
    loaded = pipeline("translation", model=model, tokenizer=tok, src_lang="en", tgt_lang="fr")
    assert loaded.model is model and loaded.tokenizer is tok
    assert loaded(TEXTS, **GEN) == pipe(TEXTS, **GEN)
    by_path = pipeline("translation", model=model, tokenizer=str(tiny_checkpoint), src_lang="en", tgt_lang="fr")
    assert by_path(TEXTS, **GEN) == pipe(TEXTS, **GEN)
    with pytest.raises(ConfigError, match="tokenizer"):
        pipeline("translation", model=model, src_lang="en", tgt_lang="fr")


def test_hub_id_from_the_local_cache(tiny_checkpoint, pipe, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--tiny-m2m100" / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_checkpoint, snapshot)
    (cache / "models--someone--tiny-m2m100" / "refs").mkdir()
    (cache / "models--someone--tiny-m2m100" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache), raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True, raising=False)
    hub_pipe = pipeline("translation", model="someone/tiny-m2m100", src_lang="en", tgt_lang="fr", device="cpu")
    assert hub_pipe(TEXTS, **GEN) == pipe(TEXTS, **GEN)


def test_new_language_code_through_the_pipeline(tiny_checkpoint):
    from m2m100 import M2M100ForConditionalGeneration

    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint, additional_special_tokens=["__xx__"])
    model = M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint)
    xx = pipeline("translation", model=model, tokenizer=tok, src_lang="en", tgt_lang="xx")
    result = xx(TEXTS[:2], **GEN)
    assert len(result) == 2 and all(isinstance(item["translation_text"], str) for item in result)
    assert "__xx__" not in result[0]["translation_text"]


def test_bad_input_gives_clear_errors(pipe, tiny_checkpoint):
    no_langs = pipeline("translation", model=pipe.model, tokenizer=pipe.tokenizer)
    with pytest.raises(LanguageError, match="src_lang"):
        no_langs("the house")
    with pytest.raises(ConfigError, match="unsupported task"):
        pipeline("summarization", model=str(tiny_checkpoint))
    with pytest.raises(LanguageError):
        pipeline("translation", model=pipe.model, tokenizer=pipe.tokenizer, src_lang="en", tgt_lang="zz")
    with pytest.raises(LanguageError):
        pipe("the house", tgt_lang="zz")
    with pytest.raises(GenerationError, match="num_beams"):
        pipe("the house", num_beams=0)
    with pytest.raises(TypeError):
        pipe(b"the house")
    with pytest.raises(TypeError):
        pipe(["the house", 3])
    with pytest.raises(NotImplementedError):
        pipe("the house", num_return_sequences=2)
    with pytest.raises(NotImplementedError):
        pipe("the house", return_tensors=True)


def test_exported_name_is_the_function():
    import m2m100.pipeline  # noqa: F401  importing the submodule must not shadow the function

    assert callable(m2m100.pipeline) and m2m100.pipeline is pipeline
    assert "pipeline" in m2m100.__all__


def test_guards_are_off_by_default_and_can_be_turned_on(tiny_checkpoint, monkeypatch):
    """A drop-in gives transformers' output: the pipeline runs no quality guard unless asked, whatever
    $M2M100_GUARDS says (the suite sets it to 0; here it is cleared)."""
    monkeypatch.delenv("M2M100_GUARDS", raising=False)
    plain = pipeline("translation", model=str(tiny_checkpoint), src_lang="en", tgt_lang="fr")
    assert plain.translator.guards is None
    assert plain(TEXTS, **GEN) == reference_4x(tiny_checkpoint, TEXTS, "en", "fr", **GEN)
    guarded = pipeline("translation", model=str(tiny_checkpoint), src_lang="en", tgt_lang="fr", guards=True)
    assert guarded.translator.guards is not None
