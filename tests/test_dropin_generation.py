"""generate() surface beyond ids and scores (issue 19): attentions, hidden states, transition scores, caches,
no-input generation, remove_invalid_values, eos/pad -1; each compared with transformers' generate."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import TINY
from generation.test_search import biased_checkpoint

from m2m100 import M2M100ForConditionalGeneration

pytestmark = pytest.mark.parity

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore", module="transformers")

VOCAB = 256
IDS = torch.tensor([[5, 9, 17, 33, 40, 2], [7, 8, 2, 1, 1, 1]])
MASK = (IDS != 1).long()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    directory = biased_checkpoint(tmp_path_factory.mktemp("dropin_gen"), seed=4, eos_bias=1.5)
    ours = M2M100ForConditionalGeneration.from_pretrained(directory)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(directory, attn_implementation="eager").eval()
    return ours, ref


def both(pair, **kwargs):
    ours, ref = pair
    common = dict(input_ids=IDS, attention_mask=MASK, max_new_tokens=8, return_dict_in_generate=True)
    return ours.generate(**common, **kwargs), ref.generate(**common, **kwargs)


def nested_close(a, b, path="out"):
    if isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and a.shape == b.shape, f"{path}: {getattr(a, 'shape', a)} vs {b.shape}"
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=path)
        return
    assert len(a) == len(b), f"{path}: {len(a)} vs {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        nested_close(x, y, f"{path}[{i}]")


@pytest.mark.parametrize("num_beams", [1, 3])
def test_attentions_and_hidden_states_like_transformers(pair, num_beams):
    a, b = both(pair, num_beams=num_beams, output_attentions=True, output_hidden_states=True, output_scores=True)
    assert torch.equal(a.sequences, b.sequences)
    for name in ("encoder_attentions", "encoder_hidden_states", "decoder_attentions", "cross_attentions",
                 "decoder_hidden_states"):
        assert getattr(a, name) is not None, name
        nested_close(getattr(a, name), getattr(b, name), name)


@pytest.mark.parametrize("setting", [dict(num_beams=1), dict(num_beams=3), dict(num_beams=3, num_return_sequences=2),
                                     dict(num_beams=1, output_logits=True)])
@pytest.mark.parametrize("normalize", [False, True])
def test_compute_transition_scores(pair, setting, normalize):
    ours, ref = pair
    a, b = both(pair, output_scores=True, **setting)
    assert torch.equal(a.sequences, b.sequences)
    use_logits = setting.get("output_logits", False)
    sa, sb = (a.logits, b.logits) if use_logits else (a.scores, b.scores)
    beams = setting["num_beams"] > 1
    ta = ours.compute_transition_scores(a.sequences, sa, a.beam_indices if beams else None, normalize_logits=normalize)
    tb = ref.compute_transition_scores(b.sequences, sb, b.beam_indices if beams else None, normalize_logits=normalize)
    assert ta.shape == tb.shape
    finite = torch.isfinite(tb)
    assert torch.equal(finite, torch.isfinite(ta))
    torch.testing.assert_close(ta[finite], tb[finite], atol=1e-4, rtol=1e-4)


def test_generate_without_encoder_input(pair):
    ours, ref = pair
    a = ours.generate(max_new_tokens=6)
    b = ref.generate(max_new_tokens=6)
    assert torch.equal(a, b)


def test_eos_and_pad_minus_one_never_stop(pair):
    a, b = both(pair, eos_token_id=-1, pad_token_id=-1, output_scores=True)
    assert torch.equal(a.sequences, b.sequences) and a.sequences.shape[1] == 9  # start token + 8, nobody stopped
    a, b = both(pair, eos_token_id=-1, num_beams=2)
    assert torch.equal(a.sequences, b.sequences)


def test_remove_invalid_values(pair):
    ours, ref = pair
    kwargs = dict(input_ids=IDS, attention_mask=MASK, max_new_tokens=4, remove_invalid_values=True,
                  return_dict_in_generate=True, output_scores=True)
    saved = [m.lm_head.weight.detach().clone() for m in pair]
    try:
        for model in pair:  # a broken output row: its logit is +-inf or NaN (inf - inf) at every step
            with torch.no_grad():
                model.lm_head.weight[10, ::2] = float("inf")
                model.lm_head.weight[10, 1::2] = float("-inf")
        a, b = ours.generate(**kwargs), ref.generate(**kwargs)
    finally:
        for model, weight in zip(pair, saved):
            with torch.no_grad():
                model.lm_head.weight.copy_(weight)
    assert torch.equal(a.sequences, b.sequences)
    for x, y in zip(a.scores, b.scores):
        assert not torch.isnan(x).any()
        torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)


def test_transformers_cache_passed_and_returned(pair):
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    ours, ref = pair
    caches = [EncoderDecoderCache(DynamicCache(), DynamicCache()) for _ in range(2)]
    common = dict(input_ids=IDS, attention_mask=MASK, max_new_tokens=5, eos_token_id=-1, return_dict_in_generate=True)
    a = ours.generate(past_key_values=caches[0], **common)
    b = ref.generate(past_key_values=caches[1], **common)
    assert torch.equal(a.sequences, b.sequences)
    assert a.past_key_values is caches[0]
    assert caches[0].get_seq_length() == caches[1].get_seq_length() > 0
    for layer in range(TINY["decoder_layers"]):
        for which in ("self_attention_cache", "cross_attention_cache"):
            x, y = getattr(caches[0], which).layers[layer], getattr(caches[1], which).layers[layer]
            torch.testing.assert_close(x.keys, y.keys, atol=1e-5, rtol=0)
            torch.testing.assert_close(x.values, y.values, atol=1e-5, rtol=0)


def test_forward_cache_indexes_per_layer_like_transformers(pair):
    """`out.past_key_values[layer]` gives (self_k, self_v, cross_k, cross_v): transformers 4.x's legacy per-layer
    tuple, still what code written for it indexes (5.x caches hold the same tensors in `.layers[i].keys/values`)."""
    ours, ref = pair
    dec = torch.tensor([[2, 5, 9], [2, 7, 7]])
    with torch.no_grad():
        a = ours(input_ids=IDS, attention_mask=MASK, decoder_input_ids=dec, use_cache=True).past_key_values
        b = ref(input_ids=IDS, attention_mask=MASK, decoder_input_ids=dec, use_cache=True).past_key_values
    assert len(a) == TINY["decoder_layers"]
    for layer in range(TINY["decoder_layers"]):
        s, c = b.self_attention_cache.layers[layer], b.cross_attention_cache.layers[layer]
        nested_close(tuple(a[layer]), (s.keys, s.values, c.keys, c.values), f"layer {layer}")
    assert [t.shape for t in list(a)[0]] == [t.shape for t in a[0]]
    with pytest.raises(IndexError, match="out of range"):
        a[TINY["decoder_layers"]]
