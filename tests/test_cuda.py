"""GPU paths: dtypes, attention backends, generation and device placement on CUDA (skipped without a GPU)."""

import pytest
import torch

from conftest import save_random_model
from m2m100 import ConfigError, M2M100ForConditionalGeneration

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CFG = dict(vocab_size=500, d_model=128, encoder_layers=3, decoder_layers=3, encoder_attention_heads=8,
           decoder_attention_heads=8, encoder_ffn_dim=256, decoder_ffn_dim=256, max_position_embeddings=128,
           dropout=0.0, attention_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("cuda_ckpt"), CFG, eos_boost=12)  # varied output lengths


def batch():
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(4, 500, (4, 10), generator=gen)
    src[:, -1] = 2
    src[2, 6:] = 1
    src[2, 5] = 2
    return src, (src != 1).long()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_cuda_logits_match_cpu_fp32(checkpoint, dtype, impl):
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    gpu = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=dtype, device_map="cuda", attn_implementation=impl)
    assert gpu.device.type == "cuda" and gpu.dtype == dtype
    src, mask = batch()
    dec = torch.full((4, 5), 7)
    dec[:, 0] = 2
    with torch.no_grad():
        want = cpu(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits
        got = gpu(input_ids=src.cuda(), attention_mask=mask.cuda(), decoder_input_ids=dec.cuda()).logits.float().cpu()
    tolerance = 1e-4 if dtype == torch.float32 else 0.06
    assert (got - want).abs().max() <= tolerance * want.abs().max()


@pytest.mark.parametrize("num_beams", [1, 4])
def test_cuda_generate_fp32_equals_cpu(checkpoint, num_beams):
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu = M2M100ForConditionalGeneration.from_pretrained(checkpoint)
    gpu = M2M100ForConditionalGeneration.from_pretrained(checkpoint, device_map="cuda")
    src, mask = batch()
    kwargs = dict(max_new_tokens=12, num_beams=num_beams, forced_bos_token_id=[5, 6, 7, 8])
    want = cpu.generate(input_ids=src, attention_mask=mask, **kwargs)
    got = gpu.generate(input_ids=src.cuda(), attention_mask=mask.cuda(), **kwargs)
    assert got.device.type == "cuda"
    assert torch.equal(got.cpu(), want)
    assert len({int((row != 1).sum()) for row in want}) > 1  # varied lengths: some rows ended early


def test_cuda_bf16_generate_runs(checkpoint):
    gpu = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, device_map="auto")
    src, mask = batch()
    out = gpu.generate(input_ids=src.cuda(), attention_mask=mask.cuda(), max_new_tokens=8, num_beams=2,
                       forced_bos_token_id=5)
    assert out.shape[0] == 4 and (out[:, 1] == 5).all()


def test_flash_attention_is_used_or_clearly_refused(checkpoint):
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="flash-attn"):
            M2M100ForConditionalGeneration.from_pretrained(checkpoint, attn_implementation="flash_attention_2")
        return
    gpu = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, device_map="cuda",
                                                          attn_implementation="flash_attention_2")
    ref = M2M100ForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.bfloat16, device_map="cuda")
    src, mask = batch()
    dec = torch.full((4, 5), 7, device="cuda")
    with torch.no_grad():
        a = gpu(input_ids=src.cuda(), attention_mask=mask.cuda(), decoder_input_ids=dec).logits.float()
        b = ref(input_ids=src.cuda(), attention_mask=mask.cuda(), decoder_input_ids=dec).logits.float()
    assert (a - b).abs().max() <= 0.06 * b.abs().max()


def test_int8_on_cuda_is_a_clear_error(checkpoint):
    with pytest.raises(ConfigError, match="CPU"):
        M2M100ForConditionalGeneration.from_pretrained(checkpoint, quantize="int8", device_map="cuda")
