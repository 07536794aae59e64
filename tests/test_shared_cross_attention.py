"""Beam search keeps one copy of each input's encoder output and cross-attention K/V, shared by its beams.

The decoder accepts encoder states with fewer rows than it decodes (each encoder row serves the consecutive
decoder rows of its beams); every result must equal the one with the encoder states repeated per beam.
"""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, random_state_init

from m2m100 import M2M100Config, M2M100ForConditionalGeneration
from m2m100.cache import KVCache

IDS = torch.tensor([[5, 9, 14, 3, 2], [1, 1, 7, 8, 2], [1, 6, 11, 12, 2]])
MASK = IDS.ne(1).long()


def tiny_model(impl: str = "sdpa", seed: int = 0) -> M2M100ForConditionalGeneration:
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config(**TINY, vocab_size=64, attn_implementation=impl))
    random_state_init(model, seed)
    return model.eval()


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_decoder_with_shared_encoder_rows_equals_repeated_rows(impl):
    model = tiny_model(impl)
    beams = 3
    decoder = model.get_decoder()
    with torch.no_grad():
        enc = model.get_encoder()(input_ids=IDS, attention_mask=MASK).last_hidden_state
        dec = torch.randint(4, 64, (IDS.shape[0] * beams, 4), generator=torch.Generator().manual_seed(1))
        shared = decoder(input_ids=dec, encoder_hidden_states=enc, encoder_attention_mask=MASK,
                         output_attentions=True, use_cache=True)
        repeated = decoder(input_ids=dec, encoder_hidden_states=enc.repeat_interleave(beams, 0),
                           encoder_attention_mask=MASK.repeat_interleave(beams, 0), output_attentions=True,
                           use_cache=True)
    torch.testing.assert_close(shared.last_hidden_state, repeated.last_hidden_state, atol=1e-5, rtol=0)
    for a, b in zip(shared.cross_attentions, repeated.cross_attentions):
        assert a.shape == b.shape == (IDS.shape[0] * beams, TINY["decoder_attention_heads"], 4, IDS.shape[1])
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # the cache keeps one cross row per input, and shows one per row through the legacy per-layer tuple
    assert shared.past_key_values.cross_k[0].shape[0] == IDS.shape[0]
    for a, b in zip(shared.past_key_values[0], repeated.past_key_values[0]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_decoder_rejects_rows_that_cannot_share_evenly():
    model = tiny_model()
    with torch.no_grad():
        enc = model.get_encoder()(input_ids=IDS, attention_mask=MASK).last_hidden_state
        with pytest.raises(ValueError, match="share"):
            model.get_decoder()(input_ids=torch.full((4, 1), 2), encoder_hidden_states=enc)


@pytest.mark.parametrize("use_cache", [True, False])
def test_beam_search_projects_cross_attention_once_per_input(use_cache):
    model = tiny_model()
    seen = []
    hook = model.model.decoder.layers[0].encoder_attn.k_proj.register_forward_hook(
        lambda module, args, out: seen.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            out = model.generate(input_ids=IDS, attention_mask=MASK, num_beams=4, max_new_tokens=6,
                                 use_cache=use_cache, return_dict_in_generate=True, output_scores=True)
    finally:
        hook.remove()
    assert seen and all(rows <= IDS.shape[0] for rows in seen)  # never once per beam
    assert len(seen) == 1 if use_cache else len(seen) == out.sequences.shape[1] - 1  # once, or once per step
    # the same result as decoding with the encoder output repeated for every beam
    expected = repeated_beam_search(model, num_beams=4, max_new_tokens=6, use_cache=use_cache)
    assert torch.equal(out.sequences, expected.sequences)
    torch.testing.assert_close(out.sequences_scores, expected.sequences_scores, atol=1e-5, rtol=0)


def repeated_beam_search(model, **kwargs):
    """generate() with the pre-change layout: every beam its own copy of the encoder output."""
    from m2m100.generation import decoding

    original = decoding.DecoderState.__init__

    def one_copy_per_row(self, model, encoder_hidden, encoder_mask, *args, rows_per_source=1, **kw):
        if rows_per_source > 1:
            encoder_hidden = encoder_hidden.repeat_interleave(rows_per_source, 0)
            encoder_mask = None if encoder_mask is None else encoder_mask.repeat_interleave(rows_per_source, 0)
        original(self, model, encoder_hidden, encoder_mask, *args, rows_per_source=1, **kw)

    decoding.DecoderState.__init__ = one_copy_per_row
    try:
        with torch.no_grad():
            return model.generate(input_ids=IDS, attention_mask=MASK, return_dict_in_generate=True,
                                  output_scores=True, **kwargs)
    finally:
        decoding.DecoderState.__init__ = original


def test_finished_inputs_leave_with_their_shared_rows():
    """Pruning finished inputs drops their cross K/V and encoder rows, and the others keep theirs."""
    cache = KVCache(1, capacity=4)
    k = torch.arange(6 * 2 * 1 * 2, dtype=torch.float32).view(6, 2, 1, 2)  # 3 inputs x 2 beams
    cache.update(0, k, -k)
    cache.advance(1)
    cross = torch.arange(3 * 2 * 5 * 2, dtype=torch.float32).view(3, 2, 5, 2)
    cache.set_cross(0, cross, -cross)
    assert torch.equal(cache[0][2], cross.repeat_interleave(2, 0))
    cache.reorder(torch.tensor([4, 5, 0, 1]), cross=torch.tensor([2, 0]))
    assert torch.equal(cache.self_k[0][:, :, :1], k[[4, 5, 0, 1]])
    assert torch.equal(cache.cross_k[0], cross[[2, 0]]) and torch.equal(cache.cross_v[0], -cross[[2, 0]])
    assert torch.equal(cache[0][3], -cross[[2, 2, 0, 0]])
