"""The chunked (fused linear + cross-entropy) loss: equal to the plain loss and its gradients, never the full logits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, random_state_init
from torch.utils._python_dispatch import TorchDispatchMode

from m2m100 import M2M100Config, M2M100ForConditionalGeneration
from m2m100.errors import ConfigError
from m2m100.loss import ChunkedCrossEntropy, linear_cross_entropy
from m2m100.train.optim import label_smoothed_loss

TIGHT = dict(rtol=1e-5, atol=1e-5)  # the float32 contract: loss and every gradient within 1e-5


def problem(seed: int = 0, batch: int = 3, length: int = 11, d_model: int = 16, vocab: int = 97,
            ignored: bool = True, bias: bool = True, dtype=torch.float32):
    """Hidden states, an output matrix, a bias (the final_logits_bias of BART-like heads) and labels with padding."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, length, d_model, generator=gen, dtype=dtype).requires_grad_()
    weight = (torch.randn(vocab, d_model, generator=gen, dtype=dtype) * 0.3).requires_grad_()
    b = (torch.randn(vocab, generator=gen, dtype=dtype) * 0.5).requires_grad_() if bias else None
    labels = torch.randint(0, vocab, (batch, length), generator=gen)
    if ignored:
        labels[0, 4:] = -100  # a short row, padded
        labels[2, -2:] = -100
    return hidden, weight, b, labels


def grads(loss: torch.Tensor, tensors) -> list[torch.Tensor]:
    tensors = [t for t in tensors if t is not None]
    return list(torch.autograd.grad(loss * 1.7, tensors))  # a non-unit upstream gradient, as the trainer's scaling


def plain(hidden, weight, bias, labels, eps, reduction):
    logits = F.linear(hidden, weight, bias).float()
    return F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=-100, label_smoothing=eps,
                           reduction=reduction)


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize("chunk_size", [None, 1, 4, 7, 33, 1000])  # 33 tokens: 7 does not divide them, 1000 > all
def test_equals_plain_loss_and_gradients(eps, reduction, ignored, chunk_size):
    hidden, weight, bias, labels = problem(ignored=ignored)
    expected = plain(hidden, weight, bias, labels, eps, reduction)
    expected_grads = grads(expected, (hidden, weight, bias))
    loss, nll = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=eps, reduction=reduction,
                                     chunk_size=chunk_size)
    torch.testing.assert_close(loss, expected, **TIGHT)
    for got, want in zip(grads(loss, (hidden, weight, bias)), expected_grads):
        torch.testing.assert_close(got, want, **TIGHT)
    torch.testing.assert_close(nll, plain(hidden, weight, bias, labels, 0.0, reduction).detach(), **TIGHT)
    assert not nll.requires_grad and loss.dtype == nll.dtype == torch.float32


def test_label_smoothing_is_the_trainers_and_transformers_definition():
    hidden, weight, _, labels = problem(bias=False)
    loss, nll = linear_cross_entropy(hidden, weight, labels, label_smoothing=0.1, reduction="sum")
    ours_plain, ours_nll = label_smoothed_loss(F.linear(hidden, weight), labels, 0.1)  # `--no-chunked-loss`
    torch.testing.assert_close(loss, ours_plain, **TIGHT)
    torch.testing.assert_close(nll, ours_nll, **TIGHT)
    trainer_pt_utils = pytest.importorskip("transformers.trainer_pt_utils")
    theirs = trainer_pt_utils.LabelSmoother(epsilon=0.1)({"logits": F.linear(hidden, weight)}, labels)
    mean, _ = linear_cross_entropy(hidden, weight, labels, label_smoothing=0.1)
    torch.testing.assert_close(mean, theirs, **TIGHT)


def test_no_tensor_of_tokens_by_vocab_is_ever_made():
    hidden, weight, bias, labels = problem(batch=4, length=16, d_model=8, vocab=500, ignored=False)
    tokens, vocab = labels.numel(), weight.shape[0]

    class Largest(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    self.numel = max(self.numel, t.numel())
            return out

    with Largest() as seen:
        loss, _ = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=0.1, chunk_size=8)
        loss.backward()
    assert seen.numel <= 8 * vocab < tokens * vocab  # one chunk of logits at a time
    with Largest() as seen_plain:
        plain(hidden, weight, bias, labels, 0.1, "mean").backward()
    assert seen_plain.numel >= tokens * vocab  # what the plain loss materialises, so the probe does see logits


def test_every_label_ignored_and_frozen_weight():
    hidden, weight, bias, labels = problem()
    labels.fill_(-100)
    loss, _ = linear_cross_entropy(hidden, weight, labels, bias)
    assert torch.isnan(loss) and torch.isnan(plain(hidden, weight, bias, labels, 0.0, "mean"))  # 0/0, as torch
    loss, _ = linear_cross_entropy(hidden, weight, labels, bias, reduction="sum")
    gh, gw, gb = torch.autograd.grad(loss, (hidden, weight, bias))
    assert loss.item() == 0 and not gh.any() and not gw.any() and not gb.any()

    hidden, weight, _, labels = problem(bias=False)
    weight.requires_grad_(False)  # --freeze-embeddings: no weight gradient is computed or returned
    loss, _ = linear_cross_entropy(hidden, weight, labels)
    loss.backward()
    assert weight.grad is None
    torch.testing.assert_close(hidden.grad, torch.autograd.grad(plain(hidden, weight, None, labels, 0, "mean"), hidden)[0],
                               **TIGHT)


def test_no_grad_gives_the_same_loss_and_backward_twice_is_refused():
    hidden, weight, bias, labels = problem()
    loss, _ = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=0.1)
    with torch.no_grad():
        again, _ = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=0.1)
    assert torch.equal(loss.detach(), again) and not again.requires_grad
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward pass"):
        loss.backward()


def test_bf16_autocast_is_close_to_the_plain_autocast_loss():
    hidden, weight, bias, labels = problem(length=40, d_model=32, vocab=300)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, expected_nll = label_smoothed_loss(F.linear(hidden, weight, bias), labels, 0.1)
        loss, nll = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=0.1, reduction="sum",
                                         chunk_size=16)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=2e-3, atol=0)
    torch.testing.assert_close(nll, expected_nll, rtol=2e-3, atol=0)
    for got, want in zip(grads(loss, (hidden, weight, bias)), grads(expected, (hidden, weight, bias))):
        assert got.dtype == want.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2 * want.abs().max().item())

    # A model stored in bfloat16 without autocast: bf16 matmuls, float32 softmax and loss.
    h16, w16, b16 = (t.detach().bfloat16().requires_grad_() for t in (hidden, weight, bias))
    loss16, _ = linear_cross_entropy(h16, w16, labels, b16, label_smoothing=0.1, reduction="sum")
    gh, gw, gb = torch.autograd.grad(loss16, (h16, w16, b16))
    assert gh.dtype == gw.dtype == gb.dtype == torch.bfloat16
    torch.testing.assert_close(loss16, expected, rtol=5e-3, atol=0)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(label_smoothing=1.0), ConfigError, "label_smoothing"),
    (dict(label_smoothing=-0.1), ConfigError, "label_smoothing"),
    (dict(reduction="none"), ConfigError, "reduction"),
    (dict(chunk_size=0), ConfigError, "chunk_size"),
    (dict(chunk_size=2.5), ConfigError, "chunk_size"),
])
def test_bad_options(kwargs, error, message):
    hidden, weight, bias, labels = problem()
    with pytest.raises(error, match=message):
        linear_cross_entropy(hidden, weight, labels, bias, **kwargs)
    with pytest.raises(error, match=message):
        ChunkedCrossEntropy(**kwargs)


def test_bad_tensors():
    hidden, weight, bias, labels = problem(vocab=97)
    bad = labels.clone()
    bad[1, 1] = 97
    with pytest.raises(ValueError, match=r"label 97 is outside the vocabulary \[0, 97\)"):
        linear_cross_entropy(hidden, weight, bad)
    bad[1, 1] = -3
    with pytest.raises(ValueError, match="label -3"):
        linear_cross_entropy(hidden, weight, bad)
    with pytest.raises(ValueError, match="labels .* must have the shape"):
        linear_cross_entropy(hidden, weight, labels[:, :-1])
    with pytest.raises(ValueError, match="do not match"):
        linear_cross_entropy(hidden, weight[:, :-1], labels)
    with pytest.raises(ValueError, match="integer token ids"):
        linear_cross_entropy(hidden, weight, labels.float())
    with pytest.raises(ValueError, match="bias must have shape"):
        linear_cross_entropy(hidden, weight, labels, bias[:-1])


# ----------------------------------------------------------------------------------------------------------------
# The model's forward: default output unchanged, chunked loss opt-in
# ----------------------------------------------------------------------------------------------------------------
def tiny_model(seed: int = 0, vocab: int = 128) -> M2M100ForConditionalGeneration:
    model = M2M100ForConditionalGeneration(M2M100Config(**{**TINY, "vocab_size": vocab}))
    random_state_init(model, seed, std=0.1)
    return model


def model_batch(vocab: int = 128):
    gen = torch.Generator().manual_seed(1)
    input_ids = torch.randint(4, vocab, (3, 9), generator=gen)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0
    labels = torch.randint(4, vocab, (3, 7), generator=gen)
    labels[0, 5:] = -100
    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels)


@pytest.mark.parametrize("chunked", [True, ChunkedCrossEntropy(chunk_size=5)])
def test_model_forward_opt_in_equals_default(chunked):
    model, batch = tiny_model(), model_batch()
    params = [p for p in model.parameters()]
    default = model(**batch)
    assert default.logits.shape == (3, 7, 128) and default.nll_loss is None
    expected = grads(default.loss, params)
    out = model(**batch, chunked_loss=chunked)
    assert out.logits is None and "logits" not in out.keys()
    torch.testing.assert_close(out.loss, default.loss, **TIGHT)
    torch.testing.assert_close(out.nll_loss, default.loss.detach(), **TIGHT)
    for got, want in zip(grads(out.loss, params), expected):
        torch.testing.assert_close(got, want, **TIGHT)
    # Without labels the flag changes nothing: generation and plain forwards still get logits.
    no_labels = dict(batch, decoder_input_ids=batch["labels"].clamp(min=1))
    del no_labels["labels"]
    assert torch.equal(model(**no_labels, chunked_loss=True).logits, model(**no_labels).logits)


def test_model_forward_matches_transformers_loss(tiny_checkpoint):
    transformers = pytest.importorskip("transformers")
    ours = M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint)
    theirs = transformers.M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint).eval()
    batch = model_batch(vocab=ours.config.vocab_size)
    expected = theirs(**batch).loss
    expected_grad = torch.autograd.grad(expected, theirs.model.shared.weight)[0]
    smoothed = ChunkedCrossEntropy(label_smoothing=0.1)
    out = ours(**batch, chunked_loss=smoothed)
    torch.testing.assert_close(out.nll_loss, expected.detach(), **TIGHT)
    out = ours(**batch, chunked_loss=True)
    torch.testing.assert_close(out.loss, expected, **TIGHT)
    torch.testing.assert_close(torch.autograd.grad(out.loss, ours.model.shared.weight)[0], expected_grad, **TIGHT)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp32_and_bf16_autocast():
    hidden, weight, bias, labels = (t.detach().cuda().requires_grad_(t.requires_grad) for t in problem(length=40))
    loss, _ = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=0.1, chunk_size=16)
    expected = plain(hidden, weight, bias, labels, 0.1, "mean")
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-4)  # TF32 may be on for CUDA matmuls
    for got, want in zip(grads(loss, (hidden, weight, bias)), grads(expected, (hidden, weight, bias))):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, _ = linear_cross_entropy(hidden, weight, labels, bias, label_smoothing=0.1, chunk_size=16)
        expected, _ = label_smoothed_loss(F.linear(hidden, weight, bias), labels, 0.1)
    torch.testing.assert_close(loss * (labels != -100).sum(), expected, rtol=5e-3, atol=0)
