"""Opt-in int8 and bf16 modes: they run, agree with fp32 within stated tolerances, and fail clearly."""

import pytest
import torch

from conftest import save_random_model
from m2m100 import CheckpointError, ConfigError, M2M100ForConditionalGeneration
from m2m100.quantize import Int8Embedding, Int8Linear, quantize_model, quantize_per_row

CFG = dict(vocab_size=300, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
           decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=64,
           dropout=0.0, attention_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("quant"), CFG)


def inputs():
    gen = torch.Generator().manual_seed(1)
    src = torch.randint(4, 300, (3, 12), generator=gen)
    src[:, -1] = 2
    dec = torch.randint(4, 300, (3, 8), generator=gen)
    dec[:, 0] = 2
    return dict(input_ids=src, decoder_input_ids=dec)


def logits(model):
    with torch.no_grad():
        return model(**inputs()).logits.float()


def test_int8_streaming_load_swaps_every_matrix_and_agrees_with_fp32(checkpoint):
    fp32 = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    int8 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8")
    assert isinstance(int8.lm_head, Int8Linear) and isinstance(int8.model.shared, Int8Embedding)
    assert int8.model.encoder.embed_tokens is int8.model.shared is int8.model.decoder.embed_tokens
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.modules())
    assert not any(p.is_meta for p in int8.parameters())
    a, b = logits(fp32), logits(int8)
    # stated tolerance: per-row int8 weights keep logits within 5% of their range and the top-1 token
    assert (a - b).abs().max() <= 0.05 * a.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.9


def test_in_memory_quantization_equals_streaming_load(checkpoint):
    streamed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8")
    in_memory = quantize_model(M2M100ForConditionalGeneration.from_pretrained(checkpoint), "int8")
    torch.testing.assert_close(logits(streamed), logits(in_memory), atol=0, rtol=0)


def test_int8_generate_runs_and_mostly_agrees(checkpoint):
    fp32 = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    int8 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8")
    src = inputs()["input_ids"]
    kwargs = dict(input_ids=src, max_new_tokens=6, num_beams=2, forced_bos_token_id=5)
    a, b = fp32.generate(**kwargs), int8.generate(**kwargs)
    assert a.shape[0] == b.shape[0] == 3 and (b[:, 1] == 5).all()
    assert (a[:, :3] == b[:, :3]).float().mean() >= 0.6  # the first steps agree on most rows


def test_bf16_runs_and_agrees(checkpoint):
    fp32 = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    bf16 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16)
    a, b = logits(fp32), logits(bf16)
    assert (a - b).abs().max() <= 0.05 * a.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.9


def test_fp32_shared_matrix_is_contiguous_and_inference_layout_exact(checkpoint):
    # the parameter is plain row-major; the opt-in cached head multiplies by a packed copy (m2m100.head)
    from m2m100.head import cache_head

    model = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    weight = model.model.shared.weight
    assert weight.is_contiguous() and model.lm_head.weight is weight
    plain = logits(model)  # the reference F.linear
    head = cache_head(model)
    cached = logits(model)
    assert head.has_cache and model.lm_head.weight is weight
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)


def test_bad_modes_and_saving_quantized(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="quantize must be one of"):
        M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int4")
    int8 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8")
    with pytest.raises(CheckpointError, match="quantized"):
        int8.save_pretrained(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError):
            M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8", device_map="cuda")


def test_contiguous_parameters_keeps_ties_and_values(checkpoint):
    model = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    before = logits(model)
    model.contiguous_parameters()
    assert all(p.is_contiguous() for p in model.parameters())
    assert model.lm_head.weight is model.model.shared.weight is model.model.encoder.embed_tokens.weight
    torch.testing.assert_close(logits(model), before, atol=1e-5, rtol=0)


def test_tall_matrices_are_packed_in_row_blocks_with_identical_results(monkeypatch):
    gen = torch.Generator().manual_seed(3)
    weight, bias = torch.randn(1000, 64, generator=gen), torch.randn(1000, generator=gen)
    x = torch.randn(2, 5, 64, generator=gen)
    whole = Int8Linear.from_float(weight, bias)
    monkeypatch.setattr(Int8Linear, "BLOCK_ROWS", 256)
    blocked = Int8Linear.from_float(weight, bias)
    if blocked.packed is not None:
        assert len(blocked.packed) == 4 and len(whole.packed) == 1
    # activations are quantised per call from the same input, so every block computes exactly the same numbers
    torch.testing.assert_close(blocked(x), whole(x), atol=0, rtol=0)
    reference = torch.nn.functional.linear(x, weight, bias)
    assert (whole(x) - reference).abs().max() <= 0.05 * reference.abs().max()  # and it is still the layer


def test_per_row_quantisation_is_symmetric_round_to_nearest():
    weight = torch.tensor([[0.5, -1.0, 0.25, 0.0], [3.0, 1.5, -0.75, 2.9], [0.0, 0.0, 0.0, 0.0]])
    q, scale = quantize_per_row(weight)
    torch.testing.assert_close(scale, torch.tensor([1.0 / 127, 3.0 / 127, 1e-12 / 127]))
    assert q.dtype == torch.int8 and q.abs().max() == 127
    assert q.tolist() == [[64, -127, 32, 0], [127, 64, -32, 123], [0, 0, 0, 0]]
    assert torch.equal(weight, torch.tensor([[0.5, -1.0, 0.25, 0.0], [3.0, 1.5, -0.75, 2.9], [0.0] * 4]))  # untouched
