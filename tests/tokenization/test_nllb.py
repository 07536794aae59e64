"""NllbTokenizer against transformers' NllbTokenizer / NllbTokenizerFast (transformers 5.24, the oracle).

The test trains its own sentencepiece model (conftest) and builds an NLLB tokenizer from it with transformers
(protobuf installed, the 202 codes passed as additional_special_tokens). transformers 5.24 lays such a
tokenizer out as `<mask>` = size + 1 and the codes from size + 2, while hub checkpoints (and fairseq, and
transformers 4.x) put the codes at size + 1 ... size + 202 and `<mask>` after them; `hub_layout` renumbers the
saved tokenizer.json into the hub layout, and that file is the oracle both classes of transformers load.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from builders import write_nllb_tokenizer
from conftest import WORDS, make_corpus
from transformers import NllbTokenizer as Reference
from transformers import NllbTokenizerFast as ReferenceFast

from m2m100 import AutoTokenizer, LanguageError
from m2m100.errors import CheckpointError
from m2m100.languages_nllb import NLLB_LANGUAGE_CODES, NLLB_LANGUAGE_NAMES
from m2m100.tokenization import M2M100Tokenizer, NllbTokenizer

pytestmark = pytest.mark.parity

CODES = NLLB_LANGUAGE_CODES
# FLORES-like lines in many scripts, plus added-token and unknown-character cases.
LINES = [" ".join(words[:10]) for words in WORDS.values()] + make_corpus(30, seed=21) + [
    "the house is green.", "我们 每天 早上 去 学校", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "x\u200by ☃ 𝔘", "don't won't it's",
    "a <mask> b eng_Latn c", "fra_Latn", "", "the house eng_Latn<mask>zul_Latn",
]
# Where sentencepiece (the spm-only backend) and tokenizer.json differ: whitespace the fast tokenizer keeps.
WHITESPACE = ["  дом   зелёный  ", "house ", " house", "a <mask> b", "b eng_Latn c"]
ADDED = re.compile(r"<mask>|[a-z]{3}_[A-Z][a-z]{3}")
LANG_PAIRS = [("eng_Latn", "fra_Latn"), ("rus_Cyrl", "zho_Hans"), ("arb_Arab", "hin_Deva"), ("zul_Latn", "ace_Arab")]


def hub_layout(spm_model: Path, out: Path) -> tuple[int, Path]:
    """transformers' tokenizer.json built from `spm_model`, renumbered to the hub layout (tests/builders.py
    write_nllb_tokenizer); returns (sentencepiece size, directory)."""
    import sentencepiece as spm

    hub = out / "hub"
    hub.mkdir(parents=True)
    write_nllb_tokenizer(hub, spm_model)
    return spm.SentencePieceProcessor(model_file=str(spm_model)).get_piece_size(), hub


@pytest.fixture(scope="module")
def layout(spm_bpe, tmp_path_factory):
    return hub_layout(spm_bpe, tmp_path_factory.mktemp("nllb"))


@pytest.fixture(scope="module")
def hub_dir(layout):
    return layout[1]


@pytest.fixture(scope="module")
def spm_dir(layout, tmp_path_factory):
    directory = tmp_path_factory.mktemp("nllb_spm")
    shutil.copy(layout[1] / "sentencepiece.bpe.model", directory / "sentencepiece.bpe.model")
    return directory


def refs(hub_dir, **kwargs):
    return Reference.from_pretrained(str(hub_dir), **kwargs), ReferenceFast.from_pretrained(str(hub_dir), **kwargs)


def test_layout_matches_the_hub(layout, spm_dir):
    size, hub_dir = layout
    ref, fast = refs(hub_dir)
    for ours in (NllbTokenizer.from_pretrained(hub_dir), NllbTokenizer.from_pretrained(spm_dir)):
        assert ours.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
        assert [ours.get_lang_id(code) for code in CODES] == list(range(size + 1, size + 203))
        assert ours.mask_token_id == size + 203 == ref.mask_token_id == fast.mask_token_id
        assert ours.convert_tokens_to_ids(list(CODES)) == ref.convert_tokens_to_ids(list(CODES))
        assert len(ours) == len(ref) == size + 204
        assert ours.get_vocab() == ref.get_vocab()
        assert ours.cls_token == "<s>" and ours.mask_token == "<mask>"
        assert ours.all_special_ids == ref.all_special_ids


def test_oracle_spm_only_path_differs_from_the_hub_layout(spm_dir):
    # Documents why hub_layout exists: transformers 5.24 builds <mask> first from a bare sentencepiece file.
    size = NllbTokenizer.from_pretrained(spm_dir).vocab_size - 1
    ref = Reference.from_pretrained(str(spm_dir), additional_special_tokens=list(CODES))
    assert ref.mask_token_id == size + 1 and ref.convert_tokens_to_ids("ace_Arab") == size + 2
    # without the codes passed, transformers 5.24 maps every code to <unk>
    bare = Reference.from_pretrained(str(spm_dir))
    assert bare.convert_tokens_to_ids("eng_Latn") == bare.unk_token_id


@pytest.mark.parametrize("legacy", [False, True])
def test_encoding_identical(hub_dir, spm_dir, legacy):
    for src, tgt in LANG_PAIRS:
        kwargs = dict(src_lang=src, tgt_lang=tgt, legacy_behaviour=legacy)
        ref, fast = refs(hub_dir, **kwargs)
        ours = NllbTokenizer.from_pretrained(hub_dir, **kwargs)
        from_spm = NllbTokenizer.from_pretrained(spm_dir, **kwargs)
        for text in LINES:
            expected = ref(text)
            assert dict(fast(text)) == dict(expected)
            assert dict(ours(text)) == dict(expected), text
            if not ADDED.search(text):  # around added tokens the backends differ on spaces (see below)
                assert dict(from_spm(text)) == dict(expected), text
            assert ours.tokenize(text) == fast.tokenize(text), text
        batch = dict(text=LINES, text_target=LINES[::-1], padding=True, return_tensors="pt")
        expected = ref(**batch)
        got = ours(**batch)
        assert list(got.keys()) == list(expected.keys())
        for key in expected:
            assert torch.equal(got[key], expected[key]), key
        assert dict(from_spm(**batch)) .keys() == expected.keys()


def test_sentencepiece_backend_differs_only_on_kept_whitespace(hub_dir, spm_dir):
    ref = Reference.from_pretrained(str(hub_dir))
    ours, from_spm = NllbTokenizer.from_pretrained(hub_dir), NllbTokenizer.from_pretrained(spm_dir)
    differing = 0
    for text in WHITESPACE:
        assert ours(text)["input_ids"] == ref(text)["input_ids"]  # tokenizer.json: identical
        differing += from_spm(text)["input_ids"] != ref(text)["input_ids"]
    # sentencepiece drops outer and repeated spaces that tokenizer.json keeps as a `▁` token: follow tokenizer.json
    assert differing >= 2
    assert from_spm("  дом   зелёный  ")["input_ids"] == ref("дом зелёный")["input_ids"]


@pytest.mark.parametrize("legacy", [False, True])
def test_decoding_identical(hub_dir, spm_dir, legacy):
    ref, fast = refs(hub_dir, legacy_behaviour=legacy)
    ours = NllbTokenizer.from_pretrained(hub_dir, legacy_behaviour=legacy)
    from_spm = NllbTokenizer.from_pretrained(spm_dir, legacy_behaviour=legacy)
    sequences = [ref(text)["input_ids"] for text in LINES]
    sequences.append(list(range(0, len(ref), 37)))  # every kind of id
    for ids in sequences:
        for skip in (False, True):
            expected = fast.decode(ids, skip_special_tokens=skip)
            assert ref.decode(ids, skip_special_tokens=skip) == expected
            assert ours.decode(ids, skip_special_tokens=skip) == expected, ids
            assert from_spm.decode(ids, skip_special_tokens=skip) == expected, ids
    assert ours.batch_decode(sequences, skip_special_tokens=True) == ref.batch_decode(sequences, skip_special_tokens=True)
    assert ours.convert_ids_to_tokens(sequences[0]) == ref.convert_ids_to_tokens(sequences[0])


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_at_every_boundary(hub_dir, legacy, side):
    kwargs = dict(legacy_behaviour=legacy, truncation_side=side, src_lang="deu_Latn", tgt_lang="ell_Grek")
    ref, fast = refs(hub_dir, **kwargs)
    ours = NllbTokenizer.from_pretrained(hub_dir, **kwargs)
    text = LINES[3]
    n = len(ref(text)["input_ids"])
    for max_length in range(2, n + 2):
        options = dict(truncation=True, max_length=max_length)
        expected = ref(text, text_target=LINES[5], **options)
        assert dict(fast(text, text_target=LINES[5], **options)) == dict(expected)
        assert dict(ours(text, text_target=LINES[5], **options)) == dict(expected), max_length
        padded = dict(padding="max_length", return_tensors="pt", **options)
        assert torch.equal(ours([text, "house"], **padded)["input_ids"], ref([text, "house"], **padded)["input_ids"])


def test_languages_and_targets(hub_dir):
    ref = Reference.from_pretrained(str(hub_dir), src_lang="fra_Latn")
    ours = NllbTokenizer.from_pretrained(hub_dir, src_lang="fra_Latn")
    # no tgt_lang: both use the source language for text_target (and remember it)
    assert dict(ours("house", text_target="maison")) == dict(ref("house", text_target="maison"))
    assert ours.tgt_lang == ref.tgt_lang == "fra_Latn"
    ours.src_lang = ref.src_lang = "jpn_Jpan"
    assert ours("house")["input_ids"] == ref("house")["input_ids"]
    with pytest.raises(LanguageError, match="xx_Yyyy|unsupported"):
        ours.src_lang = "xx_Yyyy"
    assert ours.src_lang == "jpn_Jpan"
    assert len(ours.language_names) == 202 and ours.language_names["eng_Latn"] == "English"
    assert list(NLLB_LANGUAGE_NAMES) == list(CODES)
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert list(CODES) == list(FAIRSEQ_LANGUAGE_CODES)  # the same 202 codes in the same (id) order


def test_additional_special_tokens_and_added_tokens(hub_dir, spm_dir):
    extra = [*CODES, "<extra>"]
    # transformers 5.24 ignores a new token passed at load (it encodes as <unk>); ours adds it after the
    # vocabulary, with the id add_special_tokens gives it in transformers.
    at_load = Reference.from_pretrained(str(hub_dir), additional_special_tokens=extra)
    assert at_load.convert_tokens_to_ids("<extra>") == at_load.unk_token_id
    ref = Reference.from_pretrained(str(hub_dir))
    ref.add_special_tokens({"additional_special_tokens": ["<extra>"]}, replace_extra_special_tokens=False)
    for directory in (hub_dir, spm_dir):
        ours = NllbTokenizer.from_pretrained(directory, additional_special_tokens=extra)
        assert ours.convert_tokens_to_ids("<extra>") == ref.convert_tokens_to_ids("<extra>") == len(ref) - 1
        texts = ["a<extra>b", "a <extra> b"] if directory == hub_dir else ["a<extra>b"]  # spaces: see above
        for text in texts:
            assert ours(text)["input_ids"] == ref(text)["input_ids"], (directory, text)
            ids = ref(text)["input_ids"]
            assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)
    fast = ReferenceFast.from_pretrained(str(hub_dir))
    tokens = ["hello_world", "<a>", "<b>", "hello_world", "xyz_Abcd"]
    for directory in (hub_dir, spm_dir):
        ours = NllbTokenizer.from_pretrained(directory)
        assert ours.add_tokens(tokens) == 4
        assert ours.convert_tokens_to_ids(tokens) == [len(fast) + i for i in (0, 1, 2, 0, 3)]
        assert ours.get_lang_id("xyz_Abcd") == len(fast) + 3  # a FLORES-shaped added token is a language
    assert fast.add_tokens(tokens) == 4
    assert ours.convert_tokens_to_ids(tokens) == fast.convert_tokens_to_ids(tokens)
    ours = NllbTokenizer.from_pretrained(hub_dir)
    ours.add_tokens(tokens)
    for text in ("the househello_world green", "a<a>b <b> c"):
        assert ours(text)["input_ids"] == fast(text)["input_ids"], text


def test_save_and_load(hub_dir, spm_dir, tmp_path):
    kwargs = dict(src_lang="rus_Cyrl", tgt_lang="spa_Latn", legacy_behaviour=True)
    ref = Reference.from_pretrained(str(hub_dir), **kwargs)
    expected = [ref(text, text_target=text)["labels"] for text in LINES[:8]]
    for source in (hub_dir, spm_dir):
        ours = NllbTokenizer.from_pretrained(source, **kwargs)
        out = tmp_path / source.name
        ours.save_pretrained(out)
        for loaded in (NllbTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(out)):
            assert isinstance(loaded, NllbTokenizer)
            assert (loaded.src_lang, loaded.tgt_lang, loaded.legacy_behaviour) == ("rus_Cyrl", "spa_Latn", True)
            assert [loaded(text, text_target=text)["labels"] for text in LINES[:8]] == expected
        if source == hub_dir:  # transformers loads what we save
            again = Reference.from_pretrained(str(out))
            assert [again(text, text_target=text)["labels"] for text in LINES[:8]] == expected
        clone = pickle.loads(pickle.dumps(ours))
        assert [clone(text, text_target=text)["labels"] for text in LINES[:8]] == expected


def test_auto_tokenizer_chooses_by_tokenizer_config(hub_dir, tiny_checkpoint):
    assert isinstance(AutoTokenizer.from_pretrained(hub_dir), NllbTokenizer)
    assert isinstance(AutoTokenizer.from_pretrained(tiny_checkpoint), M2M100Tokenizer)


def test_bad_files(tmp_path, hub_dir):
    with pytest.raises(CheckpointError, match="neither"):
        NllbTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        NllbTokenizer.from_pretrained(tmp_path)
    m2m_like = tmp_path / "other"
    m2m_like.mkdir()
    data = json.loads((hub_dir / "tokenizer.json").read_text(encoding="utf-8"))
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "eng_Latn"]
    (m2m_like / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CheckpointError, match="language codes"):
        NllbTokenizer.from_pretrained(m2m_like)
