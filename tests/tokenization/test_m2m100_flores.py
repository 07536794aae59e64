"""M2M100Tokenizer against transformers on real text: FLORES-200 devtest lines in all 98 languages.

Sentencepiece models (BPE and unigram) are trained here on a sample of the devtest; the test lines are a
different sample (20 per language). Skips cleanly when the shared data (M2M100_DATA) is absent.
"""

from __future__ import annotations

import gzip
import json
import random

import pytest
import torch
from conftest import write_tokenizer_files
from transformers import M2M100Tokenizer as Reference

from m2m100.languages import FAIRSEQ_LANGUAGE_CODES, FLORES200_CODES
from m2m100.tokenizer import M2M100Tokenizer

LINES_PER_LANGUAGE = 20


@pytest.fixture(scope="module")
def flores(data_dir) -> dict[str, list[str]]:
    root = data_dir / "flores200-devtest" / "gz"
    if not root.is_dir():
        pytest.skip(f"FLORES-200 devtest not found under {root}")
    out = {}
    for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]:
        if code in FLORES200_CODES:
            with gzip.open(root / f"{FLORES200_CODES[code]}.devtest.gz", "rt", encoding="utf-8") as handle:
                out[code] = handle.read().splitlines()
    assert len(out) == 98 and all(len(lines) == 1012 for lines in out.values())
    return out


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def flores_dir(request, flores, tmp_path_factory):
    import sentencepiece as spm

    directory = tmp_path_factory.mktemp(f"flores_{request.param}")
    train = [line for code in sorted(flores) for line in flores[code][1::25]]  # ~40 lines per language
    random.Random(0).shuffle(train)
    (directory / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(directory / "train.txt"), model_prefix=str(directory / "spm"), model_type=request.param,
        vocab_size=8000 if request.param == "bpe" else 4000, character_coverage=0.9995, num_threads=1, minloglevel=2,
    )
    tok = directory / "tok"
    write_tokenizer_files(tok, directory / "spm.model", seed=5)
    specials = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    lang_tokens = [f"__{code}__" for code in FAIRSEQ_LANGUAGE_CODES["m2m100"]]
    (tok / "special_tokens_map.json").write_text(json.dumps({**specials, "additional_special_tokens": lang_tokens}))
    return tok


def sample(lines: list[str]) -> list[str]:
    return lines[::len(lines) // LINES_PER_LANGUAGE][:LINES_PER_LANGUAGE]


def test_all_languages_identical(flores, flores_dir):
    ref, ours = Reference.from_pretrained(str(flores_dir)), M2M100Tokenizer.from_pretrained(flores_dir)
    codes = sorted(flores)
    unk_seen = 0
    for i, code in enumerate(codes):
        lines = sample(flores[code])
        target = codes[(i + 1) % len(codes)]
        ref.src_lang = ours.src_lang = code
        ref.tgt_lang = ours.tgt_lang = target
        expected = ref(lines, text_target=lines[::-1], padding=True, return_tensors="pt")
        got = ours(lines, text_target=lines[::-1], padding=True, return_tensors="pt")
        assert list(got.keys()) == list(expected.keys())
        for key in expected:
            assert torch.equal(got[key], expected[key]), (code, key)
        lists = ours(lines, truncation=True, max_length=48)
        assert lists["input_ids"] == ref(lines, truncation=True, max_length=48)["input_ids"], code
        for line in lines:
            assert ours.tokenize(line) == ref.tokenize(line), (code, line)
        ids = expected["input_ids"]
        for skip in (False, True):
            assert ours.batch_decode(ids, skip_special_tokens=skip) == ref.batch_decode(
                ids, skip_special_tokens=skip), code
        unk_seen += int((got["input_ids"] == ours.unk_token_id).sum())
    assert unk_seen > 0  # dropped vocab.json pieces and uncovered characters were exercised


def test_wmt21_languages_identical(flores, flores_dir):
    ref = Reference.from_pretrained(str(flores_dir), language_codes="wmt21")
    ours = M2M100Tokenizer.from_pretrained(flores_dir, language_codes="wmt21")
    for code in FAIRSEQ_LANGUAGE_CODES["wmt21"]:
        lines = sample(flores[code])
        ref.src_lang = ours.src_lang = code
        assert ours(lines, padding=True)["input_ids"] == ref(lines, padding=True)["input_ids"], code
        assert ours.get_lang_id(code) == ref.get_lang_id(code)
