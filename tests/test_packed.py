"""Prepacked (oneDNN) weights: exact inference swap, streaming load, save/unpack round trips, clear refusals."""

import subprocess
import sys

import pytest
import torch

from conftest import save_random_model
from m2m100 import ConfigError, M2M100ForConditionalGeneration, TrainingError
from m2m100.packed import PackedLinear, can_prepack, check_prepack, prepack_model, unpack_model

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(not can_prepack(CPU, torch.float32), reason="this torch build has no oneDNN")

CFG = dict(vocab_size=300, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
           decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=64,
           dropout=0.0, attention_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("packed"), CFG, eos_boost=3.0)


def inputs():
    gen = torch.Generator().manual_seed(1)
    src = torch.randint(4, 300, (3, 12), generator=gen)
    src[:, -1] = 2
    src[1, 8:] = 1  # a padded row
    src[1, 7] = 2
    dec = torch.randint(4, 300, (3, 8), generator=gen)
    dec[:, 0] = 2
    return dict(input_ids=src, attention_mask=src.ne(1).long(), decoder_input_ids=dec)


def logits(model):
    with torch.no_grad():
        return model(**inputs()).logits.float()


def generate(model, **kwargs):
    batch = inputs()
    with torch.no_grad():
        return model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              forced_bos_token_id=5, max_new_tokens=10, **kwargs)


def test_streaming_prepack_swaps_every_linear_and_is_exact(checkpoint):
    plain = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    packed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=True)
    assert packed.packed_weights and isinstance(packed.lm_head, PackedLinear)
    assert not any(type(m) is torch.nn.Linear for m in packed.modules())
    assert not any(p.requires_grad or p.is_meta for p in packed.parameters())
    # fp32 arithmetic in another summation order: equal to float rounding
    torch.testing.assert_close(logits(packed), logits(plain), atol=2e-5, rtol=1e-5)
    for kwargs in (dict(), dict(num_beams=3), dict(num_beams=2, num_return_sequences=2, length_penalty=0.5)):
        assert torch.equal(generate(packed, **kwargs), generate(plain, **kwargs))


def test_in_memory_prepack_equals_streaming_load(checkpoint):
    streamed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=True)
    in_memory = prepack_model(M2M100ForConditionalGeneration.from_pretrained(checkpoint))
    torch.testing.assert_close(logits(streamed), logits(in_memory), atol=0, rtol=0)


def test_pickled_checkpoint_is_packed_after_a_normal_load(checkpoint, tmp_path):
    M2M100ForConditionalGeneration.from_pretrained(checkpoint).save_pretrained(tmp_path, safe_serialization=False)
    packed = M2M100ForConditionalGeneration.from_pretrained(tmp_path, prepack=True)
    assert isinstance(packed.lm_head, PackedLinear)
    torch.testing.assert_close(logits(packed), logits(M2M100ForConditionalGeneration.from_pretrained(checkpoint)),
                               atol=2e-5, rtol=1e-5)


def test_prepacked_generation_equals_transformers(checkpoint):
    transformers = pytest.importorskip("transformers")
    reference = transformers.M2M100ForConditionalGeneration.from_pretrained(checkpoint).eval()
    packed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=True)
    for kwargs in (dict(), dict(num_beams=4)):
        assert torch.equal(generate(packed, **kwargs), generate(reference, **kwargs))


@pytest.mark.skipif(not can_prepack(CPU, torch.bfloat16), reason="no oneDNN bfloat16 on this CPU")
def test_bf16_prepack_agrees_with_bf16(checkpoint):
    bf16 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16)
    packed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, prepack=True)
    assert packed.lm_head.dtype == torch.bfloat16 and packed.dtype == torch.bfloat16
    a, b = logits(bf16), logits(packed)
    # both round to bf16 at every layer, in different orders: within 2% of the logit range, same top-1 mostly
    assert (a - b).abs().max() <= 0.02 * a.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.9


def test_save_and_unpack_give_back_the_original_weights(checkpoint, tmp_path):
    original = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    packed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=True)
    packed.save_pretrained(tmp_path)
    reloaded = M2M100ForConditionalGeneration.from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(original.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), name
    unpack_model(packed)
    assert not packed.packed_weights and type(packed.lm_head) is torch.nn.Linear
    assert packed.lm_head.weight is packed.model.shared.weight  # tie restored
    torch.testing.assert_close(logits(packed), logits(original), atol=0, rtol=0)


def test_packed_model_refuses_training_and_dtype_changes(checkpoint):
    packed = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=True)
    packed.model.shared.weight.requires_grad_(True)
    with pytest.raises(TrainingError, match="packed for inference"):
        packed(**inputs())
    packed.model.shared.weight.requires_grad_(False)
    layer = packed.lm_head
    with pytest.raises(ConfigError, match="bfloat16 inputs"):
        layer(torch.zeros(1, 64, dtype=torch.bfloat16))


def test_bad_prepack_requests_are_clear(checkpoint):
    with pytest.raises(ConfigError, match="alternatives"):
        M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8", prepack=True)
    with pytest.raises(ConfigError, match="float32 or bfloat16"):
        M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float16, prepack=True)
    with pytest.raises(ConfigError, match="device cuda"):
        check_prepack(torch.device("cuda"), torch.float32)
    int8 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8")
    with pytest.raises(ConfigError, match="quantized"):
        prepack_model(int8)


def test_automatic_prepack_packs_only_where_it_can(checkpoint):
    assert M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=None).packed_weights
    half = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=None, dtype=torch.float16)
    assert type(half.lm_head) is torch.nn.Linear  # float16 has no packed kernel: plain weights, no error
    int8 = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=None, quantize="int8")
    assert int8.quantization == "int8"
    # the transformers-compatible default stays plain (trainable, exactly the reference modules)
    assert type(M2M100ForConditionalGeneration.from_pretrained(checkpoint).lm_head) is torch.nn.Linear


def test_loading_does_not_import_the_compiler_stack(checkpoint):
    # Building on the meta device used to run random initialisers through torch's reference ops, whose first
    # use imports torch._dynamo and sympy (about a second of every model load).
    code = ("import sys, m2m100; m2m100.M2M100ForConditionalGeneration.from_pretrained(sys.argv[1], prepack=True); "
            "print(sorted(m for m in ('torch._dynamo', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(checkpoint)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_bf16_instructions_is_said_not_silent(checkpoint, monkeypatch, native):
    """AVX2-only CPUs emulate bfloat16: loading warns (and still loads), prepack=True refuses naming the reason."""
    import warnings

    import m2m100.packed as packed

    monkeypatch.setattr(packed, "cpu_has_native_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, prepack=False)
    assert model.dtype == torch.bfloat16
    emulated = [w for w in caught if "no bfloat16 instructions" in str(w.message)]
    assert len(emulated) == (0 if native else 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    assert fp32.dtype == torch.float32  # float32 loads never warn about bfloat16
    if not native:
        with pytest.raises(ConfigError, match="AVX-512 BF16 or AMX"):
            M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, prepack=True)
        # automatic prepack steps aside: plain (emulated) bfloat16, no error
        auto = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, prepack=None)
        assert type(auto.lm_head) is torch.nn.Linear and auto.dtype == torch.bfloat16
