"""Translator: equality with generate, order, splitting without loss, languages, input hygiene, options."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from conftest import WORDS, build_checkpoint, make_corpus
from m2m100 import GenerationError, InputTooLongError, LanguageError, M2M100ForConditionalGeneration
from m2m100.translate import (
    SplitText,
    Splitter,
    Translator,
    clean_for_model,
    default_model,
    split_lines,
    split_sentences,
)

GENERATION = {"num_beams": 2, "early_stopping": True, "decoder_start_token_id": 2,
              "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}


def _checkpoint(directory: Path, spm: Path, max_length: int, **overrides) -> Path:
    return build_checkpoint(directory, spm, seed=3, generation={**GENERATION, "max_length": max_length}, **overrides)


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory, spm_bpe) -> Path:
    """Tiny checkpoint (128 positions) whose own generation defaults are beam 2, max_length 48."""
    return _checkpoint(tmp_path_factory.mktemp("translate_ckpt"), spm_bpe, 48)


@pytest.fixture(scope="session")
def small_ckpt(tmp_path_factory, spm_bpe) -> Path:
    """The position limit scaled down to 32 so that 'too long' is cheap to reach."""
    return _checkpoint(tmp_path_factory.mktemp("translate_small"), spm_bpe, 24, max_position_embeddings=32)


@pytest.fixture(scope="session")
def translator(ckpt) -> Translator:
    return Translator.from_pretrained(ckpt, device="cpu")


@pytest.fixture(scope="session")
def small(small_ckpt) -> Translator:
    return Translator.from_pretrained(small_ckpt, device="cpu")


class Recorder:
    """Wraps model.generate: records every batch (rows without padding) and the keyword arguments."""

    def __init__(self, translator: Translator, monkeypatch):
        self.rows: list[list[int]] = []
        self.batches: list[tuple[int, int]] = []
        self.kwargs: list[dict] = []
        original = translator.model.generate

        def generate(*args, **kwargs):
            ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
            self.batches.append(tuple(ids.shape))
            self.kwargs.append({k: v for k, v in kwargs.items() if k not in ("input_ids", "attention_mask")})
            for row, m in zip(ids.tolist(), mask.tolist()):
                self.rows.append([t for t, keep in zip(row, m) if keep])
            return original(*args, **kwargs)

        monkeypatch.setattr(translator.model, "generate", generate)

    @property
    def calls(self) -> int:
        return len(self.batches)


def _reference(translator: Translator, texts: list[str], src: str, tgt: str, **kwargs) -> list[str]:
    tok, model = translator.tokenizer, translator.model
    tok.src_lang = src
    enc = tok(texts, return_tensors="pt", padding=True)
    out = model.generate(**enc, forced_bos_token_id=tok.get_lang_id(tgt), **kwargs)
    return tok.batch_decode(out, skip_special_tokens=True)


# ------------------------------------------------------------------------------------------------------
# Equality with generate, order, batching
# ------------------------------------------------------------------------------------------------------
def test_single_sentence_equals_generate_with_checkpoint_defaults(translator):
    assert translator.model.generation_config.num_beams == 2  # the checkpoint's own defaults are in use
    for sentence in ["the house is green and we walk to school", "дом зелёный мы идём в школу",
                     "我们 每天 早上 去 学校", "été forêt ça l'école"]:
        assert translator.translate(sentence, "en", "fr") == _reference(translator, [sentence], "en", "fr")[0]
    sentence = "birds sing every morning"
    assert translator.translate(sentence, "de", "es", num_beams=1) == \
        _reference(translator, [sentence], "de", "es", num_beams=1)[0]


def test_cpu_translator_prepacks_by_default_and_equals_plain_weights(translator, ckpt):
    from m2m100.packed import can_prepack

    if not can_prepack(torch.device("cpu"), torch.float32):
        pytest.skip("this torch build has no oneDNN")
    plain = Translator.from_pretrained(ckpt, device="cpu", prepack=False)
    assert getattr(translator.model, "packed_weights", False) and not getattr(plain.model, "packed_weights", False)
    texts = ["the house is green and we walk to school", "дом зелёный мы идём в школу", "birds sing"]
    assert translator.translate(texts, "en", "fr") == plain.translate(texts, "en", "fr")


def test_string_in_string_out_list_in_list_out(translator):
    assert isinstance(translator.translate("the house", "en", "fr"), str)
    out = translator.translate(("the house", "green"), "en", "fr")
    assert isinstance(out, list) and len(out) == 2
    assert translator.translate([], "en", "fr") == []


def test_order_restored_under_length_sorting(translator, monkeypatch):
    texts = make_corpus(40, seed=7)
    rng = random.Random(0)
    rng.shuffle(texts)
    texts = [t.rstrip(".!?") for t in texts]  # one sentence each
    singles = [translator.translate(t, "en", "de") for t in texts]
    rec = Recorder(translator, monkeypatch)
    translator.max_batch_tokens = 200  # several batches
    try:
        batched = translator.translate(texts, "en", "de")
    finally:
        translator.max_batch_tokens = 4096
    assert batched == singles
    assert rec.calls > 2
    lengths = [len(r) for r in rec.rows]
    assert lengths == sorted(lengths, reverse=True)  # longest first
    beams = 2
    for rows, width in rec.batches:
        assert rows == 1 or rows * width * beams <= 200


def test_target_list_one_per_text_in_one_batch(translator, monkeypatch):
    texts = ["the house is green", "we walk to school", "birds sing", "the house is green"]
    targets = ["fr", "de", "French", "ja"]
    singles = [translator.translate(t, "en", g) for t, g in zip(texts, targets)]
    rec = Recorder(translator, monkeypatch)
    assert translator.translate(texts, "en", targets) == singles
    assert rec.calls == 1
    forced = rec.kwargs[0]["forced_bos_token_id"]
    assert sorted(set(forced)) == sorted(translator.tokenizer.get_lang_id(c) for c in ["fr", "de", "ja"])
    with pytest.raises(ValueError, match="target"):
        translator.translate(texts, "en", ["fr", "de"])


def test_duplicates_translated_once(translator, monkeypatch):
    rec = Recorder(translator, monkeypatch)
    out = translator.translate(["the house", "green", "the house", "the house"], "en", "fr")
    assert out[0] == out[2] == out[3]
    assert len(rec.rows) == 2


# ------------------------------------------------------------------------------------------------------
# Pass-through cases: no model call
# ------------------------------------------------------------------------------------------------------
def test_empty_whitespace_emoji_unchanged_without_model(translator, monkeypatch):
    rec = Recorder(translator, monkeypatch)
    texts = ["", "   ", "\n\n", "\t", "😀👍", "42", "..."]
    assert translator.translate(texts, "en", "fr") == texts
    assert translator.translate("", "en", "fr") == ""
    assert rec.calls == 0
    mixed = ["", "the house is green", "  ", "birds sing", "😀"]
    out = translator.translate(mixed, "en", "fr")
    assert out[0] == "" and out[2] == "  " and out[4] == "😀"
    assert out[1] == translator.translate("the house is green", "en", "fr")
    assert out[3] == translator.translate("birds sing", "en", "fr")


def test_source_equals_target_unchanged_without_model(translator, monkeypatch):
    rec = Recorder(translator, monkeypatch)
    assert translator.translate("the house is green", "en", "en") == "the house is green"
    assert translator.translate(["a b", "c"], "EN", "en-US") == ["a b", "c"]
    assert translator.translate(["x", "y"], "en", ["en", "English"]) == ["x", "y"]
    assert rec.calls == 0


# ------------------------------------------------------------------------------------------------------
# Languages
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, code", [("EN", "en"), ("en-US", "en"), ("pt_BR", "pt"), ("zh-Hans", "zh"),
                                         ("French", "fr"), (" german ", "de")])
def test_language_normalisation(translator, value, code):
    assert translator.normalize_language(value) == code


def test_language_variants_translate_like_codes(translator):
    assert translator.translate("the house", "English", "pt_BR") == translator.translate("the house", "en", "pt")


@pytest.mark.parametrize("bad", ["zz", "xx-YY", "Klingon", ""])
def test_unknown_language_is_value_error_naming_it(translator, monkeypatch, bad):
    rec = Recorder(translator, monkeypatch)
    with pytest.raises(LanguageError) as info:
        translator.translate("the house", "en", bad)
    assert isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value) and "did you mean" in str(info.value)
    with pytest.raises(LanguageError, match="source"):
        translator.translate("the house", bad, "fr")
    assert rec.calls == 0


def test_languages_list(translator):
    langs = translator.languages()
    assert len(langs) == 100 and ("fr", "French") in langs and ("zh", "Chinese") in langs


# ------------------------------------------------------------------------------------------------------
# Input hygiene and argument errors
# ------------------------------------------------------------------------------------------------------
def test_bytes_and_non_strings_are_type_errors(translator):
    with pytest.raises(TypeError, match="bytes"):
        translator.translate(b"the house", "en", "fr")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        translator.translate(["ok", b"bytes"], "en", "fr")
    with pytest.raises(TypeError):
        translator.translate(None, "en", "fr")
    with pytest.raises(TypeError, match=r"texts\[0\]"):
        translator.translate([3], "en", "fr")


def test_control_characters_bom_and_lone_surrogates_do_not_crash(translator):
    texts = ["\ufeffthe house", "a\x00b\x07c the", "green \ud800 house", "\x1b[31mred\x1b[0m", "tab\there",
             "zero\u200bwidth", "\u2028line sep", "\ud83d"]
    out = translator.translate(texts, "en", "fr")
    assert len(out) == len(texts) and all(isinstance(t, str) for t in out)
    assert clean_for_model("a\x00b\ufeff\ud800\tc") == "ab\ufffd c"


@pytest.mark.parametrize("name, value", [("num_beams", 0), ("num_beams", -1), ("num_beams", 1.5),
                                         ("num_beams", "4"), ("num_beams", True), ("max_new_tokens", 0),
                                         ("max_new_tokens", -5), ("max_new_tokens", 2.0), ("temperature", -1),
                                         ("top_p", 1.5), ("max_length", 0)])
def test_bad_generation_parameters_name_the_parameter(translator, monkeypatch, name, value):
    rec = Recorder(translator, monkeypatch)
    for texts in ("the house", [""], []):  # checked even when nothing needs the model
        with pytest.raises(GenerationError, match=name) as info:
            translator.translate(texts, "en", "fr", **{name: value})
        assert isinstance(info.value, ValueError)
    assert rec.calls == 0


def test_unknown_generation_option(translator):
    with pytest.raises(GenerationError, match="num_beam"):
        translator.translate("the house", "en", "fr", num_beam=3)


def test_default_model_from_environment(monkeypatch, ckpt):
    monkeypatch.delenv("M2M100_MODEL", raising=False)
    assert default_model() == "facebook/m2m100_418M"
    monkeypatch.setenv("M2M100_MODEL", str(ckpt))
    assert default_model() == str(ckpt)
    tr = Translator.from_pretrained(device="cpu")
    assert tr.name == str(ckpt)


def test_offline_hub_id_says_to_use_a_local_directory(monkeypatch, tmp_path):
    from m2m100 import CheckpointError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(CheckpointError, match="local directory"):
        Translator.from_pretrained("facebook/m2m100_418M", device="cpu")


def test_progress_bar_only_when_asked_or_on_a_tty(translator, capsys):
    texts = [f"the house {i}" for i in range(6)]
    translator.max_batch_tokens = 40
    try:
        translator.translate(texts, "en", "fr")  # stderr is not a TTY under pytest: no bar
        assert capsys.readouterr().err == ""
        translator.translate([t + " green" for t in texts], "en", "fr", progress=True)
        assert "translating" in capsys.readouterr().err
    finally:
        translator.max_batch_tokens = 4096


# ------------------------------------------------------------------------------------------------------
# Long input: the position limit
# ------------------------------------------------------------------------------------------------------
def test_raw_model_call_beyond_limit_raises(small):
    model = small.model
    ids = torch.full((1, 33), 5, dtype=torch.long)
    with pytest.raises(InputTooLongError):
        model(input_ids=ids, decoder_input_ids=torch.tensor([[2]]))
    with pytest.raises(InputTooLongError):
        small.translate_pieces(["the " * 40], "en", "fr")  # a piece that skipped split()


def _one_token_word(translator: Translator) -> str:
    tok = translator.tokenizer
    tok.src_lang = "en"
    for word in WORDS["latin"]:
        if len(tok([" ".join([word] * 40)])["input_ids"][0]) == 42:
            return word
    pytest.skip("no single-token word in this sentencepiece model")


@pytest.mark.parametrize("total, pieces", [(30, 1), (31, 1), (32, 1), (33, 2), (34, 2), (62, 2), (63, 3)])
def test_limit_boundary_splits_never_truncates(small, monkeypatch, total, pieces):
    """Token counts around the 32-position limit (special tokens included): split above it, never cut."""
    word = _one_token_word(small)
    text = " ".join([word] * (total - 2))
    tok = small.tokenizer
    tok.src_lang = "en"
    full = tok([text])["input_ids"][0]
    assert len(full) == total
    rec = Recorder(small, monkeypatch)
    split = small.split(text, "en")
    assert len(split.pieces) == pieces
    out = small.translate(text, "en", "fr")
    assert isinstance(out, str)
    assert all(len(row) <= 32 for row in rec.rows)
    # Every piece reached the model (identical pieces are translated once), and the pieces hold every token.
    assert " ".join(split.pieces) == text
    assert sorted(map(tuple, rec.rows)) == sorted({tuple(tok([p])["input_ids"][0]) for p in split.pieces})
    assert sum(len(tok([p])["input_ids"][0]) - 2 for p in split.pieces) == total - 2


def test_generation_length_raised_for_long_sentences_and_capped_by_positions(small, translator, monkeypatch):
    word = _one_token_word(small)
    rec = Recorder(small, monkeypatch)
    small.translate(" ".join([word] * 3), "en", "fr")  # 5 tokens: 2*5+10 <= 23 default new tokens
    assert "max_new_tokens" not in rec.kwargs[-1] and "max_length" not in rec.kwargs[-1]  # checkpoint default
    small.translate(" ".join([word] * 25), "en", "fr")
    assert rec.kwargs[-1]["max_new_tokens"] == 31  # 2n+10 > 24, capped at 32 positions - start token
    small.translate(" ".join([word] * 25), "en", "fr", max_new_tokens=500)
    assert rec.kwargs[-1]["max_new_tokens"] == 31
    rec2 = Recorder(translator, monkeypatch)
    translator.translate(" ".join([word] * 30), "en", "fr")
    assert rec2.kwargs[-1]["max_new_tokens"] == 96  # 2*32+10=74 rounded up to a multiple of 32


def _document() -> tuple[str, list[str]]:
    """Paragraphs of sentences in several scripts, blank lines, indentation, one very long sentence."""
    rng = random.Random(5)
    sentences: list[str] = []
    paragraphs = []
    for p in range(6):
        script = ["latin", "cyrillic", "devanagari", "cjk", "arabic", "thai"][p]
        stop = {"devanagari": "।", "cjk": "。", "arabic": "؟"}.get(script, ".")
        sep = "" if script == "cjk" else " "
        para = []
        for s in range(rng.randint(3, 6)):
            n = 60 if (p, s) == (0, 1) else rng.randint(3, 12)  # one sentence over the 32-token limit
            words = [rng.choice(WORDS[script]) for _ in range(n)]
            body = " ".join(words)
            if script == "latin":
                body = body[0].upper() + body[1:]
            sentence = body + stop
            sentences.append(sentence)
            para.append(sentence)
        paragraphs.append(("    " if p == 2 else "") + sep.join(para))
    text = "\n\n".join(paragraphs[:3]) + "\n\n\n" + "\n".join(paragraphs[3:]) + "\n"
    return text, sentences


def test_long_multi_paragraph_document_reaches_the_model_without_loss(small, monkeypatch):
    text, sentences = _document()
    recorded: list[str] = []
    original = small.plan

    def spy(request, *args, **kwargs):
        plan = original(request, *args, **kwargs)
        recorded.extend(plan.texts_of_piece)  # every piece cut from the text, in order
        return plan

    monkeypatch.setattr(small, "plan", spy)
    rec = Recorder(small, monkeypatch)
    out = small.translate(text, "en", "fr")
    # Line structure: same lines, blank lines in the same places, indentation kept.
    assert out.count("\n") == text.count("\n")
    assert [not line.strip() for line in out.split("\n")] == [not line.strip() for line in text.split("\n")]
    assert out.split("\n")[4].startswith("    ")
    # Every character of the document is in the pieces, in order.
    squash = lambda s: "".join(s.split())  # noqa: E731
    assert squash("".join(recorded)) == squash(text)
    # Every sentence is a piece or a run of consecutive pieces.
    joined = "\x00".join(recorded)
    for sentence in sentences:
        assert sentence in recorded or any(
            squash("".join(recorded[i:j])) == squash(sentence)
            for i in range(len(recorded)) for j in range(i + 2, min(len(recorded), i + 8) + 1)
        ), sentence
    assert joined
    # Every piece reached the model, within the limit.
    tok = small.tokenizer
    expected = Counter()
    for piece in set(recorded):
        tok.src_lang = "en"
        expected[tuple(tok([clean_for_model(piece)])["input_ids"][0])] += 1
    assert Counter(tuple(r) for r in rec.rows) == expected
    assert all(len(r) <= 32 for r in rec.rows)
    assert len(recorded) > len(sentences)  # the long sentence was cut into several pieces


def test_long_run_without_spaces_is_cut_between_characters(small, monkeypatch):
    text = "".join(random.Random(1).choice("我们每天早上去学校房子是绿色的鸟唱歌你好世界") for _ in range(150))
    split = small.split(text, "zh")
    assert len(split.pieces) > 1 and "".join(split.pieces) == text
    tok = small.tokenizer
    tok.src_lang = "zh"
    assert all(len(tok([p])["input_ids"][0]) <= 32 for p in split.pieces)
    out = small.translate(text, "zh", "en")
    assert isinstance(out, str) and "\n" not in out


# ------------------------------------------------------------------------------------------------------
# Splitting and reassembly without a model
# ------------------------------------------------------------------------------------------------------
def test_split_lines_keeps_every_break():
    text = "a\r\nb\n\nc\rd\u2028e"
    pairs = split_lines(text)
    assert "".join(a + b for a, b in pairs) == text
    assert [a for a, _ in pairs] == ["a", "b", "", "c", "d", "e"]


@pytest.mark.parametrize("language, text, n", [
    ("en", "Hello Dr. Smith.  How are you?\tI am fine! Really.", 4),
    ("en", "See e.g. the report. Done!", 2),
    ("fr", "Bonjour. Ça va ? Oui !", 3),
    ("hi", "घर हरा है। हम हर सुबह स्कूल जाते हैं। ठीक", 3),
    ("zh", "我们去学校。你好！世界？好的", 4),
    ("ja", "東京です。ありがとう！", 2),
    ("ar", "مرحبا عالم؟ نحن نذهب. إلى المدرسة", 3),
    ("th", "บ้าน สี เขียว เรา ไป โรงเรียน", 1),  # no sentence punctuation in Thai
    ("sw", "Habari yako? Nzuri sana. Asante!", 3),  # not in pysbd: the regex splitter
    ("ne", "घर हरा है। हम हर सुबह।", 2),  # Devanagari danda without pysbd
    ("am", "ቤቱ አረንጓዴ ነው። እኛ ወደ ትምህርት ቤት እንሄዳለን።", 2),
    ("ko", "집은 초록색 입니다. 우리는 학교에 갑니다.", 2),
    ("en", "3.14 is pi and version 2.0 is out", 1),
])
def test_split_sentences(language, text, n):
    pairs = split_sentences(text, language)
    assert "".join(s + w for s, w in pairs) == text
    assert len([s for s, _ in pairs if s]) == n


def test_split_sentences_round_trip_on_corpus():
    corpus = make_corpus(300, seed=2)
    for language in ["en", "de", "zh", "hi", "sw", "th", "ar"]:
        for k in range(0, 300, 10):
            text = "  " + " ".join(corpus[k:k + 10]) + " \t"
            assert "".join(s + w for s, w in split_sentences(text, language)) == text


def test_splitter_reassembles_identity_exactly():
    count = lambda text, lang: 2 + len(text.split())  # noqa: E731  (one token per word)
    splitter = Splitter(8, count)
    text = "  First sentence here. Second one is a lot longer than the limit of six words allows!\n\n" \
           "\tThird,  with  spaces.\r\nLast"
    split = splitter.split(text, "en")
    assert all(count(p, "en") <= 8 for p in split.pieces)
    assert split.reassemble(split.pieces, "fr") == text
    assert split.reassemble([p.upper() for p in split.pieces], "fr") == text.upper()


def test_reassembly_spacing_between_scripts():
    split = SplitText(source="x", parts=[0, "", 1, "\n", 2, " ", 3], pieces=["a", "b", "c", "d"])
    assert split.reassemble(["A.", "B.", "C.", "D."], "en") == "A. B.\nC. D."
    assert split.reassemble(["甲。", "乙。", "丙。", "丁。"], "zh") == "甲。乙。\n丙。丁。"
    assert SplitText(source="x", parts=[0], pieces=["a"]).reassemble([" raw "], "en") == " raw "


def test_readme_python_example_runs(ckpt, monkeypatch, tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("M2M100_MODEL", str(ckpt))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "book.txt").write_text("The house is green. We walk to school.\n\nBirds sing.\n", encoding="utf-8")
    namespace: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)
    assert isinstance(namespace["translator"], Translator)
