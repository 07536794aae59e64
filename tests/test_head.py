"""The output projection stays a plain, picklable, copyable, compilable module (the user issue: torch.save,
copy.deepcopy and torch.compile failed after one generate on the cached packed matrix), and the opt-in
cached head (m2m100.head) gives the same values and survives the same treatment."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, random_state_init
from torch import nn

from m2m100 import ConfigError, M2M100Config, M2M100ForConditionalGeneration
from m2m100.generation.few_rows import project_to_vocab
from m2m100.head import CachedHead, cache_head, uncache_head

IDS = torch.tensor([[5, 9, 14, 3, 2], [1, 1, 7, 8, 2], [1, 6, 11, 12, 2]])
MASK = IDS.ne(1).long()
DECODER_IDS = torch.tensor([[2, 5, 6, 7], [2, 8, 9, 10], [2, 11, 12, 13]])


def tiny_model(seed: int = 0, cached: bool = False) -> M2M100ForConditionalGeneration:
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config(**TINY, vocab_size=64))
    random_state_init(model, seed)
    if cached:
        cache_head(model)
    return model.eval()


def ids(model, **kwargs) -> torch.Tensor:
    return model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8, **kwargs)


def forward_logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS, attention_mask=MASK, decoder_input_ids=DECODER_IDS).logits


# -- the user issue ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cached", [False, True], ids=["plain", "cached_head"])
@pytest.mark.parametrize("beams", [1, 3])
def test_torch_save_after_generate_gives_the_same_ids(cached, beams):
    model = tiny_model(cached=cached)
    want = ids(model, num_beams=beams)
    if cached:
        assert model.lm_head.has_cache  # the packed copy exists: it must not be pickled
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert type(loaded.lm_head) is type(model.lm_head)
    assert loaded.lm_head.weight is loaded.model.shared.weight  # still tied
    assert torch.equal(ids(loaded, num_beams=beams), want)


@pytest.mark.parametrize("cached", [False, True], ids=["plain", "cached_head"])
def test_deepcopy_after_generate_gives_the_same_ids(cached):
    model = tiny_model(cached=cached)
    want = ids(model)
    twin = copy.deepcopy(model)
    if cached:
        assert model.lm_head.has_cache and not twin.lm_head.has_cache  # left out of the copy, rebuilt on use
    assert twin.lm_head.weight is twin.model.shared.weight and twin.lm_head.weight is not model.lm_head.weight
    assert torch.equal(ids(twin), want)
    assert torch.equal(ids(model), want)


@pytest.mark.parametrize("cached", [False, True], ids=["plain", "cached_head"])
def test_torch_compile_after_generate_equals_eager(cached):
    # backend "inductor" compiles this model in ~25 s on a cold cache on the 2-core CI CPU
    model = tiny_model(cached=cached)
    ids(model)
    eager = forward_logits(model)
    compiled = torch.compile(model, backend="inductor")
    torch.testing.assert_close(forward_logits(compiled), eager, atol=1e-4, rtol=0)


def test_the_model_holds_no_inference_cache_by_default():
    model = tiny_model()
    ids(model)
    assert type(model.lm_head) is nn.Linear and "forward" not in model.lm_head.__dict__
    assert all(not isinstance(value, torch.Tensor) or not value.is_mkldnn for value in vars(model).values())
    # forward() is the reference product: F.linear bit for bit
    with torch.no_grad():
        out = model(input_ids=IDS, attention_mask=MASK, decoder_input_ids=DECODER_IDS, output_hidden_states=True)
    assert torch.equal(out.logits, F.linear(out.decoder_hidden_states[-1], model.lm_head.weight))


# -- generate's default projection: (W h^T)^T, nothing cached ------------------------------------------------
@pytest.mark.parametrize("rows", [1, 5, 16, 64])
def test_few_row_projection_matches_linear_and_sees_edits_at_once(rows):
    model = tiny_model()
    hidden = torch.randn(rows, 1, TINY["d_model"], generator=torch.Generator().manual_seed(rows))
    weight = model.lm_head.weight
    with torch.no_grad():
        torch.testing.assert_close(project_to_vocab(model, hidden), F.linear(hidden, weight), atol=1e-5, rtol=0)
        weight.data[7].mul_(-3.0)
        torch.testing.assert_close(project_to_vocab(model, hidden), F.linear(hidden, weight), atol=1e-5, rtol=0)


# -- the opt-in cached head ----------------------------------------------------------------------------------
def test_cached_head_matches_linear_and_follows_edits():
    model = tiny_model(cached=True)
    head = model.lm_head
    hidden = torch.randn(5, 3, TINY["d_model"], generator=torch.Generator().manual_seed(2))
    weight = head.weight
    with torch.no_grad():
        torch.testing.assert_close(head(hidden), F.linear(hidden, weight), atol=1e-5, rtol=0)
        assert head.has_cache
        weight.data[7].mul_(-3.0)  # an edit that bypasses the version counter (row 7 holds a sampled entry)
        torch.testing.assert_close(head(hidden), F.linear(hidden, weight), atol=1e-5, rtol=0)
        weight[3] += 1.0  # an ordinary in-place edit
        torch.testing.assert_close(head(hidden), F.linear(hidden, weight), atol=1e-5, rtol=0)
        # generate's projection runs the cached head's own forward
        torch.testing.assert_close(project_to_vocab(model, hidden), F.linear(hidden, weight), atol=1e-5, rtol=0)
    assert weight.is_contiguous() and weight is model.model.shared.weight  # the parameter itself is untouched
    head.clear_cache()
    assert not head.has_cache


@pytest.mark.parametrize("cached", [False, True], ids=["plain", "cached_head"])
def test_a_frozen_head_still_passes_gradients(cached):
    """A frozen output matrix (LoRA, frozen embeddings) still passes gradients to the hidden states."""
    model = tiny_model(cached=cached)
    model.lm_head.weight.requires_grad_(False)
    hidden = torch.randn(2, 3, TINY["d_model"], requires_grad=True)
    model.lm_head(hidden).sum().backward()
    expected = model.lm_head.weight.sum(0).expand(2, 3, -1)
    torch.testing.assert_close(hidden.grad, expected, atol=1e-5, rtol=0)


def test_cache_head_keeps_ties_and_state_dict_and_uncache_head_restores_a_plain_linear():
    model = tiny_model()
    keys = list(model.state_dict())
    want = ids(model)
    head = cache_head(model)
    assert isinstance(head, CachedHead) and cache_head(model) is head  # twice: the same swap
    assert model.lm_head.weight is model.model.shared.weight and list(model.state_dict()) == keys
    assert torch.equal(ids(model), want)
    plain = uncache_head(model)
    assert type(plain) is nn.Linear and model.lm_head is plain and plain.weight is model.model.shared.weight
    assert not head.has_cache
    assert torch.equal(ids(model), want)


def test_cache_head_refuses_a_head_it_cannot_cache():
    from m2m100.packed import can_prepack, prepack_model

    if not can_prepack(torch.device("cpu"), torch.float32):
        pytest.skip("this torch build cannot pack weights")
    model = prepack_model(tiny_model())
    with pytest.raises(ConfigError, match="plain nn.Linear"):
        cache_head(model)
