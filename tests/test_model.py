"""Parity with transformers' M2M100 on random configurations: the tests are the spec."""

import pytest
import torch

from conftest import random_state_init
from m2m100 import InputTooLongError, M2M100Config, M2M100ForConditionalGeneration, M2M100Model
from m2m100.cache import KVCache

transformers = pytest.importorskip("transformers")

BASE = dict(dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0)
CONFIGS = {
    "tiny": dict(vocab_size=120, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                 decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64),
    "odd": dict(vocab_size=77, d_model=21, encoder_layers=1, decoder_layers=3, encoder_attention_heads=3,
                decoder_attention_heads=7, encoder_ffn_dim=40, decoder_ffn_dim=24, max_position_embeddings=50,
                scale_embedding=False),
    "medium": dict(vocab_size=500, d_model=128, encoder_layers=3, decoder_layers=3, encoder_attention_heads=8,
                   decoder_attention_heads=8, encoder_ffn_dim=256, decoder_ffn_dim=256, max_position_embeddings=128),
}
ATOL = 1e-5


def make_pair(tmp_path, name, seed=0, impl="sdpa", **extra):
    """The same random weights in transformers and in ours, through a saved checkpoint."""
    cfg = {**CONFIGS[name], **BASE, **extra}
    torch.manual_seed(seed)
    ref = transformers.M2M100ForConditionalGeneration(transformers.M2M100Config(**cfg))
    random_state_init(ref, seed)
    ref.save_pretrained(tmp_path)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(tmp_path, attn_implementation=impl).eval()
    ours = M2M100ForConditionalGeneration.from_pretrained(tmp_path, attn_implementation=impl).eval()
    return ref, ours, cfg


def batch(cfg, seed=0, lengths=(9, 6, 3), tgt=(5, 4, 2)):
    """Right-padded source and target batches with varied lengths, ids avoiding the specials."""
    gen = torch.Generator().manual_seed(seed)
    vocab = cfg["vocab_size"]

    def padded(lens):
        ids = torch.full((len(lens), max(lens)), 1)
        for i, n in enumerate(lens):
            ids[i, :n] = torch.randint(4, vocab, (n,), generator=gen)
            ids[i, n - 1] = 2
        return ids, (ids != 1).long()

    src, src_mask = padded(lengths)
    dec, dec_mask = padded(tgt)
    dec[:, 0] = 2
    return src, src_mask, dec, dec_mask


def close(a, b, atol=ATOL):
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_forward_parity_padded(tmp_path, name, impl):
    ref, ours, cfg = make_pair(tmp_path, name, impl=impl)
    src, src_mask, dec, dec_mask = batch(cfg)
    kwargs = dict(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask,
                  output_hidden_states=True)
    with torch.no_grad():
        a, b = ref(**kwargs), ours(**kwargs)
    valid = dec_mask.bool()
    close(a.logits[valid], b.logits[valid])
    close(a.encoder_last_hidden_state[src_mask.bool()], b.encoder_last_hidden_state[src_mask.bool()])
    assert len(a.encoder_hidden_states) == len(b.encoder_hidden_states) == cfg["encoder_layers"] + 1
    assert len(a.decoder_hidden_states) == len(b.decoder_hidden_states) == cfg["decoder_layers"] + 1
    for x, y in zip(a.encoder_hidden_states, b.encoder_hidden_states):
        close(x[src_mask.bool()], y[src_mask.bool()])
    for x, y in zip(a.decoder_hidden_states, b.decoder_hidden_states):
        close(x[valid], y[valid])


@pytest.mark.parametrize("name", ["tiny", "odd"])
def test_attentions_match_eager_reference_whatever_our_backend(tmp_path, name):
    ref, ours, cfg = make_pair(tmp_path, name, impl="eager")
    src, src_mask, dec, _ = batch(cfg)
    kwargs = dict(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec, output_attentions=True)
    with torch.no_grad():
        a = ref(**kwargs)
        for impl in ("eager", "sdpa"):
            ours.set_attn_implementation(impl)
            b = ours(**kwargs)
            for key in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
                got, want = getattr(b, key), getattr(a, key)
                assert got is not None and len(got) == len(want), key
                for x, y in zip(want, got):
                    close(x, y)  # (batch, heads, q_len, k_len); padded key columns are 0 in both


def test_loss_with_ignored_labels(tmp_path):
    ref, ours, cfg = make_pair(tmp_path, "tiny")
    src, src_mask, dec, dec_mask = batch(cfg)
    labels = dec[:, 1:].clone()
    labels[dec_mask[:, 1:] == 0] = -100
    with torch.no_grad():
        a = ref(input_ids=src, attention_mask=src_mask, labels=labels)
        b = ours(input_ids=src, attention_mask=src_mask, labels=labels)
    close(a.loss, b.loss)
    close(a.logits, b.logits)
    # the decoder inputs were derived from the labels: start token, then labels shifted, -100 -> pad
    manual = ours(input_ids=src, attention_mask=src_mask,
                  decoder_input_ids=torch.cat([torch.full((3, 1), 2), labels[:, :-1].clamp(min=1)], 1).masked_fill(
                      torch.cat([torch.zeros(3, 1, dtype=torch.bool), labels[:, :-1] == -100], 1), 1))
    close(manual.logits, b.logits)


def test_inputs_embeds_match(tmp_path):
    ref, ours, cfg = make_pair(tmp_path, "tiny")
    src, _, dec, _ = batch(cfg, lengths=(7, 7, 7), tgt=(4, 4, 4))
    embeds = ours.get_input_embeddings()(src)
    dec_embeds = ours.get_input_embeddings()(dec)
    with torch.no_grad():
        a = ref(inputs_embeds=embeds, decoder_inputs_embeds=dec_embeds)
        b = ours(inputs_embeds=embeds, decoder_inputs_embeds=dec_embeds)
        c = ours(input_ids=src, decoder_input_ids=dec)
    close(a.logits, b.logits)
    # without padding, embeddings get the same sequential positions as ids do
    close(b.logits, c.logits)


@pytest.mark.parametrize("name", ["tiny", "medium"])
def test_incremental_decoding_equals_full_and_reference_cache(tmp_path, name):
    ref, ours, cfg = make_pair(tmp_path, name)
    src, src_mask, dec, _ = batch(cfg, tgt=(6, 6, 6))
    with torch.no_grad():
        full = ours(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec, use_cache=False).logits
        ref_full = ref(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec, use_cache=False).logits
        enc = ours.get_encoder()(input_ids=src, attention_mask=src_mask)
        steps, cache = [], None
        # a two-token prefix first, then one token at a time
        for start, end in [(0, 2)] + [(t, t + 1) for t in range(2, dec.shape[1])]:
            out = ours(encoder_outputs=enc, attention_mask=src_mask, decoder_input_ids=dec[:, start:end],
                       past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    assert isinstance(cache, KVCache) and cache.get_seq_length() == dec.shape[1]
    close(torch.cat(steps, 1), full)
    close(full, ref_full)


def test_cache_reorder_selects_rows(tmp_path):
    _, ours, cfg = make_pair(tmp_path, "tiny")
    src, src_mask, dec, _ = batch(cfg, tgt=(4, 4, 4))
    order = torch.tensor([2, 0, 0])
    with torch.no_grad():
        out = ours(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec[:, :3], use_cache=True)
        cache = out.past_key_values
        cache.reorder(order)
        step = ours(input_ids=src[order], attention_mask=src_mask[order], decoder_input_ids=dec[order, 3:4],
                    past_key_values=cache, use_cache=True).logits
        full = ours(input_ids=src[order], attention_mask=src_mask[order], decoder_input_ids=dec[order]).logits
    close(step[:, 0], full[:, 3])


def test_gradients_match_in_training_mode(tmp_path):
    ref, ours, cfg = make_pair(tmp_path, "tiny")
    ref.train(), ours.train()
    src, src_mask, dec, dec_mask = batch(cfg)
    labels = dec.masked_fill(dec_mask == 0, -100)
    ref(input_ids=src, attention_mask=src_mask, labels=labels).loss.backward()
    ours(input_ids=src, attention_mask=src_mask, labels=labels).loss.backward()
    ref_grads = dict(ref.named_parameters())
    n = 0
    for name, p in ours.named_parameters():
        close(p.grad, ref_grads[name].grad, atol=1e-5)
        n += 1
    assert n == len(list(ref.named_parameters()))


def test_gradient_checkpointing_same_gradients(tmp_path):
    _, ours, cfg = make_pair(tmp_path, "tiny")
    ours.train()
    src, src_mask, dec, _ = batch(cfg)
    ours(input_ids=src, attention_mask=src_mask, labels=dec).loss.backward()
    plain = {n: p.grad.clone() for n, p in ours.named_parameters()}
    ours.zero_grad()
    ours.gradient_checkpointing_enable()
    assert ours.is_gradient_checkpointing
    ours(input_ids=src, attention_mask=src_mask, labels=dec).loss.backward()
    for n, p in ours.named_parameters():
        close(p.grad, plain[n])


def test_dropout_and_layerdrop_only_in_training(tmp_path):
    _, ours, cfg = make_pair(tmp_path, "tiny", dropout=0.3, encoder_layerdrop=0.5, decoder_layerdrop=0.5)
    src, src_mask, dec, _ = batch(cfg)
    kwargs = dict(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec)
    ours.eval()
    with torch.no_grad():
        assert torch.equal(ours(**kwargs).logits, ours(**kwargs).logits)
        ours.train()
        torch.manual_seed(1)
        first = ours(**kwargs).logits
        torch.manual_seed(2)
        second = ours(**kwargs).logits
    assert not torch.allclose(first, second)


def test_training_mode_with_dropout_matches_reference_under_same_seed(tmp_path):
    # Same random draws in the same order (dropout masks, layerdrop coin flips) give the same numbers.
    ref, ours, cfg = make_pair(tmp_path, "tiny", dropout=0.2, activation_dropout=0.1, encoder_layerdrop=0.3,
                               decoder_layerdrop=0.3)
    ref.train(), ours.train()
    src, src_mask, dec, _ = batch(cfg, lengths=(5, 5, 5), tgt=(4, 4, 4))
    for seed in range(3):
        torch.manual_seed(seed)
        a = ref(input_ids=src, decoder_input_ids=dec).logits
        torch.manual_seed(seed)
        b = ours(input_ids=src, decoder_input_ids=dec).logits
        close(a, b)


def test_base_model_matches(tmp_path):
    ref, ours, cfg = make_pair(tmp_path, "tiny")
    base = M2M100Model.from_pretrained(tmp_path).eval()
    src, src_mask, dec, _ = batch(cfg)
    with torch.no_grad():
        a = ref.model(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec)
        b = base(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec)
    close(a.last_hidden_state, b.last_hidden_state)
    assert b[0] is b.last_hidden_state and b["last_hidden_state"] is b.last_hidden_state


def test_tuple_outputs_and_encoder_outputs_tuple(tmp_path):
    _, ours, cfg = make_pair(tmp_path, "tiny")
    src, src_mask, dec, _ = batch(cfg)
    with torch.no_grad():
        out = ours(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec, use_cache=False)
        as_tuple = ours(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec, use_cache=False, return_dict=False)
        enc = ours.get_encoder()(input_ids=src, attention_mask=src_mask)
        via_tuple = ours(encoder_outputs=(enc.last_hidden_state,), attention_mask=src_mask, decoder_input_ids=dec)
    assert torch.equal(as_tuple[0], out.logits)
    close(via_tuple.logits, out.logits)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_close_to_reference(tmp_path, dtype):
    ref, _, cfg = make_pair(tmp_path, "medium")
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(tmp_path, dtype=dtype).eval()
    ours = M2M100ForConditionalGeneration.from_pretrained(tmp_path, dtype=dtype).eval()
    fp32 = M2M100ForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert ours.dtype == dtype
    src, src_mask, dec, dec_mask = batch(cfg)
    with torch.no_grad():
        a = ref(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec).logits.float()
        b = ours(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec).logits.float()
        c = fp32(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec).logits
    valid = dec_mask.bool()
    scale = c[valid].abs().max()
    # same arithmetic in the same precision: close to the reference; both close to fp32
    assert (a[valid] - b[valid]).abs().max() <= 0.02 * scale
    assert (b[valid] - c[valid]).abs().max() <= 0.06 * scale


def test_raw_call_beyond_position_limit_raises(tmp_path):
    _, ours, cfg = make_pair(tmp_path, "odd")  # max_position_embeddings=50
    ok = torch.full((1, 50), 5)
    with torch.no_grad():
        ours(input_ids=ok, decoder_input_ids=torch.tensor([[2]]))
        with pytest.raises(InputTooLongError, match="limit of 50"):
            ours(input_ids=torch.full((1, 51), 5), decoder_input_ids=torch.tensor([[2]]))
        with pytest.raises(InputTooLongError):
            ours(input_ids=ok, decoder_input_ids=torch.full((1, 51), 5))


def test_flash_attention_without_cuda_is_a_clear_error(tmp_path):
    from m2m100 import ConfigError

    if torch.cuda.is_available():
        pytest.skip("CUDA present: covered by the CUDA test")
    cfg = M2M100Config(**CONFIGS["tiny"], attn_implementation="flash_attention_2")
    with pytest.raises(ConfigError, match="CUDA"):
        M2M100ForConditionalGeneration(cfg)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_sdpa_and_flash_match_fp32(tmp_path):
    ref, ours, cfg = make_pair(tmp_path, "medium")
    src, src_mask, dec, dec_mask = batch(cfg)
    with torch.no_grad():
        want = ours(input_ids=src, attention_mask=src_mask, decoder_input_ids=dec).logits
        impls = ["sdpa"]
        try:
            import flash_attn  # noqa: F401

            impls.append("flash_attention_2")
        except ImportError:
            pass
        for impl in impls:
            gpu = M2M100ForConditionalGeneration.from_pretrained(tmp_path, dtype=torch.bfloat16, device_map="cuda",
                                                                  attn_implementation=impl)
            got = gpu(input_ids=src.cuda(), attention_mask=src_mask.cuda(), decoder_input_ids=dec.cuda()).logits
            valid = dec_mask.bool()
            assert (got.float().cpu()[valid] - want[valid]).abs().max() <= 0.06 * want[valid].abs().max(), impl
