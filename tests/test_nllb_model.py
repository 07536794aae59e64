"""NLLB-200 checkpoints on our engine, against transformers (the oracle).

A random NLLB-configured checkpoint is saved by transformers (tests/builders.py build_nllb_checkpoint): an
NLLB-layout tokenizer (FLORES-200 codes as special tokens) and an M2M100ForConditionalGeneration whose embedding
matrix is larger than the tokenizer, as on the hub (256,206 rows for 256,204 tokens). Our model must give
transformers' logits and generated ids (greedy and beam, forced_bos_token_id of an NLLB code) in float, load
in int8 and prepacked modes, and refuse NLLB-MoE and other architectures by name.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import transformers
from builders import (
    NLLB_TINY,
    build_nllb_checkpoint,
    random_state_init,
    write_nllb_tokenizer,
)

from m2m100 import (
    AutoModelForSeq2SeqLM,
    M2M100Config,
    M2M100ForConditionalGeneration,
    Translator,
)
from m2m100.errors import CheckpointError, ConfigError
from m2m100.tokenization import NllbTokenizer

TEXTS = ["the house is green and we walk to school.", "дом зелёный мы идём в школу каждое утро"]


@pytest.fixture(scope="module")
def nllb_dir(spm_bpe, tmp_path_factory):
    return build_nllb_checkpoint(tmp_path_factory.mktemp("nllb_ckpt"), spm_bpe, seed=3)


@pytest.fixture(scope="module")
def reference(nllb_dir):
    return transformers.M2M100ForConditionalGeneration.from_pretrained(nllb_dir).eval()


def encode(directory, src_lang="fra_Latn", tgt_lang="deu_Latn"):
    tokenizer = NllbTokenizer.from_pretrained(directory, src_lang=src_lang, tgt_lang=tgt_lang)
    batch = tokenizer(TEXTS, text_target=TEXTS[::-1], padding=True, return_tensors="pt")
    return tokenizer, batch


def test_tokenizer_is_smaller_than_the_embedding_and_ids_match_transformers(nllb_dir):
    tokenizer, batch = encode(nllb_dir)
    fast = transformers.NllbTokenizerFast.from_pretrained(str(nllb_dir), src_lang="fra_Latn", tgt_lang="deu_Latn")
    want = fast(TEXTS, text_target=TEXTS[::-1], padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], want["input_ids"]) and torch.equal(batch["labels"], want["labels"])
    config = json.loads((nllb_dir / "config.json").read_text())
    assert config["vocab_size"] == len(tokenizer) + 2  # as the hub's 256206 for 256204 tokens
    assert batch["input_ids"][0, 0] == tokenizer.convert_tokens_to_ids("fra_Latn") == fast.convert_tokens_to_ids(
        "fra_Latn")


def test_logits_match_transformers(nllb_dir, reference):
    _, batch = encode(nllb_dir)
    ours = M2M100ForConditionalGeneration.from_pretrained(nllb_dir)
    assert ours.config.vocab_size == reference.config.vocab_size
    with torch.no_grad():
        got = ours(**batch)
        want = reference(**batch)
    assert got.logits.shape[-1] == reference.config.vocab_size
    torch.testing.assert_close(got.logits, want.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.loss, want.loss, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_matches_transformers_with_an_nllb_forced_bos(nllb_dir, reference, num_beams):
    tokenizer, batch = encode(nllb_dir)
    forced = tokenizer.convert_tokens_to_ids("zho_Hant")
    ours = M2M100ForConditionalGeneration.from_pretrained(nllb_dir)
    kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], num_beams=num_beams,
                  max_new_tokens=12, forced_bos_token_id=forced, do_sample=False)
    got = ours.generate(**kwargs)
    want = reference.generate(**kwargs)
    assert torch.equal(got, want)
    assert (got[:, 1] == forced).all()


def test_hub_sized_256206_vocabulary(spm_bpe, tmp_path):
    # The hub NLLB-200 config's vocab_size with a small d_model (16 MB of weights): far more rows than tokens.
    directory = build_nllb_checkpoint(tmp_path / "big", spm_bpe, seed=5, vocab_size=256206, encoder_layers=1,
                                      decoder_layers=1)
    reference = transformers.M2M100ForConditionalGeneration.from_pretrained(directory).eval()
    ours = M2M100ForConditionalGeneration.from_pretrained(directory)
    assert ours.model.shared.weight.shape == (256206, NLLB_TINY["d_model"])
    tokenizer, batch = encode(directory, "eng_Latn", "fra_Latn")
    assert len(tokenizer) < 256206
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch).logits, reference(**batch).logits, atol=1e-5, rtol=1e-5)
    kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=8,
                  forced_bos_token_id=tokenizer.convert_tokens_to_ids("fra_Latn"), num_beams=2)
    assert torch.equal(ours.generate(**kwargs), reference.generate(**kwargs))


def test_resized_checkpoint_and_a_config_that_disagrees_with_the_weights(nllb_dir, tmp_path):
    # A fine-tuned copy whose vocabulary was resized (transformers updates config.json's vocab_size).
    resized = tmp_path / "resized"
    shutil.copytree(nllb_dir, resized)
    model = transformers.M2M100ForConditionalGeneration.from_pretrained(nllb_dir)
    tokenizer = NllbTokenizer.from_pretrained(nllb_dir)
    model.resize_token_embeddings(len(tokenizer) + 8)
    random_state_init(model, seed=9)
    model.save_pretrained(resized)
    ours = M2M100ForConditionalGeneration.from_pretrained(resized)
    assert ours.config.vocab_size == len(tokenizer) + 8
    _, batch = encode(resized)
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch).logits, model.eval()(**batch).logits, atol=1e-5, rtol=1e-5)

    # A config.json that disagrees with the weights: a typed error naming both numbers and the fix (transformers
    # refuses too); passing the weights' size loads it.
    config = json.loads((resized / "config.json").read_text())
    config["vocab_size"] = len(tokenizer) + 2
    (resized / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=rf"vocab_size={len(tokenizer) + 2} but the embedding matrix has "
                                              rf"{len(tokenizer) + 8} rows.*vocab_size={len(tokenizer) + 8}"):
        M2M100ForConditionalGeneration.from_pretrained(resized)
    with pytest.raises(Exception, match="ignore_mismatched_sizes"):  # transformers 5.24 refuses as well
        transformers.M2M100ForConditionalGeneration.from_pretrained(resized)
    fixed = M2M100ForConditionalGeneration.from_pretrained(resized, vocab_size=len(tokenizer) + 8)
    torch.testing.assert_close(fixed.model.shared.weight, ours.model.shared.weight)


def test_tokenizer_larger_than_the_model_is_refused(nllb_dir):
    config = M2M100Config.from_pretrained(nllb_dir)
    config.vocab_size = 900  # fewer rows than the tokenizer's 1004 tokens
    model = M2M100ForConditionalGeneration(config)
    with pytest.raises(ConfigError, match="1004 tokens but the model's embedding matrix has only 900 rows"):
        Translator(model, NllbTokenizer.from_pretrained(nllb_dir))


def test_int8_and_prepacked_modes_load_an_nllb_checkpoint(nllb_dir, reference):
    tokenizer, batch = encode(nllb_dir)
    with torch.no_grad():
        want = reference(**batch).logits
    prepacked = M2M100ForConditionalGeneration.from_pretrained(nllb_dir, prepack=True)
    int8 = M2M100ForConditionalGeneration.from_pretrained(nllb_dir, quantize="int8")
    with torch.no_grad():
        packed_logits = prepacked(**batch).logits
        int8_logits = int8(**batch).logits
    torch.testing.assert_close(packed_logits, want, atol=1e-4, rtol=1e-4)
    assert int8_logits.shape == want.shape
    # the stated int8 tolerance (tests/test_quantize.py): within 5% of the logits' range; with 16-wide rows and
    # random weights near-ties are common, so top-1 agreement is asked of 3 positions in 4 (21 of 24 here)
    assert (int8_logits - want).abs().max() <= 0.05 * want.abs().max()
    assert (int8_logits.argmax(-1) == want.argmax(-1)).float().mean() >= 0.75
    forced = tokenizer.convert_tokens_to_ids("fra_Latn")
    kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=6,
                  forced_bos_token_id=forced, num_beams=2)
    assert torch.equal(prepacked.generate(**kwargs), reference.generate(**kwargs))
    assert (int8.generate(**kwargs)[:, 1] == forced).all()


def test_translator_speaks_the_models_flores_codes(nllb_dir, reference):
    translator = Translator.from_pretrained(nllb_dir, device="cpu")
    languages = translator.languages()
    assert len(languages) == 202 and ("eng_Latn", "English") in languages and ("zho_Hant", "Chinese (Traditional)") \
        in languages
    for value in ("en", "English", "eng", "en-US", "eng_Latn"):
        assert translator.normalize_language(value) == "eng_Latn"
    assert translator.normalize_language("Chinese") == "zho_Hans"
    assert translator.normalize_language("zh-TW") == "zho_Hant"
    got = translator.translate(TEXTS[0], source="English", target="French", num_beams=1, max_new_tokens=10)
    tokenizer = transformers.NllbTokenizerFast.from_pretrained(str(nllb_dir), src_lang="eng_Latn")
    batch = tokenizer([TEXTS[0]], return_tensors="pt")
    ids = reference.generate(**batch, num_beams=1, max_new_tokens=10,
                             forced_bos_token_id=tokenizer.convert_tokens_to_ids("fra_Latn"))
    assert got == tokenizer.batch_decode(ids, skip_special_tokens=True)[0]
    # the detector's M2M100 codes come back as the model's FLORES codes
    [(code, confidence)] = translator.detect(["Bonjour tout le monde, comment allez-vous aujourd'hui ?"])
    assert code == "fra_Latn" and confidence > 0.5


def test_nllb_moe_and_other_architectures_are_refused_by_name(nllb_dir, tmp_path):
    moe = tmp_path / "moe"  # as on the hub (facebook/nllb-moe-54b): NLLB's tokenizer, an nllb_moe config
    shutil.copytree(nllb_dir, moe)
    (moe / "model.safetensors").unlink()
    (moe / "config.json").write_text(json.dumps({"model_type": "nllb_moe", "architectures": ["NllbMoeForConditionalGeneration"],
                                                 "vocab_size": 256206, "num_experts": 128}))
    for load in (M2M100ForConditionalGeneration.from_pretrained, AutoModelForSeq2SeqLM.from_pretrained,
                 M2M100Config.from_pretrained, Translator.from_pretrained):
        with pytest.raises(ConfigError, match="NLLB-MoE .*not supported"):
            load(moe)
    marian = tmp_path / "marian"
    marian.mkdir()
    (marian / "config.json").write_text(json.dumps({"model_type": "marian", "vocab_size": 100}))
    with pytest.raises(ConfigError, match="model_type 'marian', an architecture this package does not support"):
        M2M100ForConditionalGeneration.from_pretrained(marian)
    nameless = tmp_path / "nameless"
    nameless.mkdir()
    (nameless / "config.json").write_text(json.dumps({"architectures": ["MarianMTModel"], "vocab_size": 100}))
    with pytest.raises(ConfigError, match="MarianMTModel"):
        M2M100Config.from_pretrained(nameless)
    # expert weights under an m2m_100 config: named as mixture-of-experts, not just "unexpected key"
    from safetensors.torch import load_file, save_file

    mixed = tmp_path / "mixed"
    shutil.copytree(nllb_dir, mixed)
    state = load_file(mixed / "model.safetensors")
    state["model.encoder.layers.1.ffn.experts.expert_0.fc1.weight"] = torch.zeros(4, 16)
    save_file(state, mixed / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="mixture-of-experts weights \\(NLLB-MoE\\) are not supported"):
        M2M100ForConditionalGeneration.from_pretrained(mixed)


def test_tokenizer_only_directory_builds(tmp_path, spm_bpe):
    # write_nllb_tokenizer alone gives a directory transformers' fast class and ours read alike
    size = write_nllb_tokenizer(tmp_path / "tok", spm_bpe)
    ours = NllbTokenizer.from_pretrained(tmp_path / "tok")
    ref = transformers.NllbTokenizerFast.from_pretrained(str(tmp_path / "tok"))
    assert len(ours) == len(ref) == size
    assert ours.convert_tokens_to_ids(["eng_Latn", "<mask>"]) == ref.convert_tokens_to_ids(["eng_Latn", "<mask>"])
