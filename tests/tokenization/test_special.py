"""Added tokens, special-token setters and overflow of M2M100Tokenizer against transformers' M2M100Tokenizer.

Issue #19: `add_tokens`, `add_special_tokens`, `additional_special_tokens=` at load, a new language code
`__xx__` for fine-tuning, vocabularies that lack a named special token, `return_overflowing_tokens` with
`stride`, `tok.bos_token_id = ...`, `mask_token`/`cls_token`, `added_tokens_decoder`. Where transformers 5.24
gives two tokens the same id or fails, the test says so and checks our documented behaviour instead.
"""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from conftest import write_tokenizer_files
from transformers import M2M100Tokenizer as Reference

from m2m100.errors import CheckpointError
from m2m100.tokenizer import M2M100Tokenizer

TEXTS = [
    "the house hello_world __xx__ green __yy__",
    "the househello_worldx",
    "__xx__ дом зелёный __en__ house",
    "hello_world",
    "",
    "__yy____xx__ hello_worldhello_world",
]
LONG = [
    "the house is green and we walk to school every morning while birds sing",
    "дом зелёный мы идём в школу каждое утро птицы поют привет мир",
    "we walk to school every morning the house is green and birds sing",
]


@pytest.fixture(scope="module")
def tok_dir(spm_bpe, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tok_added")
    write_tokenizer_files(directory, spm_bpe, seed=5)
    return directory


def both(directory, **kwargs):
    return Reference.from_pretrained(str(directory), **kwargs), M2M100Tokenizer.from_pretrained(directory, **kwargs)


def decoder_view(tok):
    return {index: (str(token), bool(token.special)) for index, token in tok.added_tokens_decoder.items()}


def add_same(tok):
    n = tok.add_tokens(["hello_world", "__xx__"])
    m = tok.add_special_tokens({"additional_special_tokens": ["__yy__"]}, replace_extra_special_tokens=False)
    return n, m


def test_added_tokens_match_transformers(tok_dir):
    ref, ours = both(tok_dir)
    assert add_same(ref) == add_same(ours) == (2, 1)
    assert len(ours) == len(ref) == ours.vocab_size + 100 + 3
    assert ours.convert_tokens_to_ids(["hello_world", "__xx__", "__yy__"]) == [len(ref) - 3, len(ref) - 2, len(ref) - 1]
    assert ours.convert_tokens_to_ids(["hello_world", "__xx__", "__yy__"]) == ref.convert_tokens_to_ids(
        ["hello_world", "__xx__", "__yy__"])
    assert ours.get_added_vocab() == ref.get_added_vocab()
    assert decoder_view(ours) == decoder_view(ref)
    assert ours.all_special_ids == ref.all_special_ids
    for text in TEXTS:
        assert ours.tokenize(text) == ref.tokenize(text), text
        ids = ref(text)["input_ids"]
        assert ours(text)["input_ids"] == ids, text
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), text
    batch = ours(TEXTS, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], ref(TEXTS, padding=True, return_tensors="pt")["input_ids"])
    # adding again adds nothing
    assert ours.add_tokens(["hello_world", "▁house"]) == ref.add_tokens(["hello_world", "▁house"]) == 0
    assert ours("▁house house")["input_ids"] == ref("▁house house")["input_ids"]


def test_add_special_tokens_replaces_the_extra_list(tok_dir):
    ref, ours = both(tok_dir)
    assert ours.add_special_tokens({"additional_special_tokens": ["<extra>"]}) == 1
    assert ref.add_special_tokens({"additional_special_tokens": ["<extra>"]}) == 1
    assert ours.additional_special_tokens[0] == "<extra>"
    assert ref.extra_special_tokens == ["<extra>"]
    ids = ref("__fr__ <extra> house")["input_ids"]
    assert ours("__fr__ <extra> house")["input_ids"] == ids
    # Deliberate difference: language tokens stay special, so decoding still drops `__en__`/`__fr__`;
    # transformers 5.24 (replace_extra_special_tokens=True) then prints them.
    assert "__fr__" in ref.decode(ids, skip_special_tokens=True)
    assert ours.decode(ids, skip_special_tokens=True) == "house"
    with pytest.raises(ValueError, match="not a valid special token"):
        ours.add_special_tokens({"foo_token": "<foo>"})
    with pytest.raises(ValueError):
        ours.add_special_tokens({"additional_special_tokens": [3]})
    with pytest.raises(TypeError):
        ours.add_tokens([3])


def test_added_tokens_survive_save_and_load(tok_dir, tmp_path):
    ref, ours = both(tok_dir)
    add_same(ref)
    add_same(ours)
    ours.save_pretrained(tmp_path / "ours")
    ref.save_pretrained(tmp_path / "ref")
    saved = json.loads((tmp_path / "ours" / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    assert saved[str(ours.convert_tokens_to_ids("hello_world"))]["special"] is False
    expected = [ref(text)["input_ids"] for text in TEXTS]
    for directory in (tmp_path / "ours", tmp_path / "ref"):
        for cls in (Reference, M2M100Tokenizer):
            loaded = cls.from_pretrained(str(directory))
            assert len(loaded) == len(ref), (directory, cls)
            assert [loaded(text)["input_ids"] for text in TEXTS] == expected, (directory, cls)
        again = M2M100Tokenizer.from_pretrained(directory)
        assert decoder_view(again) == decoder_view(ref)
    clone = pickle.loads(pickle.dumps(ours))
    assert [clone(text)["input_ids"] for text in TEXTS] == expected


def test_new_language_code_for_fine_tuning(tok_dir, tmp_path):
    ref, ours = both(tok_dir)
    ref.add_special_tokens({"additional_special_tokens": ["__xx__"]}, replace_extra_special_tokens=False)
    ours.add_special_tokens({"additional_special_tokens": ["__xx__"]}, replace_extra_special_tokens=False)
    new_id = ref.convert_tokens_to_ids("__xx__")
    assert new_id == len(ref) - 1 and ours.get_lang_id("xx") == new_id
    body = ref("the house", add_special_tokens=False)["input_ids"]
    # transformers has no language `xx` (src_lang="xx" is a KeyError there); ours treats `__xx__` as one.
    with pytest.raises(KeyError):
        ref.src_lang = "xx"
    ours.src_lang = "xx"
    ours.tgt_lang = "xx"
    encoded = ours("the house", text_target="the house")
    assert encoded["input_ids"] == [new_id, *body, ours.eos_token_id]
    assert encoded["labels"] == [new_id, *body, ours.eos_token_id]
    assert ours.decode(encoded["input_ids"], skip_special_tokens=True) == "the house"
    assert "xx" in ours.lang_code_to_id and ours.language_names["xx"] == "xx"
    ours.save_pretrained(tmp_path)
    loaded = M2M100Tokenizer.from_pretrained(tmp_path)
    assert loaded.src_lang == "xx" and loaded.get_lang_id("xx") == new_id
    assert loaded("the house")["input_ids"] == encoded["input_ids"]


def test_new_language_code_as_forced_bos(tiny_checkpoint):
    from m2m100 import M2M100ForConditionalGeneration

    tok = M2M100Tokenizer.from_pretrained(tiny_checkpoint, additional_special_tokens=["__xx__"])
    model = M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint)
    new_id = tok.get_lang_id("xx")
    assert new_id == len(tok) - 1 < model.config.vocab_size  # the fairseq filler rows hold it: no resize needed
    tok.src_lang = "xx"
    out = model.generate(**tok(["the house"], return_tensors="pt"), forced_bos_token_id=new_id, max_new_tokens=4)
    assert out[0, 1].item() == new_id


def test_additional_special_tokens_at_load(tok_dir):
    ref, ours = both(tok_dir, additional_special_tokens=["__xx__", "<extra>"])
    ids = ours.convert_tokens_to_ids(["__xx__", "<extra>"])
    base = ours.vocab_size + 100
    assert ids == [base, base + 1] and len(ours) == base + 2
    assert ours("__af__ a __xx__ <extra>")["input_ids"][-3:] == [base, base + 1, ours.eos_token_id]
    assert ours.convert_tokens_to_ids("__af__") == ref.convert_tokens_to_ids("__af__")
    # transformers 5.24 numbers such tokens from len(vocab.json), onto the language tokens' ids: `__xx__` and
    # `__af__` share an id there. Ours continue after the language tokens, as add_special_tokens does.
    assert ref.convert_tokens_to_ids("__xx__") == ref.convert_tokens_to_ids("__af__")


@pytest.mark.parametrize("missing", ["<s>", "<pad>", "</s>"])
def test_vocabulary_without_a_named_special_token_loads(tok_dir, tmp_path, missing):
    directory = tmp_path / "tok"
    shutil.copytree(tok_dir, directory)
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    del vocab[missing]
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    ref, ours = both(directory)  # transformers loads it too
    index = ours.convert_tokens_to_ids(missing)
    assert index not in vocab.values() and index not in ours.lang_code_to_id.values()
    assert ours.convert_ids_to_tokens(index) == missing
    assert ours.decode([index]) == missing and ours.decode([index], skip_special_tokens=True) == ""
    if missing != "</s>":
        for text in ("house", "the house is green"):
            assert ours(text)["input_ids"] == ref(text)["input_ids"]
    else:
        # transformers 5.24 gives the missing eos an id of an existing piece (id collision); ours is new.
        assert ref.eos_token_id in vocab.values()
        assert ours("house")["input_ids"][-1] == index


def test_vocabulary_without_unk_is_a_clear_error(tok_dir, tmp_path):
    directory = tmp_path / "tok"
    shutil.copytree(tok_dir, directory)
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    del vocab["<unk>"]
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CheckpointError, match="unknown token"):
        M2M100Tokenizer.from_pretrained(directory)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kwargs", [
    dict(max_length=6, truncation=True, stride=2),
    dict(max_length=5, truncation="only_first", stride=0),
    dict(max_length=7, truncation="longest_first", stride=50, padding=True, return_length=True,
         return_special_tokens_mask=True),
    dict(max_length=6, truncation=True, stride=1, padding="max_length", pad_to_multiple_of=2),
])
def test_overflowing_tokens_with_stride(tok_dir, side, kwargs):
    ref, ours = both(tok_dir, truncation_side=side)
    for text in (LONG, LONG[0]):
        expected = ref(text, return_overflowing_tokens=True, **kwargs)
        got = ours(text, return_overflowing_tokens=True, **kwargs)
        assert "overflowing_tokens" in expected
        assert list(got.keys()) == list(expected.keys())
        assert dict(got) == dict(expected)
    pairs = dict(text=["house", "green", "дом"], text_pair=LONG, truncation="only_second", max_length=8, stride=2)
    assert dict(ours(**pairs, return_overflowing_tokens=True)) == dict(ref(**pairs, return_overflowing_tokens=True))


def test_overflow_edge_cases(tok_dir):
    ref, ours = both(tok_dir)
    for tok in (ref, ours):  # a pair cut with longest_first has no defined overflow
        with pytest.raises(ValueError, match="longest_first"):
            tok(LONG, LONG, truncation=True, max_length=8, return_overflowing_tokens=True)
    # with tensors both drop the overflow fields (transformers' python tokenizers cannot make tensors of them)
    kwargs = dict(truncation=True, max_length=5, stride=1, padding=True, return_tensors="pt")
    assert list(ours(LONG, return_overflowing_tokens=True, **kwargs).keys()) == list(
        ref(LONG, return_overflowing_tokens=True, **kwargs).keys()) == ["input_ids", "attention_mask"]
    # nothing cut: no overflow fields
    assert dict(ours("house", return_overflowing_tokens=True, truncation=True, max_length=50)) == dict(
        ref("house", return_overflowing_tokens=True, truncation=True, max_length=50))
    # A batch where only some sequences overflow: transformers 5.24 fails (AssertionError in pad);
    # ours keeps the fields aligned with [] and 0 for the sequences that fit.
    mixed = [LONG[0], "house"]
    with pytest.raises(AssertionError):
        ref(mixed, truncation=True, max_length=6, return_overflowing_tokens=True)
    got = ours(mixed, truncation=True, max_length=6, stride=1, return_overflowing_tokens=True)
    first = ref(LONG[0], truncation=True, max_length=6, stride=1, return_overflowing_tokens=True)
    assert got["overflowing_tokens"] == [first["overflowing_tokens"], []]
    assert got["num_truncated_tokens"] == [first["num_truncated_tokens"], 0]
    with pytest.raises(ValueError, match="stride"):
        ours("house", stride=-1)


def test_special_token_setters_and_absent_tokens(tok_dir):
    ref, ours = both(tok_dir)
    for tok in (ref, ours):
        assert tok.mask_token is None and tok.cls_token is None
        assert tok.mask_token_id is None and tok.cls_token_id is None
    for attr, value in (("bos_token_id", 5), ("pad_token_id", 7), ("eos_token_id", 9), ("sep_token_id", 11)):
        setattr(ref, attr, value)
        setattr(ours, attr, value)
        assert getattr(ours, attr) == getattr(ref, attr) == value
        assert getattr(ours, attr[:-3]) == getattr(ref, attr[:-3])
    ours.src_lang = ref.src_lang = "fr"
    assert ours(LONG, padding=True)["input_ids"] == ref(LONG, padding=True)["input_ids"]
    ours.unk_token = ref.unk_token = "<unk>"
    assert ours.add_special_tokens({"mask_token": "<mask>"}) == ref.add_special_tokens({"mask_token": "<mask>"}) == 1
    assert ours.mask_token == ref.mask_token == "<mask>"
    assert ours.mask_token_id == ref.mask_token_id == len(ref) - 1
    assert ours("a <mask> b")["input_ids"] == ref("a <mask> b")["input_ids"]
    assert ours.all_special_ids == ref.all_special_ids
    with pytest.raises(ValueError):
        ours.bos_token_id = "5"


def test_many_tokens_in_one_call(tok_dir):
    ref, ours = both(tok_dir)
    tokens = [f"<t{i}>" for i in range(40)] + ["<t3>", "▁house", "__zz__"]
    assert ours.add_tokens(tokens) == ref.add_tokens(tokens) == 41
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    text = "<t0><t39> house <t3>__zz__"
    assert ours(text)["input_ids"] == ref(text)["input_ids"]
    assert ours.get_lang_id("zz") == ref.convert_tokens_to_ids("__zz__")
