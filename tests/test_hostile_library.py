"""Hostile input to the library (issue #17): raw generate() arguments, absurd configs, odd weight files.

Each case must be a typed error naming the argument, key or file, raised before anything large is allocated.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import TINY, save_random_model
from m2m100 import M2M100Config, M2M100ForConditionalGeneration
from m2m100.errors import CheckpointError, ConfigError, GenerationError

pytestmark = pytest.mark.hostile

VOCAB = 200


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("hostile_model"), {**TINY, "vocab_size": VOCAB})


@pytest.fixture(scope="module")
def model(model_dir):
    return M2M100ForConditionalGeneration.from_pretrained(model_dir)


# ---- generate() ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ids, words", [
    (torch.tensor([[5, -1, 2]]), ["input_ids", "-1", "[0, 200)"]),
    (torch.tensor([[5, VOCAB, 2]]), ["input_ids", str(VOCAB)]),
    (torch.tensor([[5, 10**9, 2]]), ["input_ids", str(10**9)]),
    (torch.tensor([[5.0, 6.0, 2.0]]), ["input_ids", "float"]),
    (torch.zeros((0, 3), dtype=torch.long), ["input_ids", "empty"]),
    (torch.zeros((2, 0), dtype=torch.long), ["input_ids", "empty"]),
    ([[5, 6, 2]], ["input_ids", "torch.Tensor", "list"]),
    ((5, 6, 2), ["input_ids", "tuple"]),
])
def test_generate_rejects_bad_ids_with_a_typed_error(model, ids, words):
    with pytest.raises(GenerationError) as info:
        model.generate(input_ids=ids, max_new_tokens=4)
    for word in words:
        assert word in str(info.value)


def test_generate_rejects_bad_decoder_input_ids(model):
    with pytest.raises(GenerationError, match="decoder_input_ids"):
        model.generate(input_ids=torch.tensor([[5, 6, 2]]), decoder_input_ids=torch.tensor([[2, -7]]),
                       max_new_tokens=4)


def test_generate_rejects_a_list_attention_mask(model):
    with pytest.raises(GenerationError, match="attention_mask"):
        model.generate(input_ids=torch.tensor([[5, 6, 2]]), attention_mask=[[1, 1, 1]], max_new_tokens=4)


def test_generate_still_accepts_valid_ids(model):
    out = model.generate(input_ids=torch.tensor([[5, 6, 2]]), max_new_tokens=3)
    assert out.shape[0] == 1 and out.dtype == torch.long


def test_a_million_beams_is_refused_before_allocating(model):
    start = time.perf_counter()
    with pytest.raises(GenerationError) as info:
        model.generate(input_ids=torch.tensor([[5, 6, 2]]), num_beams=10**6, max_new_tokens=50)
    message = str(info.value)
    assert "num_beams=1000000" in message and "GiB" in message
    assert time.perf_counter() - start < 5.0


def test_memory_estimate_scales_with_beams_batch_and_length(model):
    from m2m100.generation import GenerationConfig
    from m2m100.generation.limits import estimate_bytes

    base = estimate_bytes(model, GenerationConfig(num_beams=2, max_new_tokens=20), 2, 10)
    assert estimate_bytes(model, GenerationConfig(num_beams=4, max_new_tokens=20), 2, 10) > 1.9 * base
    assert estimate_bytes(model, GenerationConfig(num_beams=2, max_new_tokens=20), 4, 10) > 1.9 * base
    assert estimate_bytes(model, GenerationConfig(num_beams=2, max_new_tokens=60), 2, 10) > base


# ---- config bounds -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [
    ("encoder_layers", 10**6), ("decoder_layers", 10**6), ("max_position_embeddings", 10**12),
    ("vocab_size", 10**10), ("d_model", 2**20), ("encoder_ffn_dim", 10**9), ("decoder_attention_heads", 2**16),
])
def test_config_sizes_are_bounded(key, value):
    with pytest.raises(ConfigError, match=key):
        M2M100Config(**{**TINY, key: value})


@pytest.mark.parametrize("key, value", [("encoder_layers", 10**6), ("max_position_embeddings", 10**12)])
def test_from_pretrained_refuses_hostile_config_before_allocating(tmp_path, model_dir, key, value):
    shutil.copytree(model_dir, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config[key] = value
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=key):
        M2M100ForConditionalGeneration.from_pretrained(tmp_path / "m")
    assert time.perf_counter() - start < 5.0


def test_released_model_sizes_pass():
    # NLLB-3.3B-like sizes are well within the bounds.
    M2M100Config(vocab_size=256206, d_model=2048, encoder_layers=24, decoder_layers=24, encoder_ffn_dim=8192,
                 decoder_ffn_dim=8192, encoder_attention_heads=16, decoder_attention_heads=16)


# ---- weight files -----------------------------------------------------------------------------------------------
def test_integer_weights_are_a_checkpoint_error_naming_file_and_key(tmp_path, model_dir):
    shutil.copytree(model_dir, tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    state = load_file(path)
    key = next(k for k in sorted(state) if k.endswith("fc1.weight"))
    state[key] = (state[key] * 100).to(torch.int32)
    save_file(state, path, metadata={"format": "pt"})
    for kwargs in ({}, {"prepack": False}):  # the plain and the streaming (CLI default on CPU) loaders
        with pytest.raises(CheckpointError) as info:
            M2M100ForConditionalGeneration.from_pretrained(tmp_path / "m", **kwargs)
        assert key in str(info.value) and "model.safetensors" in str(info.value) and "int32" in str(info.value)


def test_integer_weights_fail_in_the_translator_too(tmp_path, tiny_checkpoint):
    from m2m100 import Translator

    shutil.copytree(tiny_checkpoint, tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    state = load_file(path)
    key = sorted(state)[0]
    state[key] = state[key].to(torch.int64)
    save_file(state, path, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="int64"):
        Translator.from_pretrained(str(tmp_path / "m"))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_weights_linked_to_a_device_are_refused(tmp_path, model_dir, target):
    shutil.copytree(model_dir, tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(CheckpointError) as info:
        M2M100ForConditionalGeneration.from_pretrained(tmp_path / "m")
    assert "model.safetensors" in str(info.value) and target in str(info.value)
    assert "no weights found" not in str(info.value)
