"""M2M100Tokenizer against transformers' M2M100Tokenizer (the reference), loaded from the same files.

Sentencepiece models are trained by the tests (BPE and unigram) on text in many scripts; vocab.json is
fairseq-style (shuffled, with dropped pieces) so the sentencepiece-id -> model-id mapping and <unk> are
exercised. Checkpoints on the hub list the language tokens in special_tokens_map.json; the main fixture
writes that file too ("hub layout"). The conftest layout without it is where transformers behaves
differently on purpose-worthy points; those are tested as deliberate differences at the end.
"""

from __future__ import annotations

import copy
import json
import pickle
import random
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import WORDS, make_corpus, train_sentencepiece, write_tokenizer_files
from transformers import M2M100Tokenizer as Reference

from m2m100.errors import CheckpointError, ConfigError, LanguageError
from m2m100.languages import FAIRSEQ_LANGUAGE_CODES
from m2m100.tokenizer import BatchEncoding, M2M100Tokenizer

pytestmark = pytest.mark.parity

LANG_TOKENS = {name: [f"__{code}__" for code in codes] for name, codes in FAIRSEQ_LANGUAGE_CODES.items()}
SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}

EDGE_TEXTS = [
    "", " ", "   \t\n  ", "\n", "house", "  the house  is green  ", "😀", "I ❤️ 東京 🎉🎉 ok",
    "a\x00b\x01c\x7fd", "\ufeffthe house", "zero\u200bwidth\u200djoin", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ﬁne ligature",
    "①②③ ⅷ", "e\u0301 combining", "\u202eRTL override\u202c", "tab\tand\r\nCRLF\x0b\x0c", "12,345.67 $ € £ ¥",
    "...!!!???", "don't won't it's we're I'm you've", " , . ! ? ' s", "Ελληνικά κείμενα", "ქართული ენა",
    "தமிழ் மொழி", "ⴰⵣⵓⵍ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛", "ÀÉÎÕÜ àéîõü ß", "ｶﾀｶﾅ カタカナ ひらがな",
    # Special tokens inside text are kept whole; near-misses are not.
    "the <s> house </s> is <pad> green <unk>", "__en__ house __fr__", "___en___fr__<s></s><pad>", "<<s>>",
    "__en__en__", "<s", "__en_", "__xx__ is not a language", "<b>bold</b> & <i>x</i>", "__zu____af__",
    "</s></s>", "house__de__house", "<unk><unk>", "_ __ ___",
]
SCRIPT_TEXTS = [" ".join(words[:12]) for words in WORDS.values()]
LONG_TEXT = " ".join(make_corpus(300, seed=3))  # several thousand tokens
ALL_TEXTS = EDGE_TEXTS + SCRIPT_TEXTS + make_corpus(60, seed=11) + [LONG_TEXT]


# ------------------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------------------


def write_hub_layout(directory: Path, spm_model: Path, seed: int = 0, language_codes: str = "m2m100") -> Path:
    """conftest's tokenizer files plus special_tokens_map.json listing the language tokens, as on the hub."""
    write_tokenizer_files(directory, spm_model, seed=seed, language_codes=language_codes)
    tokens_map = {**SPECIALS, "additional_special_tokens": LANG_TOKENS[language_codes]}
    (directory / "special_tokens_map.json").write_text(json.dumps(tokens_map, indent=2), encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def spm_unigram_small(tmp_path_factory) -> Path:
    # conftest's corpus supports at most ~750 unigram pieces, so this one is trained at 700.
    return train_sentencepiece(tmp_path_factory.mktemp("spm_unigram700"), "unigram", vocab_size=700)


@pytest.fixture(scope="session")
def spm_models(spm_bpe, spm_unigram_small) -> dict[str, Path]:
    return {"bpe": spm_bpe, "unigram": spm_unigram_small}


@pytest.fixture(scope="session", params=["bpe", "unigram"])
def tok_dir(request, spm_models, tmp_path_factory) -> Path:
    seed = 1 if request.param == "bpe" else 2
    return write_hub_layout(tmp_path_factory.mktemp(f"tok_{request.param}"), spm_models[request.param], seed=seed)


@pytest.fixture(scope="session")
def wmt21_dir(spm_bpe, tmp_path_factory) -> Path:
    return write_hub_layout(tmp_path_factory.mktemp("tok_wmt21"), spm_bpe, seed=3, language_codes="wmt21")


@pytest.fixture(scope="session")
def bare_dir(spm_bpe, tmp_path_factory) -> Path:
    """A directory without special_tokens_map.json (some older uploads)."""
    directory = tmp_path_factory.mktemp("tok_bare")
    write_tokenizer_files(directory, spm_bpe, seed=4)
    (directory / "special_tokens_map.json").unlink()
    return directory


@pytest.fixture
def pair(tok_dir):
    return Reference.from_pretrained(str(tok_dir)), M2M100Tokenizer.from_pretrained(tok_dir)


def assert_same(ref, ours) -> None:
    """Same keys in the same order, same container types, dtypes, shapes and values."""
    assert isinstance(ours, BatchEncoding)
    assert list(ours.keys()) == list(ref.keys())
    for key in ref.keys():
        expected, got = ref[key], ours[key]
        if isinstance(expected, torch.Tensor):
            assert isinstance(got, torch.Tensor), key
            assert got.dtype == expected.dtype and got.shape == expected.shape, key
            assert torch.equal(got, expected), key
        elif isinstance(expected, np.ndarray):
            assert isinstance(got, np.ndarray), key
            assert got.dtype == expected.dtype and got.shape == expected.shape, key
            if expected.dtype == object:
                assert [list(x) for x in got] == [list(x) for x in expected], key
            else:
                assert np.array_equal(got, expected), key
        else:
            assert type(got) is type(expected), key
            assert got == expected, key


# ------------------------------------------------------------------------------------------------------------
# Encoding: identical ids, masks and tokens
# ------------------------------------------------------------------------------------------------------------


def test_single_texts_identical(pair):
    ref, ours = pair
    for text in ALL_TEXTS:
        assert ours.tokenize(text) == ref.tokenize(text), repr(text)
        assert_same(ref(text), ours(text))
        assert_same(ref(text, add_special_tokens=False), ours(text, add_special_tokens=False))
        assert ours.encode(text) == ref.encode(text)
    # The long text is really long, and the shuffled vocab.json really produces <unk> for dropped pieces.
    assert len(ours(LONG_TEXT)["input_ids"]) > 2000
    assert any(ours.unk_token_id in ours(t)["input_ids"] for t in make_corpus(200, seed=1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": True},
        {"padding": "longest"},
        {"padding": True, "return_tensors": "pt"},
        {"padding": "longest", "return_tensors": "np"},
        {"padding": "max_length", "max_length": 80, "truncation": True, "return_tensors": "pt"},
        {"padding": "max_length", "max_length": 80, "truncation": True},
        {"padding": "max_length"},  # no max_length: model_max_length (1024) from tokenizer_config.json
        {"padding": "max_length", "return_tensors": "np"},
        {"return_tensors": "np"},  # ragged: an object array of rows, like transformers
        {"truncation": True, "max_length": 12},
        {"max_length": 12},  # max_length alone truncates
        {"max_length": 12, "padding": True},  # padding=True with max_length and no truncation: no truncation
        {"truncation": True},  # truncation to model_max_length
        {"padding": True, "pad_to_multiple_of": 8, "return_tensors": "pt"},
        {"padding": True, "padding_side": "left", "return_tensors": "pt"},
        {"padding": True, "padding_side": "left"},
        {"padding": True, "return_attention_mask": False, "return_tensors": "pt"},
        {"padding": True, "return_attention_mask": True},
        {"return_attention_mask": False},
        {"padding": True, "return_token_type_ids": True, "return_special_tokens_mask": True, "return_length": True},
        {"padding": True, "return_special_tokens_mask": True, "return_length": True, "return_tensors": "pt"},
        {"padding": "max_length", "max_length": 30, "return_tensors": "pt", "padding_side": "left",
         "truncation": "longest_first", "return_special_tokens_mask": True, "return_token_type_ids": True},
        {"add_special_tokens": False, "padding": True, "return_tensors": "np"},
        {"split_special_tokens": True, "padding": True},
    ],
)
def test_batch_identical(pair, kwargs):
    ref, ours = pair
    texts = [t for t in ALL_TEXTS if t is not LONG_TEXT]
    assert_same(ref(texts, **kwargs), ours(texts, **kwargs))
    # Single strings too: the same options without a batch axis (tensors get one).
    for text in ("house", "", "the <s> house </s> __de__ x", SCRIPT_TEXTS[2]):
        assert_same(ref(text, **kwargs), ours(text, **kwargs))
    # And a batch of one.
    assert_same(ref(["house green"], **kwargs), ours(["house green"], **kwargs))


def test_ragged_pt_tensors_fail_in_both(pair):
    ref, ours = pair
    with pytest.raises(ValueError):
        ref(["house", "house green house"], return_tensors="pt")
    with pytest.raises(ValueError, match="padding=True"):
        ours(["house", "house green house"], return_tensors="pt")


def test_tokenizer_level_sides(pair):
    ref, ours = pair
    texts = ["house", "the house is green", "дом"]
    for side in ("left", "right"):
        ref.padding_side = ours.padding_side = side
        ref.truncation_side = ours.truncation_side = side
        assert_same(ref(texts, padding=True, truncation=True, max_length=4), ours(texts, padding=True,
                                                                                    truncation=True, max_length=4))


@pytest.mark.parametrize("truncation", [True, "longest_first", "only_first", None])
@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_at_every_boundary(pair, truncation, side):
    ref, ours = pair
    ref.truncation_side = ours.truncation_side = side
    ref.tgt_lang = ours.tgt_lang = "de"
    text = "the house is green and we walk to school"
    n = len(ours(text, add_special_tokens=False)["input_ids"])
    assert n >= 6
    for max_length in [0, 1, 2, 3, 4, n - 1, n, n + 1, n + 2, n + 3, n + 4]:
        kwargs = {"max_length": max_length}
        if truncation is not None:
            kwargs["truncation"] = truncation
        got = ours(text, **kwargs)
        assert_same(ref(text, **kwargs), got)
        if max_length:  # never below the two special tokens, never above the limit otherwise
            assert len(got["input_ids"]) == max(2, min(n + 2, max_length))
            assert got["input_ids"][0] == ours.get_lang_id("en") and got["input_ids"][-1] == ours.eos_token_id
        batch = [text, "house", text + " " + text]
        assert_same(ref(batch, padding="max_length", **kwargs), ours(batch, padding="max_length", **kwargs))
        assert_same(ref(batch, padding=True, return_tensors="pt", **kwargs),
                    ours(batch, padding=True, return_tensors="pt", **kwargs))
        assert_same(ref(batch, text_target=batch[::-1], **kwargs), ours(batch, text_target=batch[::-1], **kwargs))


@pytest.mark.parametrize("truncation", ["longest_first", "only_first", "only_second"])
def test_text_pairs(pair, truncation):
    ref, ours = pair
    first, second = "the house is green and we walk", "дом зелёный мы идём"
    kwargs = {"return_token_type_ids": True, "return_special_tokens_mask": True}
    assert_same(ref(first, second, **kwargs), ours(first, second, **kwargs))
    for max_length in range(3, 22, 3):
        assert_same(ref(first, second, truncation=truncation, max_length=max_length, **kwargs),
                    ours(first, second, truncation=truncation, max_length=max_length, **kwargs))
    batch, batch2 = [first, "house"], [second, "green green"]
    assert_same(ref(batch, batch2, padding=True, **kwargs), ours(batch, batch2, padding=True, **kwargs))
    assert_same(ref([(first, second)]), ours([(first, second)]))
    assert_same(ref([["house"]]), ours([["house"]]))
    with pytest.raises(ValueError):
        ours([["a", "b", "c"]])
    with pytest.raises(ValueError, match="same length"):
        ours(batch, ["only one"])


def test_pretokenized_and_id_inputs(pair):
    ref, ours = pair
    words = ["the", "house", "is", "green", "дом"]
    assert_same(ref(words, is_split_into_words=True), ours(words, is_split_into_words=True))
    assert_same(ref([words, words[:2]], is_split_into_words=True, padding=True),
                ours([words, words[:2]], is_split_into_words=True, padding=True))
    assert_same(ref([5, 6, 7]), ours([5, 6, 7]))
    assert_same(ref([[5, 6, 7], [8]], padding=True), ours([[5, 6, 7], [8]], padding=True))
    with pytest.raises(ValueError):
        ours(["a", None])


# ------------------------------------------------------------------------------------------------------------
# Languages, source and target modes
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("codes", ["m2m100", "wmt21"])
def test_language_tables(codes, tok_dir, wmt21_dir):
    directory = tok_dir if codes == "m2m100" else wmt21_dir
    ref, ours = Reference.from_pretrained(str(directory)), M2M100Tokenizer.from_pretrained(directory)
    n_vocab = len(json.loads((directory / "vocab.json").read_text(encoding="utf-8")))
    code_list = FAIRSEQ_LANGUAGE_CODES[codes]
    assert ours.lang_code_to_id == ref.lang_code_to_id == {c: n_vocab + i for i, c in enumerate(code_list)}
    assert ours.lang_token_to_id == ref.lang_token_to_id
    assert ours.id_to_lang_token == ref.id_to_lang_token
    assert ours.lang_code_to_token == ref.lang_code_to_token
    for code in code_list:
        assert ours.get_lang_token(code) == ref.get_lang_token(code) == f"__{code}__"
        assert ours.get_lang_id(code) == ref.get_lang_id(code)
        assert ours.convert_tokens_to_ids(f"__{code}__") == ref.convert_tokens_to_ids(f"__{code}__")
        assert ours.convert_ids_to_tokens(ours.get_lang_id(code)) == f"__{code}__"
    assert ours.vocab_size == ref.vocab_size == n_vocab
    assert len(ours) == len(ref) == n_vocab + len(code_list)
    assert ours.get_vocab() == ref.get_vocab()
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.all_special_ids == ref.all_special_ids
    assert ours.special_tokens_map == ref.special_tokens_map
    assert ours.num_madeup_words == ref.num_madeup_words == 8
    assert ours.model_max_length == ref.model_max_length == 1024
    assert ours.language_names["en"] == "English"
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "sep_token_id"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert (ours.bos_token_id, ours.pad_token_id, ours.eos_token_id, ours.unk_token_id) == (0, 1, 2, 3)
    # Filler ids exist for the model only: they decode as <unk> in both.
    filler = n_vocab + len(code_list)
    assert ours.convert_ids_to_tokens(filler) == ref.convert_ids_to_tokens(filler) == "<unk>"
    if codes == "wmt21":
        with pytest.raises(LanguageError, match="'fr'"):
            ours.get_lang_id("fr")
        ours.src_lang = "ha"
        ref.src_lang = "ha"
        assert_same(ref(["house", "дом"]), ours(["house", "дом"]))


def test_src_and_tgt_lang(pair):
    ref, ours = pair
    assert ours.src_lang == ref.src_lang == "en" and ours.tgt_lang is ref.tgt_lang is None
    for code in ["fr", "zh", "ast", "zu", "af"]:
        ref.src_lang = ours.src_lang = code
        assert ours.src_lang == code
        assert ours.prefix_tokens == ref.prefix_tokens == [ours.get_lang_id(code)]
        assert ours.suffix_tokens == ref.suffix_tokens == [ours.eos_token_id]
        assert ours.cur_lang_id == ref.cur_lang_id
        assert_same(ref(["house", "green"]), ours(["house", "green"]))
    ref.tgt_lang = ours.tgt_lang = "de"
    texts, targets = ["the house", "дом"], ["das Haus ist grün", "ein Haus"]
    for kwargs in ({}, {"padding": True}, {"padding": True, "return_tensors": "pt"},
                   {"max_length": 5}, {"max_target_length": 4, "truncation": True},
                   {"padding": "max_length", "max_length": 16, "return_tensors": "np"}):
        assert_same(ref(texts, text_target=targets, **kwargs), ours(texts, text_target=targets, **kwargs))
        assert_same(ref(text_target=targets, **kwargs), ours(text_target=targets, **kwargs))
        assert_same(ref(texts[0], text_target=targets[0], **kwargs), ours(texts[0], text_target=targets[0], **kwargs))
        assert_same(ref(text_target=targets[0], **kwargs), ours(text_target=targets[0], **kwargs))
    labels = ours("house", text_target="Haus")["labels"]
    assert labels[0] == ours.get_lang_id("de") and labels[-1] == ours.eos_token_id
    assert ours(text_target="Haus")["input_ids"] == labels
    # Back in source mode after a target call, in both.
    assert ours.prefix_tokens == ref.prefix_tokens == [ours.get_lang_id("af")]
    # Explicit mode switches, as transformers' public helpers.
    ours.set_tgt_lang_special_tokens("ru")
    ref.set_tgt_lang_special_tokens("ru")
    assert ours.build_inputs_with_special_tokens([5, 6]) == ref.build_inputs_with_special_tokens([5, 6])
    ours.set_src_lang_special_tokens("ja")
    ref.set_src_lang_special_tokens("ja")
    assert ours.build_inputs_with_special_tokens([5, 6]) == ref.build_inputs_with_special_tokens([5, 6])
    # from_pretrained arguments win over the saved config.
    loaded = M2M100Tokenizer.from_pretrained(ours.name_or_path, src_lang="fr", tgt_lang="ro")
    ref_loaded = Reference.from_pretrained(ours.name_or_path, src_lang="fr", tgt_lang="ro")
    assert_same(ref_loaded("house", text_target="casa"), loaded("house", text_target="casa"))


# ------------------------------------------------------------------------------------------------------------
# Decoding and conversions
# ------------------------------------------------------------------------------------------------------------


def test_decode_identical(pair):
    ref, ours = pair
    ref.tgt_lang = ours.tgt_lang = "fr"
    sequences = ref(ALL_TEXTS)["input_ids"] + ref(text_target=ALL_TEXTS[:20])["input_ids"]
    rng = random.Random(0)
    top = len(ours) + ours.num_madeup_words + 3
    sequences += [[rng.randrange(-3, top) for _ in range(rng.randint(0, 30))] for _ in range(40)]
    sequences += [[], [-100, 5, -100], [2, ours.get_lang_id("de"), 17, 2, 1, 1], [ours.get_lang_id("zh")]]
    for skip in (False, True):
        for clean in (None, False, True):
            expected = [ref.decode(s, skip_special_tokens=skip, clean_up_tokenization_spaces=clean) for s in sequences]
            got = [ours.decode(s, skip_special_tokens=skip, clean_up_tokenization_spaces=clean) for s in sequences]
            assert got == expected
            assert ours.batch_decode(sequences, skip_special_tokens=skip,
                                     clean_up_tokenization_spaces=clean) == expected
    # Tensors, arrays, 2-d inputs and single ids.
    padded = ours(ALL_TEXTS[:12], padding=True, return_tensors="pt")["input_ids"]
    assert ours.batch_decode(padded, skip_special_tokens=True) == ref.batch_decode(padded, skip_special_tokens=True)
    assert ours.decode(padded) == ref.decode(padded)
    assert ours.decode(padded.numpy()[3]) == ref.decode(padded.numpy()[3])
    assert ours.decode(padded[0]) == ref.decode(padded[0])
    assert ours.decode(17) == ref.decode(17)
    assert ours.decode([[]]) == ref.decode([[]]) == [""]
    assert ours.decode([]) == ref.decode([]) == ""
    assert ours.batch_decode([5, 6]) == ref.batch_decode([5, 6])
    # The round trip gives back plain text (sentencepiece normalizes spaces).
    for text in make_corpus(20, seed=9):
        ids = ours(text)["input_ids"]
        if ours.unk_token_id not in ids:
            assert ours.decode(ids, skip_special_tokens=True) == " ".join(text.split())


def test_decode_language_tokens_are_special(pair):
    ref, ours = pair
    ids = [2, ours.get_lang_id("fr"), *ours("the house", add_special_tokens=False)["input_ids"], 2]
    assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True) == "the house"
    assert ours.decode(ids) == ref.decode(ids) == "</s>__fr__the house</s>"


def test_convert_tokens_and_ids(pair):
    ref, ours = pair
    ids = list(range(-3, len(ours) + 12))
    for skip in (False, True):
        assert ours.convert_ids_to_tokens(ids, skip_special_tokens=skip) == ref.convert_ids_to_tokens(
            ids, skip_special_tokens=skip)
    assert ours.convert_ids_to_tokens(np.array(ids[:10])) == ref.convert_ids_to_tokens(ids[:10])
    tokens = list(ref.get_vocab()) + ["not-a-piece", "", "__xx__", "▁", "<mask>"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("__de__") == ref.convert_tokens_to_ids("__de__")
    assert ours.convert_tokens_to_ids("nope") == ref.convert_tokens_to_ids("nope") == ours.unk_token_id
    for text in ALL_TEXTS[:40]:
        pieces = ref.tokenize(text)
        assert ours.convert_tokens_to_string(pieces) == ref.convert_tokens_to_string(pieces)


def test_special_token_helpers(pair):
    ref, ours = pair
    a, b = [10, 11, 12], [20, 21]
    for args in ((a,), (a, b), ([],)):
        assert ours.build_inputs_with_special_tokens(*args) == ref.build_inputs_with_special_tokens(*args)
        assert ours.get_special_tokens_mask(*args) == ref.get_special_tokens_mask(*args)
        assert ours.create_token_type_ids_from_sequences(*args) == ref.create_token_type_ids_from_sequences(*args)
    for text in ALL_TEXTS[:30]:
        ids = ref(text)["input_ids"]
        assert ours.get_special_tokens_mask(ids, already_has_special_tokens=True) == ref.get_special_tokens_mask(
            ids, already_has_special_tokens=True)
    with pytest.raises(ValueError):
        ours.get_special_tokens_mask(a, b, already_has_special_tokens=True)
    with pytest.raises(ValueError):
        ref.get_special_tokens_mask(a, b, already_has_special_tokens=True)
    assert ours.num_special_tokens_to_add() == ref.num_special_tokens_to_add() == 2
    assert ours.num_special_tokens_to_add(pair=True) == ref.num_special_tokens_to_add(pair=True)
    assert ours.max_len_single_sentence == ref.max_len_single_sentence == 1022


def test_direct_construction_matches(tok_dir):
    vocab, spm = str(tok_dir / "vocab.json"), str(tok_dir / "sentencepiece.bpe.model")
    ref = Reference(vocab_file=vocab, spm_file=spm, src_lang="fr", tgt_lang="de",
                    additional_special_tokens=LANG_TOKENS["m2m100"])
    ours = M2M100Tokenizer(vocab_file=vocab, spm_file=spm, src_lang="fr", tgt_lang="de")
    assert ours.model_max_length == ref.model_max_length  # no config: "unlimited" (1e30) in both
    texts = ALL_TEXTS[:50]
    for kwargs in ({}, {"padding": "max_length"}, {"padding": True, "return_tensors": "pt"}):
        assert_same(ref(texts, text_target=texts, **kwargs), ours(texts, text_target=texts, **kwargs))
    ids = ref(texts)["input_ids"]
    assert ours.batch_decode(ids, skip_special_tokens=True) == ref.batch_decode(ids, skip_special_tokens=True)


# ------------------------------------------------------------------------------------------------------------
# Saving, loading, pickling, sampling
# ------------------------------------------------------------------------------------------------------------


def check_equivalent(ref, ours) -> None:
    texts = ALL_TEXTS[:60]
    assert_same(ref(texts, padding=True, return_tensors="pt"), ours(texts, padding=True, return_tensors="pt"))
    ids = ref(texts)["input_ids"]
    assert ours.batch_decode(ids, skip_special_tokens=True) == ref.batch_decode(ids, skip_special_tokens=True)
    assert ours.batch_decode(ids) == ref.batch_decode(ids)
    assert len(ours) == len(ref) and ours.get_vocab() == ref.get_vocab()
    assert ours.src_lang == ref.src_lang and ours.tgt_lang == ref.tgt_lang
    assert ours.model_max_length == ref.model_max_length


def test_save_pretrained_loads_identically_in_both(tok_dir, bare_dir, tmp_path):
    for source in (tok_dir, bare_dir):
        ours = M2M100Tokenizer.from_pretrained(source, src_lang="fr", tgt_lang="de")
        out = tmp_path / source.name
        written = ours.save_pretrained(out)
        names = {Path(p).name for p in written}
        assert names == {"vocab.json", "sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"}
        assert (out / "sentencepiece.bpe.model").read_bytes() == (source / "sentencepiece.bpe.model").read_bytes()
        assert json.loads((out / "vocab.json").read_text(encoding="utf-8")) == ours.encoder
        ours2, ref2 = M2M100Tokenizer.from_pretrained(out), Reference.from_pretrained(str(out))
        assert ours2.src_lang == "fr" and ours2.tgt_lang == "de"
        check_equivalent(ref2, ours2)
        assert_same(ours(ALL_TEXTS, text_target=ALL_TEXTS), ours2(ALL_TEXTS, text_target=ALL_TEXTS))
    # transformers' own save loads the same in ours.
    ref = Reference.from_pretrained(str(tok_dir), src_lang="ja")
    ref.save_pretrained(str(tmp_path / "from_reference"))
    check_equivalent(Reference.from_pretrained(str(tmp_path / "from_reference")),
                     M2M100Tokenizer.from_pretrained(tmp_path / "from_reference"))


def test_save_vocabulary(pair, tmp_path):
    _, ours = pair
    vocab_path, spm_path = ours.save_vocabulary(tmp_path, filename_prefix="x")
    assert Path(vocab_path).name == "x-vocab.json" and Path(spm_path).name == "x-sentencepiece.bpe.model"
    assert json.loads(Path(vocab_path).read_text(encoding="utf-8")) == ours.encoder
    again = M2M100Tokenizer(vocab_file=vocab_path, spm_file=spm_path)
    assert again(ALL_TEXTS)["input_ids"] == ours(ALL_TEXTS)["input_ids"]
    with pytest.raises(OSError):
        ours.save_vocabulary(tmp_path / "missing-dir")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        ours.save_pretrained(tmp_path / "file")


def test_pickle_round_trip(tok_dir, tmp_path):
    directory = tmp_path / "copy"
    shutil.copytree(tok_dir, directory)
    ours = M2M100Tokenizer.from_pretrained(directory, src_lang="ru", tgt_lang="zh")
    expected = ours(ALL_TEXTS, text_target=ALL_TEXTS, padding=True, return_tensors="pt")
    blob = pickle.dumps(ours)
    shutil.rmtree(directory)  # the pickle carries the sentencepiece model itself
    for clone in (pickle.loads(blob), copy.deepcopy(ours)):
        assert clone.src_lang == "ru" and clone.tgt_lang == "zh"
        assert_same(expected, clone(ALL_TEXTS, text_target=ALL_TEXTS, padding=True, return_tensors="pt"))
        assert clone.batch_decode(expected["input_ids"]) == ours.batch_decode(expected["input_ids"])
    enc = ours(["a b", "c"], padding=True, return_tensors="pt")
    enc2 = pickle.loads(pickle.dumps(enc))
    assert isinstance(enc2, BatchEncoding) and torch.equal(enc2["input_ids"], enc["input_ids"])


def test_subword_sampling(tok_dir, spm_models, tmp_path):
    text = "the house is green and we walk to school every morning"
    unigram = write_hub_layout(tmp_path / "uni", spm_models["unigram"])
    bpe = write_hub_layout(tmp_path / "bpe", spm_models["bpe"])
    cases = [
        (unigram, {"enable_sampling": True, "alpha": 0.1, "nbest_size": -1}),
        (bpe, {"enable_sampling": True, "alpha": 0.3}),  # BPE-dropout
    ]
    for directory, kwargs in cases:
        ours = M2M100Tokenizer.from_pretrained(directory, sp_model_kwargs=kwargs)
        ref = Reference.from_pretrained(str(directory), sp_model_kwargs=kwargs)
        singles = {tuple(ours(text)["input_ids"]) for _ in range(40)}
        batched = {tuple(row) for row in ours([text] * 40)["input_ids"]}  # the fast path samples too
        reference = {tuple(ref(text)["input_ids"]) for _ in range(40)}
        assert len(singles) > 1 and len(batched) > 1 and len(reference) > 1
        for ids in singles | batched | reference:
            assert ours.decode(list(ids), skip_special_tokens=True) == text
            assert ids[0] == ours.get_lang_id("en") and ids[-1] == ours.eos_token_id
        clone = pickle.loads(pickle.dumps(ours))  # sampling survives pickling
        assert len({tuple(clone(text)["input_ids"]) for _ in range(40)}) > 1
    plain = M2M100Tokenizer.from_pretrained(unigram)
    assert len({tuple(row) for row in plain([text] * 20)["input_ids"]}) == 1


def test_vocab_entry_that_is_not_a_piece(spm_bpe, tmp_path):
    """An unknown character that vocab.json does have gets its vocab.json id, as in transformers."""
    directory = write_hub_layout(tmp_path / "foreign", spm_bpe)
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    vocab["😀"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    ref, ours = Reference.from_pretrained(str(directory)), M2M100Tokenizer.from_pretrained(directory)
    texts = ["I 😀 the house", "😀", "дом 😀😀 🎉", "plain house"]
    expected = ref(texts, padding=True)
    assert any(vocab["😀"] in row for row in expected["input_ids"])
    assert_same(expected, ours(texts, padding=True))


# ------------------------------------------------------------------------------------------------------------
# BatchEncoding and the fast path
# ------------------------------------------------------------------------------------------------------------


def test_batch_encoding_behaves_like_a_dict(pair):
    _, ours = pair
    ours.tgt_lang = "fr"
    enc = ours(["the house", "дом зелёный"], text_target=["la maison", "x"], padding=True, return_tensors="pt")
    assert isinstance(enc, Mapping)
    assert list(enc.keys()) == ["input_ids", "attention_mask", "labels"]

    def model(input_ids, attention_mask, labels):
        return input_ids.shape, attention_mask.shape, labels.shape

    assert model(**enc)[0] == enc["input_ids"].shape
    assert enc.input_ids is enc["input_ids"]
    with pytest.raises(AttributeError):
        _ = enc.not_a_field
    assert enc.to("cpu") is enc and enc["input_ids"].device.type == "cpu"
    assert enc.to(torch.device("cpu")) is enc
    with pytest.raises(TypeError):
        enc.to(torch.float16)
    head = enc[:1]
    assert torch.equal(head["input_ids"], enc["input_ids"][:1])
    assert dict(enc).keys() == enc.keys()
    np_enc = ours(["a", "b c"], padding=True, return_tensors="np")
    assert np_enc["input_ids"].dtype == np.int64 and np_enc["attention_mask"].dtype == np.int64


def test_lists_use_one_sentencepiece_call(pair, monkeypatch):
    _, ours = pair
    calls = []
    real = ours.sp_model

    class Counting:
        def __getattr__(self, name):
            return getattr(real, name)

        def encode(self, inputs, **kwargs):
            calls.append(inputs)
            return real.encode(inputs, **kwargs)

    texts = make_corpus(50, seed=4) + ["the <s> house __fr__ x"]
    expected = ours(texts, padding=True)
    monkeypatch.setattr(ours, "sp_model", Counting())
    assert ours(texts, padding=True)["input_ids"] == expected["input_ids"]
    assert len(calls) == 1 and isinstance(calls[0], list) and len(calls[0]) == len(texts) + 2  # 3 segments


# ------------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------------


def test_unknown_language_codes(pair):
    ref, ours = pair
    for bad in ("xx", "EN", "english", "", None):
        with pytest.raises(LanguageError) as info:
            ours.get_lang_id(bad)
        assert isinstance(info.value, ValueError)
        assert repr(bad) in str(info.value) and "did you mean" in str(info.value)
    with pytest.raises(LanguageError, match=r"'enn'.*en \(English\)"):
        ours.get_lang_token("enn")
    with pytest.raises(KeyError):  # the reference's bare KeyError, for the record
        ref.get_lang_id("xx")
    ours.src_lang = "fr"
    with pytest.raises(LanguageError, match="'zz'"):
        ours.src_lang = "zz"
    assert ours.src_lang == "fr" and ours.prefix_tokens == [ours.get_lang_id("fr")]
    assert ours("house")["input_ids"][0] == ours.get_lang_id("fr")
    with pytest.raises(LanguageError):
        ours.tgt_lang = "qq"
    assert ours.tgt_lang is None
    with pytest.raises(LanguageError, match="'xx'"):
        M2M100Tokenizer.from_pretrained(ours.name_or_path, src_lang="xx")


def test_text_target_without_tgt_lang(pair):
    ref, ours = pair
    with pytest.raises(ValueError, match="tgt_lang"):
        ours("house", text_target="maison")
    with pytest.raises(KeyError):
        ref("house", text_target="maison")
    with pytest.raises(ValueError, match="text_target"):
        ours()
    with pytest.raises(TypeError, match="bogus"):
        ours("house", bogus=True)
    with pytest.raises(ValueError, match="padding"):
        ours("house", padding="sideways")
    with pytest.raises(ValueError, match="return_tensors"):
        ours("house", return_tensors="tf")


def _copy(tok_dir: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "ckpt"
    shutil.copytree(tok_dir, directory)
    return directory


@pytest.mark.parametrize(
    "filename,content,match",
    [
        ("vocab.json", None, "vocab.json"),
        ("sentencepiece.bpe.model", None, "sentencepiece.bpe.model"),
        ("vocab.json", b"{not json", "vocab.json"),
        ("vocab.json", b"[1, 2, 3]", "vocab.json"),
        ("vocab.json", b'{"<s>": 0, "a": "x"}', "vocab.json"),
        ("vocab.json", b'{"<s>": 0, "</s>": 2, "<pad>": 1}', "unknown token"),
        ("vocab.json", b"\xff\xfe\x00garbage", "vocab.json"),
        ("sentencepiece.bpe.model", b"", "sentencepiece.bpe.model"),
        ("sentencepiece.bpe.model", b"\x00\x01garbage that is not a model" * 10, "sentencepiece.bpe.model"),
        ("tokenizer_config.json", b"{oops", "tokenizer_config.json"),
        ("special_tokens_map.json", b"[", "special_tokens_map.json"),
    ],
)
def test_missing_or_corrupt_files(tok_dir, tmp_path, filename, content, match):
    directory = _copy(tok_dir, tmp_path)
    if content is None:
        (directory / filename).unlink()
    else:
        (directory / filename).write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as info:
        M2M100Tokenizer.from_pretrained(directory)
    assert isinstance(info.value, OSError)


def test_file_names_outside_the_directory_are_refused(tok_dir, tmp_path):
    directory = _copy(tok_dir, tmp_path)
    shutil.copy(tok_dir / "vocab.json", tmp_path / "vocab.json")  # a valid file that must still not be read
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    for key, value in (("vocab_file", "../vocab.json"), ("vocab_file", str(tmp_path / "vocab.json")),
                       ("spm_file", "../../etc/passwd"), ("spm_file", "/etc/passwd")):
        (directory / "tokenizer_config.json").write_text(json.dumps({**config, key: value}), encoding="utf-8")
        with pytest.raises(CheckpointError, match="outside"):
            M2M100Tokenizer.from_pretrained(directory)
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(CheckpointError, match="outside"):
        M2M100Tokenizer.from_pretrained(directory, vocab_file=str(tmp_path / "vocab.json"))
    with pytest.raises(CheckpointError, match="outside"):
        M2M100Tokenizer.from_pretrained(directory, spm_file="../sentencepiece.bpe.model")
    # A different plain name inside the directory is fine.
    shutil.copy(directory / "vocab.json", directory / "dict.json")
    (directory / "vocab.json").unlink()
    assert M2M100Tokenizer.from_pretrained(directory, vocab_file="dict.json")("house")["input_ids"]


def test_bad_paths_and_options(tok_dir, tmp_path):
    with pytest.raises(CheckpointError):
        M2M100Tokenizer.from_pretrained("./no/such/checkpoint")
    with pytest.raises(CheckpointError, match="vocab.json"):
        M2M100Tokenizer(vocab_file=tmp_path / "vocab.json", spm_file=tok_dir / "sentencepiece.bpe.model")
    with pytest.raises(CheckpointError, match="sentencepiece"):
        M2M100Tokenizer(vocab_file=tok_dir / "vocab.json", spm_file=tmp_path / "missing.model")
    with pytest.raises(ConfigError, match="language_codes"):
        M2M100Tokenizer.from_pretrained(tok_dir, language_codes="m2m200")
    with pytest.raises(ValueError, match="padding_side"):
        M2M100Tokenizer.from_pretrained(tok_dir, padding_side="middle")


# ------------------------------------------------------------------------------------------------------------
# AutoTokenizer / AutoConfig / AutoModelForSeq2SeqLM
# ------------------------------------------------------------------------------------------------------------


def test_auto_tokenizer(tok_dir, tmp_path):
    import m2m100
    from m2m100.auto import AutoTokenizer

    assert m2m100.AutoTokenizer is AutoTokenizer and m2m100.M2M100Tokenizer is M2M100Tokenizer
    tok = AutoTokenizer.from_pretrained(tok_dir, src_lang="fr", use_fast=True)
    assert isinstance(tok, M2M100Tokenizer) and tok.src_lang == "fr"
    assert_same(Reference.from_pretrained(str(tok_dir), src_lang="fr")(ALL_TEXTS[:30]), tok(ALL_TEXTS[:30]))

    directory = _copy(tok_dir, tmp_path)
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    (directory / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "BertTokenizer"}))
    with pytest.raises(ConfigError, match="BertTokenizer"):
        AutoTokenizer.from_pretrained(directory)
    del config["tokenizer_class"]
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    (directory / "config.json").write_text(json.dumps({"model_type": "m2m_100"}))
    assert isinstance(AutoTokenizer.from_pretrained(directory), M2M100Tokenizer)
    (directory / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="bert"):
        AutoTokenizer.from_pretrained(directory)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="tokenizer_config.json"):
        AutoTokenizer.from_pretrained(empty)


def test_auto_config_and_model(tmp_path):
    from m2m100 import M2M100Config
    from m2m100.auto import AutoConfig, AutoModelForSeq2SeqLM

    config = M2M100Config(vocab_size=256, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                          decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                          max_position_embeddings=32)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, M2M100Config) and loaded.vocab_size == 256 and loaded.d_model == 16
    model = AutoModelForSeq2SeqLM.from_config(loaded)
    model.save_pretrained(tmp_path)
    again = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert type(again).__name__ == "M2M100ForConditionalGeneration"
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(OSError, match="from_pretrained"):
        AutoConfig()


# ------------------------------------------------------------------------------------------------------------
# Deliberate differences (conftest layout: no special_tokens_map.json)
# ------------------------------------------------------------------------------------------------------------


def test_deliberate_differences(bare_dir):
    ref, ours = Reference.from_pretrained(str(bare_dir)), M2M100Tokenizer.from_pretrained(bare_dir)
    texts = [t for t in ALL_TEXTS if "__" not in t]
    # Text without language-token look-alikes: identical.
    assert_same(ref(texts, padding=True, return_tensors="pt"), ours(texts, padding=True, return_tensors="pt"))
    ids = ref(texts)["input_ids"]
    assert ours.batch_decode(ids, skip_special_tokens=True) == [
        t.removeprefix("__en__").strip() for t in ref.batch_decode(ids, skip_special_tokens=True)]
    # transformers leaves language tokens out of its special tokens when the files do not list them:
    generated = [2, ours.get_lang_id("fr"), *ours("the house", add_special_tokens=False)["input_ids"], 2]
    assert ref.decode(generated, skip_special_tokens=True) == "__fr__ the house"
    assert ours.decode(generated, skip_special_tokens=True) == "the house"
    assert len(ref) == ref.vocab_size == ours.vocab_size
    assert len(ours) == ours.vocab_size + 100
    assert ref("__fr__")["input_ids"] != ours("__fr__")["input_ids"] == [ours.get_lang_id("en"), ours.get_lang_id("fr"), 2]
    # Empty batches: transformers raises; we return empty fields.
    with pytest.raises(ValueError):
        ref([])
    assert dict(ours([])) == {"input_ids": [], "attention_mask": []}
    assert ours([], return_tensors="pt")["input_ids"].shape == (0, 0)
    # An empty batch decodes to an empty list (transformers up to 5.23 returned [""]; 5.24 returns [] as we do).
    assert ours.batch_decode([]) == []


@pytest.mark.parametrize("sp_model_kwargs", [{}, {"num_threads": 2}, {"num_threads": 1}])
def test_large_batches_with_threads(tok_dir, sp_model_kwargs):
    """Batches past the threading threshold (and explicit thread counts) give the same ids."""
    ref = Reference.from_pretrained(str(tok_dir))
    ours = M2M100Tokenizer.from_pretrained(tok_dir, sp_model_kwargs=sp_model_kwargs)
    texts = make_corpus(1100, seed=21) + EDGE_TEXTS
    assert_same(ref(texts, padding=True, return_tensors="np"), ours(texts, padding=True, return_tensors="np"))
