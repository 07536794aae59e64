"""Decoding steps compute few-row matmuls as (W x^T)^T (generation.few_rows): same values as F.linear within
float rounding, installed only around generate's decoder calls, and invisible to training and saving."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, random_state_init
from torch import nn

from m2m100 import M2M100Config, M2M100ForConditionalGeneration
from m2m100.generation import few_rows
from m2m100.generation.few_rows import few_row_linear, few_row_linears, plain_linears

IDS = torch.tensor([[5, 9, 14, 3, 2], [1, 1, 7, 8, 2], [1, 6, 11, 12, 2]])
MASK = IDS.ne(1).long()


def tiny_model(seed: int = 0) -> M2M100ForConditionalGeneration:
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(M2M100Config(**TINY, vocab_size=64))
    random_state_init(model, seed)
    return model.eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(2, 24), (16, 24), (4, 12, 24), (48, 24)])
def test_few_row_linear_matches_f_linear(bias, shape):
    layer = nn.Linear(24, 40, bias=bias)
    x = torch.randn(*shape)
    with torch.no_grad():
        out = few_row_linear(layer, x)
        torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)
    assert out.shape == (*shape[:-1], 40)


@pytest.mark.parametrize("case", ["one_row", "many_rows", "float64", "grad"])
def test_other_cases_run_f_linear_itself(case):
    layer = nn.Linear(24, 40)
    x = torch.randn({"one_row": 1, "many_rows": 49, "float64": 8, "grad": 8}[case], 24)
    if case == "float64":
        layer, x = layer.double(), x.double()
    if case == "grad":  # training: the same graph as F.linear, gradients included
        out = few_row_linear(layer, x)
        out.sum().backward()
        grad = layer.weight.grad.clone()
        layer.weight.grad = None
        F.linear(x, layer.weight, layer.bias).sum().backward()
        assert torch.equal(grad, layer.weight.grad)
    else:
        with torch.no_grad():
            out = few_row_linear(layer, x)
    assert torch.equal(out, F.linear(x, layer.weight, layer.bias))


def test_installed_around_decoder_steps_only():
    model = tiny_model()
    fc1 = model.get_decoder().layers[0].fc1
    seen = []
    fc1.register_forward_hook(lambda module, args, out: seen.append("forward" in module.__dict__))
    keys = sorted(model.state_dict())
    out = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=6)
    assert seen and all(seen)  # every decoding step ran the few-row path
    assert all("forward" not in m.__dict__ for m in model.modules())  # removed afterwards
    assert all(type(m) is nn.Linear for m in plain_linears(model)) and sorted(model.state_dict()) == keys
    assert not few_rows._users
    with torch.no_grad():  # a direct forward outside generate is the plain module
        model(input_ids=IDS, attention_mask=MASK, decoder_input_ids=out[:, :3])
    assert seen[-1] is False
    seen.clear()  # the bit-exact full-batch mode keeps F.linear
    model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=6, prune_finished=False)
    assert seen and not any(seen)


def test_generate_equals_plain_linear_decoding(monkeypatch):
    """With the swap off (no targets) generate gives the same ids, greedy and beam."""
    from m2m100.generation import decoding

    model = tiny_model(3)
    for options in ({}, {"num_beams": 3}):
        fast = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=10, **options)
        with monkeypatch.context() as patch:
            patch.setattr(decoding, "plain_linears", lambda root: [])
            plain = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=10, **options)
        assert torch.equal(fast, plain)


def test_weight_edited_in_place_is_seen_by_the_next_generate():
    model = tiny_model(1)
    before = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8)
    with torch.no_grad():
        for layer in model.get_decoder().layers:
            layer.fc2.weight.mul_(-3.0)
    after = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8)
    assert not torch.equal(before, after)


def test_subclasses_and_own_forwards_are_left_alone():
    class Lora(nn.Linear):
        pass

    root = nn.Sequential(nn.Linear(4, 4), Lora(4, 4), nn.Linear(4, 4))
    custom = root[2].forward
    root[2].__dict__["forward"] = custom
    with few_row_linears(root):
        assert "forward" in root[0].__dict__ and "forward" not in root[1].__dict__
        assert root[2].__dict__["forward"] is custom
    assert "forward" not in root[0].__dict__ and root[2].__dict__["forward"] is custom


def test_threads_sharing_a_model_install_once_and_remove_last():
    model = tiny_model(2)
    expected = model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=12)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(model.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=12))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 15
    assert all(torch.equal(r, expected) for r in results)
    assert not few_rows._users and all("forward" not in m.__dict__ for m in model.modules())
