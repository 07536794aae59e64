"""generate() against transformers' generate on the same random checkpoints: the same token ids, scores and
sequence scores for greedy search and beam search under every control, alone and combined, on padded batches,
with and without the cache; sampling draws the same tokens under the same seed."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from conftest import TINY, random_state_init

from m2m100 import GenerationError, M2M100Config, M2M100ForConditionalGeneration

pytestmark = pytest.mark.parity

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore", module="transformers")
TRANSFORMERS_VERSION = tuple(int(p) for p in transformers.__version__.split(".")[:2])

VOCAB = 256
EOS = 2


def biased_checkpoint(directory, seed: int, eos_bias: float, vocab_size: int = VOCAB, **overrides):
    """A random checkpoint whose hypotheses end at varied lengths (random models rarely say EOS).

    The output projection is untied and its EOS row gets a component along the decoder's final layer-norm
    bias, which adds about `eos_bias` to the EOS logit at every step: some rows end after a few tokens, others
    run to max_length. The safetensors file also lists the (tied) encoder/decoder embedding keys so that
    transformers, which expects them for untied configurations, loads the same model.
    """
    from safetensors.torch import load_file, save_file

    config = M2M100Config(**{**TINY, "vocab_size": vocab_size, "tie_word_embeddings": False, **overrides})
    torch.manual_seed(seed)
    model = M2M100ForConditionalGeneration(config)
    random_state_init(model, seed)
    bias = model.model.decoder.layer_norm.bias.detach()
    with torch.no_grad():
        model.lm_head.weight[EOS] += eos_bias * bias / (bias @ bias)
    model.save_pretrained(directory)
    weights = load_file(directory / "model.safetensors")
    for part in ("encoder", "decoder"):
        weights[f"model.{part}.embed_tokens.weight"] = weights["model.shared.weight"]
    save_file({k: v.clone() for k, v in weights.items()}, directory / "model.safetensors", metadata={"format": "pt"})
    return directory


def load_pair(directory):
    ours = M2M100ForConditionalGeneration.from_pretrained(directory)
    ref = transformers.M2M100ForConditionalGeneration.from_pretrained(directory).eval()
    return ours, ref


SPECS = {  # name: (seed, eos bias, config overrides)
    "a": (1, 0.7, {}),
    "b": (2, 1.7, {}),
    "c": (3, 2.4, {"d_model": 48, "decoder_layers": 3, "decoder_ffn_dim": 80}),
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return {
        name: load_pair(biased_checkpoint(tmp_path_factory.mktemp(f"gen_{name}"), seed, bias, **over))
        for name, (seed, bias, over) in SPECS.items()
    }


def padded_batch(seed=0, lengths=(11, 7, 11, 4, 9), vocab=VOCAB):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), 1)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(4, vocab, (n,), generator=gen)
        mask[i, :n] = 1
    return ids, mask


IDS, MASK = padded_batch()


def run_both(ours, ref, ids=IDS, mask=MASK, **kwargs):
    ref_kwargs = {k: v for k, v in kwargs.items() if k != "prune_finished"}
    common = {"input_ids": ids, "attention_mask": mask, "return_dict_in_generate": True, "output_scores": True}
    return ours.generate(**common, **kwargs), ref.generate(**common, **ref_kwargs)


def compare(a, b, beam: bool, exact_scores: bool = False):
    """Same ids (and beam indices); scores of every row still decoding agree (bit for bit without pruning)."""
    assert torch.equal(a.sequences, b.sequences), f"\nours\n{a.sequences}\nreference\n{b.sequences}"
    assert len(a.scores) == len(b.scores)
    for step, (sa, sb) in enumerate(zip(a.scores, b.scores)):
        assert sa.shape == sb.shape
        if exact_scores:
            assert torch.equal(sa, sb), f"step {step}"
            continue
        # rows that left the batch report -inf everywhere but the padding token
        live = (sa == float("-inf")).sum(dim=1) != sa.shape[1] - 1
        assert torch.equal(torch.isinf(sa[live]), torch.isinf(sb[live])), f"step {step}"
        finite = torch.isfinite(sb[live])
        assert torch.allclose(sa[live][finite], sb[live][finite], atol=1e-4, rtol=1e-4), f"step {step}"
    if beam:
        assert torch.equal(a.beam_indices, b.beam_indices)
        assert torch.allclose(a.sequences_scores, b.sequences_scores, atol=1e-4, rtol=0)
    else:
        assert not hasattr(a, "sequences_scores")


def bad_words_from(sequences, prompt=1):
    """Words the model actually produces: a frequent single token and a bigram it emits."""
    gen = sequences[:, prompt:]
    tokens = gen[(gen != 1) & (gen != EOS)]
    common = int(torch.mode(tokens).values)
    row = next(r for r in gen if (r > 3).sum() >= 3)
    row = row[row > 3]
    return [[common], [int(row[1]), int(row[2])], [int(row[0]), int(row[1]), int(row[2])]]


CONTROLS = {
    "defaults": {},
    "max_new_tokens": {"max_new_tokens": 7},
    "max_length": {"max_length": 9},
    "min_length": {"min_length": 6, "max_new_tokens": 10},
    "min_new_tokens": {"min_new_tokens": 4, "max_new_tokens": 10},
    "forced_bos": {"forced_bos_token_id": 5, "max_new_tokens": 10},
    "forced_eos": {"forced_eos_token_id": EOS, "max_new_tokens": 6},
    "no_repeat_2": {"no_repeat_ngram_size": 2, "max_new_tokens": 12},
    "no_repeat_1": {"no_repeat_ngram_size": 1, "max_new_tokens": 12},
    "repetition_up": {"repetition_penalty": 1.5, "max_new_tokens": 10},
    "repetition_down": {"repetition_penalty": 0.7, "max_new_tokens": 10},
    "bad_words": {"bad_words_ids": "auto", "max_new_tokens": 12},
    "two_eos": {"eos_token_id": "auto", "max_new_tokens": 12},
    "pad_0": {"pad_token_id": 0, "max_new_tokens": 10},
    "start_3": {"decoder_start_token_id": 3, "max_new_tokens": 10},
    "combined": {"min_new_tokens": 3, "no_repeat_ngram_size": 2, "repetition_penalty": 1.3,
                 "forced_bos_token_id": 5, "forced_eos_token_id": EOS, "bad_words_ids": "auto",
                 "max_new_tokens": 12},
}


def resolve(ours, kwargs):
    """Fill the 'auto' controls from what the model generates without them."""
    kwargs = dict(kwargs)
    if "auto" in (kwargs.get("bad_words_ids"), kwargs.get("eos_token_id")):
        plain = ours.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=12)
        if kwargs.get("bad_words_ids") == "auto":
            kwargs["bad_words_ids"] = bad_words_from(plain)
        if kwargs.get("eos_token_id") == "auto":
            kwargs["eos_token_id"] = [EOS, bad_words_from(plain)[0][0]]
    return kwargs


@pytest.mark.parametrize("control", list(CONTROLS))
@pytest.mark.parametrize("name", list(SPECS))
def test_greedy_matches_transformers(pairs, name, control):
    ours, ref = pairs[name]
    a, b = run_both(ours, ref, **resolve(ours, CONTROLS[control]))
    compare(a, b, beam=False)


@pytest.mark.parametrize("control", list(CONTROLS))
@pytest.mark.parametrize("name", list(SPECS))
def test_beam_matches_transformers(pairs, name, control):
    ours, ref = pairs[name]
    a, b = run_both(ours, ref, num_beams=3, **resolve(ours, CONTROLS[control]))
    compare(a, b, beam=True)


@pytest.mark.parametrize(("num_beams", "num_return_sequences"), [(2, 2), (4, 2), (5, 1)])
@pytest.mark.parametrize("length_penalty", [1.0, 0.0, 2.0, -0.5])
@pytest.mark.parametrize("early_stopping", [True, False, "never"])
def test_beam_search_settings(pairs, num_beams, num_return_sequences, length_penalty, early_stopping):
    name = "ab"[(num_beams + int(length_penalty * 2)) % 2]  # spread the grid over two checkpoints
    ours, ref = pairs[name]
    a, b = run_both(ours, ref, num_beams=num_beams, num_return_sequences=num_return_sequences,
                    length_penalty=length_penalty, early_stopping=early_stopping, max_new_tokens=14)
    compare(a, b, beam=True)
    assert a.sequences.shape[0] == IDS.shape[0] * num_return_sequences


def test_outputs_have_varied_lengths(pairs):
    """The checkpoints make some hypotheses end early and others run to max_length (else the tests are weak)."""
    for name, (ours, _) in pairs.items():
        for beams in (1, 3):
            out = ours.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=14, num_beams=beams)
            lengths = (out != 1).sum(dim=1)
            assert lengths.min() < out.shape[1] - 2 and lengths.max() == out.shape[1], (name, beams, lengths)
            assert len(set(lengths.tolist())) >= 2


@pytest.mark.parametrize("strategy", [{}, {"num_beams": 3}, {"num_beams": 2, "num_return_sequences": 2},
                                      {"num_beams": 3, **CONTROLS["combined"]}, CONTROLS["combined"]])
@pytest.mark.parametrize("name", ["a", "c"])
def test_without_cache(pairs, name, strategy):
    ours, ref = pairs[name]
    strategy = resolve(ours, {"max_new_tokens": 10, **strategy})
    a, b = run_both(ours, ref, use_cache=False, **strategy)
    compare(a, b, beam="num_beams" in strategy)
    cached = ours.generate(input_ids=IDS, attention_mask=MASK, **strategy)
    assert torch.equal(cached, a.sequences)


@pytest.mark.parametrize("strategy", [{}, {"num_beams": 3}, {"num_beams": 3, "early_stopping": True}])
def test_full_batch_mode_is_bit_exact(pairs, strategy):
    """prune_finished=False keeps finished rows in the batch: scores then equal the reference bit for bit."""
    ours, ref = pairs["b"]
    a, b = run_both(ours, ref, prune_finished=False, max_new_tokens=12, output_logits=True, **strategy)
    compare(a, b, beam="num_beams" in strategy, exact_scores=True)
    assert all(torch.equal(x, y) for x, y in zip(a.logits, b.logits))


def test_plain_tensor_output_and_inputs_positional(pairs):
    ours, ref = pairs["a"]
    for kwargs in ({}, {"num_beams": 2}):
        out = ours.generate(IDS, attention_mask=MASK, max_new_tokens=8, **kwargs)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.long
        assert torch.equal(out, ref.generate(IDS, attention_mask=MASK, max_new_tokens=8, **kwargs))
        assert (out[:, 0] == EOS).all()  # the decoder start token comes first


def test_unpadded_and_single_row_inputs(pairs):
    ours, ref = pairs["c"]
    for ids, mask in ((IDS[:1, :11], None), (IDS[[0, 2]], None), (IDS[3:4, :4], MASK[3:4, :4])):
        for kwargs in ({}, {"num_beams": 4, "num_return_sequences": 3}):
            a = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=9, **kwargs)
            b = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=9, **kwargs)
            assert torch.equal(a, b)


def test_encoder_outputs_and_generation_config_object(pairs):
    ours, ref = pairs["b"]
    from m2m100 import GenerationConfig

    encoded = ours.get_encoder()(input_ids=IDS, attention_mask=MASK)
    gc = GenerationConfig(num_beams=3, max_new_tokens=9, no_repeat_ngram_size=2)
    a = ours.generate(encoder_outputs=encoded, attention_mask=MASK, generation_config=gc)
    b = ref.generate(input_ids=IDS, attention_mask=MASK, generation_config=transformers.GenerationConfig(**gc.to_dict()))
    assert torch.equal(a, b)
    # keyword arguments win over the config object, which is not modified
    c = ours.generate(input_ids=IDS, attention_mask=MASK, generation_config=gc, num_beams=1)
    assert torch.equal(c, ref.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=9, no_repeat_ngram_size=2))
    assert gc.num_beams == 3 and gc.max_length is None


def test_inputs_embeds_and_decoder_prompt(pairs):
    ours, ref = pairs["c"]
    embeds = ours.get_input_embeddings()(IDS)  # scaled token embeddings, as the encoder takes them
    for kwargs in ({}, {"num_beams": 3}):
        a = ours.generate(inputs_embeds=embeds, attention_mask=MASK, max_new_tokens=8, **kwargs)
        b = ref.generate(inputs_embeds=embeds, attention_mask=MASK, max_new_tokens=8, **kwargs)
        assert torch.equal(a, b)
        # a decoder prompt: used as given when it starts with the start token, else the start token is prepended
        for prompt in (torch.tensor([[EOS, 5, 9]] * 5), torch.tensor([[5, 9]] * 5)):
            a = ours.generate(input_ids=IDS, attention_mask=MASK, decoder_input_ids=prompt, max_new_tokens=8,
                              forced_bos_token_id=7, **kwargs)
            b = ref.generate(input_ids=IDS, attention_mask=MASK, decoder_input_ids=prompt, max_new_tokens=8,
                             forced_bos_token_id=7, **kwargs)
            assert torch.equal(a, b) and (a[:, 1:3] == torch.tensor([5, 9])).all()


def test_custom_logits_processor(pairs):
    """The caller's processors run after the built-in ones, transformers-style (input_ids, scores) -> scores."""
    ours, ref = pairs["b"]
    banned = bad_words_from(ours.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8))[0][0]

    def ban_frequent_token(input_ids, scores):
        return scores.index_fill(1, torch.tensor([banned]), float("-inf"))

    for kwargs in ({}, {"num_beams": 3}, {"repetition_penalty": 1.4}):
        a = ours.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8, logits_processor=[ban_frequent_token], **kwargs)
        b = ref.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8,
                         logits_processor=transformers.LogitsProcessorList([ban_frequent_token]), **kwargs)
        assert torch.equal(a, b) and not (a[:, 1:] == banned).any()


def test_default_max_length_is_twenty_new_tokens(pairs):
    ours, ref = pairs["a"]  # no max_length anywhere: transformers generates up to 20 new tokens
    a, b = ours.generate(input_ids=IDS, attention_mask=MASK), ref.generate(input_ids=IDS, attention_mask=MASK)
    assert torch.equal(a, b) and a.shape[1] == 21


# --------------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------------
SAMPLING = {
    "plain": {"do_sample": True},
    "temperature_no_top_k": {"do_sample": True, "top_k": 0, "temperature": 0.7},
    "top_k_top_p": {"do_sample": True, "top_k": 20, "top_p": 0.8},
    "return_3": {"do_sample": True, "top_p": 0.9, "num_return_sequences": 3},
    "controls": {"do_sample": True, "temperature": 1.3, "repetition_penalty": 1.2, "no_repeat_ngram_size": 2,
                 "min_new_tokens": 2, "forced_bos_token_id": 5},
    "beam_sample": {"do_sample": True, "num_beams": 3},
    "beam_sample_return_2": {"do_sample": True, "num_beams": 3, "num_return_sequences": 2, "top_k": 10,
                             "temperature": 1.5},
}


@pytest.mark.parametrize("prune", [True, False])
@pytest.mark.parametrize("setting", list(SAMPLING))
def test_sampling_same_seed_same_ids(pairs, setting, prune):
    """One multinomial draw per step over the same probabilities: the same seed gives the same tokens, also when
    finished rows have left our batch (we draw the random numbers of the whole batch)."""
    ours, ref = pairs["a"]
    kwargs = {"max_new_tokens": 12, **SAMPLING[setting]}
    if kwargs.get("num_beams", 1) > 1 and TRANSFORMERS_VERSION < (5, 24):
        pytest.skip("transformers < 5.24 keeps sampled beam candidates in draw order; 5.24 sorts them by score, as we do")
    torch.manual_seed(1234)
    a = ours.generate(input_ids=IDS, attention_mask=MASK, prune_finished=prune, **kwargs)
    torch.manual_seed(1234)
    b = ref.generate(input_ids=IDS, attention_mask=MASK, **kwargs)
    assert torch.equal(a, b)


def test_sampling_varies_with_seed_and_respects_top_k(pairs):
    ours, _ = pairs["c"]
    outs = []
    for seed in range(4):
        torch.manual_seed(seed)
        outs.append(ours.generate(input_ids=IDS, attention_mask=MASK, do_sample=True, max_new_tokens=8))
    assert len({tuple(o.flatten().tolist()) for o in outs}) > 1
    greedy = ours.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=8)
    for kwargs in ({"top_k": 1}, {"top_p": 1e-6}):
        torch.manual_seed(0)
        assert torch.equal(ours.generate(input_ids=IDS, attention_mask=MASK, do_sample=True, max_new_tokens=8,
                                         **kwargs), greedy)


# --------------------------------------------------------------------------------------------------
# beyond transformers: one target language per row
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", [{}, {"num_beams": 3}, {"num_beams": 3, "num_return_sequences": 2},
                                      {"no_repeat_ngram_size": 2, "forced_eos_token_id": EOS}])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_mixed_target_batch_equals_rows_alone(pairs, strategy, as_tensor):
    ours, ref = pairs["b"]
    targets = [5, 9, 5, 17, 33]
    forced = torch.tensor(targets) if as_tensor else targets
    kwargs = {"max_new_tokens": 10, **strategy}
    mixed = ours.generate(input_ids=IDS, attention_mask=MASK, forced_bos_token_id=forced, **kwargs)
    per_row = mixed.shape[0] // len(targets)
    for i, target in enumerate(targets):
        n = int(MASK[i].sum())
        alone = ours.generate(input_ids=IDS[i : i + 1, :n], forced_bos_token_id=target, **kwargs)
        reference = ref.generate(input_ids=IDS[i : i + 1, :n], forced_bos_token_id=target, **kwargs)
        assert torch.equal(alone, reference)
        rows = mixed[i * per_row : (i + 1) * per_row]
        assert (rows[:, 1] == target).all()
        assert torch.equal(rows[:, : alone.shape[1]], alone)
        assert (rows[:, alone.shape[1] :] == 1).all()  # only padding past the row's own length


def test_per_row_forced_bos_must_match_batch(pairs):
    ours, _ = pairs["a"]
    with pytest.raises(GenerationError, match="forced_bos_token_id"):
        ours.generate(input_ids=IDS, attention_mask=MASK, forced_bos_token_id=[5, 6])


# --------------------------------------------------------------------------------------------------
# bad arguments fail before any work
# --------------------------------------------------------------------------------------------------
BAD = [
    ({"num_beams": 0}, "num_beams"),
    ({"num_beams": 2.5}, "num_beams"),
    ({"num_beams": 2, "num_return_sequences": 3}, "num_return_sequences"),
    ({"num_return_sequences": 2}, "num_return_sequences"),
    ({"num_return_sequences": 0}, "num_return_sequences"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_length": 0}, "max_length"),
    ({"max_length": 1}, "max_length"),
    ({"max_length": 10_000}, "max_length"),
    ({"min_length": -1}, "min_length"),
    ({"min_new_tokens": -2}, "min_new_tokens"),
    ({"top_p": 0.0, "do_sample": True}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"),
    ({"temperature": 0.0, "do_sample": True}, "temperature"),
    ({"temperature": -1.0}, "temperature"),
    ({"repetition_penalty": 0.0}, "repetition_penalty"),
    ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
    ({"early_stopping": "sometimes"}, "early_stopping"),
    ({"length_penalty": float("nan")}, "length_penalty"),
    ({"do_sample": "yes"}, "do_sample"),
    ({"bad_words_ids": [[]]}, "bad_words_ids"),
    ({"bad_words_ids": [[5, VOCAB + 3]]}, "bad_words_ids"),
    ({"forced_bos_token_id": VOCAB}, "forced_bos_token_id"),
    ({"forced_bos_token_id": -1}, "forced_bos_token_id"),
    ({"eos_token_id": [2, VOCAB]}, "eos_token_id"),
    ({"decoder_start_token_id": "x"}, "decoder_start_token_id"),
    ({"num_beam_groups": 2}, "num_beam_groups"),
    ({"no_such_option": 1}, "no_such_option"),
]


@pytest.mark.parametrize(("kwargs", "name"), BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
def test_bad_arguments_raise_before_any_work(pairs, monkeypatch, kwargs, name):
    ours, _ = pairs["a"]

    def no_work(*args, **kw):
        raise AssertionError("the model ran before the arguments were checked")

    monkeypatch.setattr(ours.model.encoder, "forward", no_work)
    monkeypatch.setattr(ours.model.decoder, "forward", no_work)
    with pytest.raises(GenerationError, match=name) as info:
        ours.generate(input_ids=IDS, attention_mask=MASK, **kwargs)
    assert isinstance(info.value, ValueError)


def test_all_settings_combined_with_beams_and_cache_off(pairs):
    """A last sweep: every control at once, several beam settings, with and without the cache."""
    ours, ref = pairs["c"]
    base = resolve(ours, CONTROLS["combined"])
    for beams, cache, stopping in itertools.product((2, 4), (True, False), (True, "never")):
        a, b = run_both(ours, ref, num_beams=beams, use_cache=cache, early_stopping=stopping,
                        length_penalty=0.8, num_return_sequences=2, **base)
        compare(a, b, beam=True)


# --------------------------------------------------------------------------------------------------
# performance properties: encoder once, cross-attention K/V once, finished rows leave the batch
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_beams", [1, 3])
def test_work_done_once_and_finished_rows_dropped(pairs, num_beams):
    ours, _ = pairs["a"]
    calls = {"encoder": 0, "cross_k": 0}
    batches = []
    hooks = [
        ours.model.encoder.register_forward_hook(lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1)),
        ours.model.decoder.layers[0].encoder_attn.k_proj.register_forward_hook(
            lambda *a: calls.__setitem__("cross_k", calls["cross_k"] + 1)),
        ours.model.decoder.register_forward_pre_hook(lambda m, a, kw: batches.append(kw["input_ids"].shape),
                                                     with_kwargs=True),
    ]
    try:
        out = ours.generate(input_ids=IDS, attention_mask=MASK, max_new_tokens=14, num_beams=num_beams)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"encoder": 1, "cross_k": 1}
    assert all(shape[1] == 1 for shape in batches)  # one new token per step
    rows = [shape[0] for shape in batches]
    assert rows[0] == IDS.shape[0] * num_beams and rows == sorted(rows, reverse=True) and rows[-1] < rows[0]
    assert all(r % num_beams == 0 for r in rows)
    assert len(batches) == out.shape[1] - 1


def test_cache_reorder_and_copy_rows():
    from m2m100.cache import KVCache

    cache = KVCache(1, capacity=8)
    k = torch.arange(4 * 2 * 3 * 2, dtype=torch.float32).view(4, 2, 3, 2)
    cache.update(0, k, -k)
    cache.advance(3)
    cache.set_cross(0, k[:, :, :1].clone(), k[:, :, :1].clone())
    cache.copy_rows(torch.tensor([0, 3]), torch.tensor([3, 0]))  # swap rows 0 and 3, self-attention only
    assert torch.equal(cache.self_k[0][:, :, :3], k[[3, 1, 2, 0]]) and torch.equal(cache.self_v[0][:, :, :3], -k[[3, 1, 2, 0]])
    assert torch.equal(cache.cross_k[0], k[:, :, :1])
    capacity = cache.self_k[0].shape[2]
    cache.reorder(torch.tensor([2, 2, 0]))  # fewer rows: new buffers, same capacity
    assert cache.self_k[0].shape == (3, 2, capacity, 2)
    assert torch.equal(cache.self_k[0][:, :, :3], k[[2, 2, 3]]) and torch.equal(cache.cross_k[0], k[[2, 2, 0], :, :1])
    cache.reorder(torch.tensor([1, 0, 2]), cross=False)
    assert torch.equal(cache.self_k[0][:, :, :3], k[[2, 2, 3]]) and torch.equal(cache.cross_k[0], k[[2, 2, 0], :, :1])
    k2, _ = cache.update(0, torch.ones(3, 2, 1, 2), torch.ones(3, 2, 1, 2))
    assert k2.shape == (3, 2, 4, 2)
