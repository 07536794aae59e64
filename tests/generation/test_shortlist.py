"""Vocabulary shortlist: exact kept logits in every weight mode, identical ids with a full shortlist, source
tokens always kept, Translator/CLI/server plumbing, file round trip and typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import WORDS, build_checkpoint, greedy_generation, write_tokenizer_files

from m2m100 import (
    CheckpointError,
    ConfigError,
    GenerationError,
    LanguageError,
    M2M100ForConditionalGeneration,
    VocabShortlist,
)
from m2m100.auto import AutoTokenizer
from m2m100.generation.few_rows import project_to_vocab
from m2m100.generation.shortlist_projection import (
    clear_shortlist_cache,
    shortlist_projection,
)
from m2m100.packed import can_prepack
from m2m100.quantize import _fbgemm_available
from m2m100.translate import Translator

MODES = ["plain", "packed", "int8"]
LOAD = {"plain": dict(prepack=False), "packed": dict(prepack=True), "int8": dict(quantize="int8")}
GENERATION = greedy_generation(12)


def skip_unavailable(mode: str) -> None:
    if mode == "packed" and not can_prepack(torch.device("cpu"), torch.float32):
        pytest.skip("this torch build has no oneDNN")
    if mode == "int8" and not _fbgemm_available():
        pytest.skip("this torch build has no fbgemm")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, spm_bpe) -> Path:
    directory = tmp_path_factory.mktemp("shortlist_ckpt")
    build_checkpoint(directory, spm_bpe, seed=3, generation=GENERATION)
    return directory


@pytest.fixture(scope="module")
def tokenizer(checkpoint):
    return AutoTokenizer.from_pretrained(checkpoint)


_models: dict[str, M2M100ForConditionalGeneration] = {}


@pytest.fixture
def model(checkpoint, request):
    mode = request.param
    skip_unavailable(mode)
    if mode not in _models:
        _models[mode] = M2M100ForConditionalGeneration.from_pretrained(checkpoint, **LOAD[mode]).eval()
    return _models[mode]


def source_batch(tokenizer, texts=("the house is green", "дом зелёный мы идём в школу")):
    tokenizer.src_lang = "en"
    enc = tokenizer(list(texts), padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def sample_ids(vocab: int, n: int, seed: int = 0) -> torch.Tensor:
    return torch.randperm(vocab, generator=torch.Generator().manual_seed(seed))[:n].sort().values


# -- the projection -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODES, indirect=True)
@pytest.mark.parametrize("rows", [1, 6])
def test_kept_logits_equal_full_logits_and_the_rest_is_minus_inf(model, rows):
    vocab = model.config.vocab_size
    shortlist = sample_ids(vocab, vocab // 3)
    extras = torch.tensor([2, 1, vocab - 1, int(shortlist[0])])  # one already in the shortlist
    projection = shortlist_projection(model, shortlist, [extras])
    hidden = torch.randn(rows, 1, model.config.d_model, generator=torch.Generator().manual_seed(rows))
    with torch.no_grad():
        full = project_to_vocab(model, hidden).float()
        restricted = projection(hidden)
    kept = torch.unique(torch.cat([shortlist, extras]))
    assert restricted.shape == full.shape and restricted.dtype == torch.float32
    if getattr(model, "packed_weights", False) or getattr(model, "quantization", None):
        assert torch.equal(restricted[..., kept], full[..., kept])  # prepacked fp32 and int8: bit for bit
    else:  # plain BLAS picks its kernel by matrix width: the same dot products, rounded within an ulp
        torch.testing.assert_close(restricted[..., kept], full[..., kept], rtol=1e-6, atol=1e-6)
    dropped = torch.ones(vocab, dtype=torch.bool)
    dropped[kept] = False
    assert bool(torch.isneginf(restricted[..., dropped]).all())
    assert sorted(projection.kept_ids.tolist()) == kept.tolist()


@pytest.mark.parametrize("model", ["plain"], indirect=True)
def test_cached_rows_follow_weight_edits(model):
    """The shortlist's gathered rows are cached per model; an in-place weight change must not serve stale rows."""
    vocab = model.config.vocab_size
    shortlist = sample_ids(vocab, 50, seed=1)
    hidden = torch.randn(2, 1, model.config.d_model)
    first = shortlist_projection(model, shortlist, [])(hidden)
    weight = model.lm_head.weight
    saved = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.mul_(2.0)
            doubled = shortlist_projection(model, shortlist, [])(hidden)
            torch.testing.assert_close(doubled[..., shortlist], 2 * first[..., shortlist])
            now = project_to_vocab(model, hidden).float()[..., shortlist]
            torch.testing.assert_close(doubled[..., shortlist], now, rtol=1e-6, atol=1e-6)
    finally:
        with torch.no_grad():
            weight.copy_(saved)
        clear_shortlist_cache()


# -- generation ---------------------------------------------------------------------------------------------------
def generate(model, tokenizer, **kwargs):
    input_ids, mask = source_batch(tokenizer)
    with torch.no_grad():
        return model.generate(input_ids=input_ids, attention_mask=mask, forced_bos_token_id=tokenizer.get_lang_id("de"),
                              max_new_tokens=10, **kwargs)


SEARCHES = [dict(), dict(num_beams=3), dict(num_beams=2, num_return_sequences=2, length_penalty=0.5)]


@pytest.mark.parametrize("model", MODES, indirect=True)
@pytest.mark.parametrize("search", SEARCHES, ids=["greedy", "beam3", "beam2x2"])
def test_shortlist_of_every_token_gives_identical_ids(model, tokenizer, search):
    everything = torch.arange(model.config.vocab_size)
    full = generate(model, tokenizer, **search)
    assert torch.equal(generate(model, tokenizer, vocab_shortlist=everything, **search), full)


@pytest.mark.parametrize("model", MODES, indirect=True)
@pytest.mark.parametrize("search", SEARCHES[:2], ids=["greedy", "beam3"])
def test_output_stays_within_shortlist_plus_source_and_special_tokens(model, tokenizer, search):
    vocab = model.config.vocab_size
    shortlist = sample_ids(vocab, 40, seed=2)
    input_ids, _ = source_batch(tokenizer)
    out = generate(model, tokenizer, vocab_shortlist=shortlist, return_dict_in_generate=True, output_scores=True,
                   **search)
    de = tokenizer.get_lang_id("de")
    kept = set(shortlist.tolist()) | set(input_ids.flatten().tolist()) | {de, 2, 1}  # + forced BOS, eos, pad
    assert set(out.sequences.flatten().tolist()) <= kept
    # the step after the forced language token: exactly the kept ids are scored, every source token among them
    finite = torch.isfinite(out.scores[1]).any(dim=0).nonzero().flatten().tolist()
    assert set(finite) == kept
    # normalised over the kept set: probabilities of a row still sum to one
    if search.get("num_beams", 1) > 1:
        alive = torch.isfinite(out.scores[1]).any(dim=1)
        sums = out.scores[1][alive].exp().sum(dim=1)
        torch.testing.assert_close(sums, torch.ones_like(sums))


@pytest.mark.parametrize("model", ["plain"], indirect=True)
def test_shortlist_changes_only_the_decoding_not_the_defaults(model, tokenizer):
    """Without vocab_shortlist nothing changes; a shortlist that holds the full run's tokens gives the same ids
    under greedy search (argmax over a superset of the chosen tokens)."""
    full = generate(model, tokenizer)
    used = torch.unique(full)
    assert torch.equal(generate(model, tokenizer, vocab_shortlist=used), full)


@pytest.mark.parametrize("bad", [[], [[1, 2]], [0.5, 1.0], [-1, 3], [10 ** 6], "abc", 7])
def test_bad_vocab_shortlist_is_a_generation_error(checkpoint, tokenizer, bad):
    model = M2M100ForConditionalGeneration.from_pretrained(checkpoint, prepack=False)
    with pytest.raises(GenerationError, match="vocab_shortlist"):
        generate(model, tokenizer, vocab_shortlist=bad)


# -- the VocabShortlist ---------------------------------------------------------------------------------------------
def texts() -> dict[str, list[str]]:
    latin, cyrillic = WORDS["latin"], WORDS["cyrillic"]
    return {"de": [" ".join(latin[i:i + 6]) for i in range(0, len(latin), 3)],
            "ru": [" ".join(cyrillic[i:i + 5]) for i in range(0, len(cyrillic), 2)]}


def test_build_keeps_every_token_of_the_text_and_min_count_drops_rare_ones(tokenizer):
    data = texts()
    shortlist = VocabShortlist.build(tokenizer, data)
    for code, lines in data.items():
        used = {t for row in tokenizer(lines, add_special_tokens=False)["input_ids"] for t in row}
        assert set(shortlist.languages[code]) == used
    assert tokenizer.get_lang_id("de") in shortlist.always and tokenizer.eos_token_id in shortlist.always
    assert shortlist.vocab_size == len(tokenizer)
    kept = shortlist.token_ids(["de", "ru"])
    assert kept == sorted(set(shortlist.languages["de"]) | set(shortlist.languages["ru"]) | set(shortlist.always))
    frequent = VocabShortlist.build(tokenizer, data, min_count=2)
    assert set(frequent.languages["de"]) < set(shortlist.languages["de"])


def test_save_load_round_trip(tmp_path, tokenizer):
    shortlist = VocabShortlist.build(tokenizer, texts(), min_count=1)
    path = shortlist.save(tmp_path / "shortlist.json")
    loaded = VocabShortlist.load(path)
    assert loaded == shortlist
    loaded.check_tokenizer(tokenizer)
    assert loaded.token_ids("ru") == shortlist.token_ids("ru")


def test_file_errors_are_typed(tmp_path, tokenizer):
    with pytest.raises(CheckpointError, match="not found"):
        VocabShortlist.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        VocabShortlist.load(bad)
    good = VocabShortlist.build(tokenizer, texts()).to_dict()
    for change, message in [({"format": "other"}, "not a vocabulary shortlist"), ({"version": 9}, "version"),
                            ({"languages": {"de": 5}}, "languages"), ({"always": None}, "always"),
                            ({"languages": {"de": [0, 10 ** 7]}}, "outside"), ({"vocab_size": "x"}, "vocab_size")]:
        bad.write_text(json.dumps({**good, **change}), encoding="utf-8")
        with pytest.raises(CheckpointError, match=message):
            VocabShortlist.load(bad)


def test_language_and_tokenizer_errors(tokenizer, spm_unigram, tmp_path):
    with pytest.raises(LanguageError, match="xx"):
        VocabShortlist.build(tokenizer, {"xx": ["text"]})
    with pytest.raises(ConfigError, match="no text"):
        VocabShortlist.build(tokenizer, {"de": []})
    with pytest.raises(ConfigError, match="min_count"):
        VocabShortlist.build(tokenizer, texts(), min_count=0)
    shortlist = VocabShortlist.build(tokenizer, texts())
    with pytest.raises(LanguageError, match="fr"):
        shortlist.token_ids(["de", "fr"])
    write_tokenizer_files(tmp_path / "other", spm_unigram)
    other = AutoTokenizer.from_pretrained(tmp_path / "other")
    with pytest.raises(ConfigError, match="tokenizer"):
        shortlist.check_tokenizer(other)


# -- Translator, CLI, server -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plain_translator(checkpoint):
    return Translator.from_pretrained(checkpoint, device="cpu", prepack=False, guards=False)


def test_translator_passes_the_target_set_and_falls_back_without_one(checkpoint, tokenizer, plain_translator):
    shortlist = VocabShortlist.build(tokenizer, texts())
    translator = Translator(plain_translator.model, tokenizer, shortlist=shortlist, guards=False)
    seen = []
    original = translator.model.generate

    def spy(*args, **kwargs):
        seen.append(kwargs.get("vocab_shortlist"))
        return original(*args, **kwargs)

    translator.model.generate = spy
    try:
        out = translator.translate(["the house is green", "we walk to school"], "en", "de")
        assert len(out) == 2 and seen[-1] is not None and seen[-1].tolist() == shortlist.token_ids("de")
        # a batch into several covered languages keeps the union of their sets
        translator.translate(["the house is green", "we walk"], "en", ["de", "ru"])
        assert seen[-1].tolist() == shortlist.token_ids(["de", "ru"])
        # a target the shortlist lacks decodes over the full vocabulary, as without a shortlist
        fr = translator.translate("the house is green", "en", "fr")
        assert seen[-1] is None
        assert fr == plain_translator.translate("the house is green", "en", "fr")
    finally:
        del translator.model.generate


def test_translator_with_every_token_matches_the_plain_translator(checkpoint, tokenizer, plain_translator):
    everything = tuple(range(len(tokenizer)))
    shortlist = VocabShortlist({"de": everything}, (), len(tokenizer))
    translator = Translator(plain_translator.model, tokenizer, shortlist=shortlist, guards=False)
    lines = ["the house is green and we walk", "дом зелёный", "école été forêt 42"]
    expected = plain_translator.translate(lines, "en", "de", num_beams=2)
    assert translator.translate(lines, "en", "de", num_beams=2) == expected


def test_translator_rejects_shortlists_it_cannot_use(checkpoint, tokenizer, plain_translator, tmp_path):
    with pytest.raises(LanguageError, match="zz"):
        Translator(plain_translator.model, tokenizer, shortlist=VocabShortlist({"zz": (5,)}, (), len(tokenizer)))
    with pytest.raises(ConfigError, match="tokens"):
        Translator(plain_translator.model, tokenizer, shortlist=VocabShortlist({"de": (5,)}, (), len(tokenizer) + 1))
    with pytest.raises(CheckpointError, match="not found"):
        Translator.from_pretrained(checkpoint, shortlist=tmp_path / "missing.json")
    with pytest.raises(TypeError):
        Translator(plain_translator.model, tokenizer, shortlist=42)


@pytest.mark.parametrize("mode", ["packed", "int8"])
def test_translator_runs_with_fast_weight_modes(checkpoint, tokenizer, mode):
    skip_unavailable(mode)
    shortlist = VocabShortlist.build(tokenizer, texts())
    path = shortlist.save(checkpoint / "shortlist.json")
    try:
        translator = Translator.from_pretrained(checkpoint, device="cpu", shortlist=True, guards=False,
                                                **LOAD[mode])
        assert translator.shortlist == shortlist
        out = translator.translate(["the house is green", "дом зелёный"], "en", "de", num_beams=2)
        assert len(out) == 2 and all(isinstance(t, str) for t in out)
    finally:
        path.unlink()


def test_cli_build_info_and_translate(checkpoint, tmp_path, capsys, monkeypatch):
    from m2m100 import cli

    monkeypatch.delenv("M2M100_MODEL", raising=False)
    de = tmp_path / "train.tsv"
    de.write_text("".join(f"source {i}\t{line}\n" for i, line in enumerate(texts()["de"])), encoding="utf-8")
    ru = tmp_path / "ru.txt"
    ru.write_text("\n".join(texts()["ru"]) + "\n", encoding="utf-8")
    out = tmp_path / "sl.json"
    assert cli.main(["shortlist", "build", "-m", str(checkpoint), "--text", f"de={de}", "--text", f"Russian={ru}",
                     "-o", str(out)]) == 0
    shortlist = VocabShortlist.load(out)
    assert set(shortlist.languages) == {"de", "ru"}
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert shortlist == VocabShortlist.build(tokenizer, texts())  # the TSV's second column was read
    assert cli.main(["shortlist", "build", "-m", str(checkpoint), "--text", f"de={de}", "-o", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["shortlist", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["languages"] == shortlist.sizes()
    assert cli.main(["translate", "-m", str(checkpoint), "-s", "en", "-t", "de", "--shortlist", str(out),
                     "--no-guards", "-q", "the house is green"]) == 0
    expected = Translator.from_pretrained(checkpoint, device="cpu", shortlist=out, guards=False)
    assert capsys.readouterr().out == expected.translate("the house is green", "en", "de") + "\n"
    assert cli.main(["translate", "-m", str(checkpoint), "-s", "en", "-t", "de", "--shortlist",
                     str(tmp_path / "nope.json"), "-q", "hello"]) == 1
    assert "not found" in capsys.readouterr().err
    assert cli.main(["shortlist", "build", "-m", str(checkpoint), "--text", "de"]) == 2


def test_server_setting_reaches_the_translator(checkpoint, tokenizer, tmp_path):
    from m2m100.server.app import default_translator_factory
    from m2m100.server.settings import ServerSettings

    path = VocabShortlist.build(tokenizer, texts()).save(tmp_path / "sl.json")
    settings = ServerSettings.from_sources({"model": str(checkpoint), "device": "cpu", "shortlist": str(path)}, {})
    translator = default_translator_factory(settings)
    assert translator.shortlist is not None and translator.shortlist.covers("ru")
    assert ServerSettings.from_sources({}, {}).shortlist is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_kept_logits_match(checkpoint):
    model = M2M100ForConditionalGeneration.from_pretrained(checkpoint, device_map="cuda").eval()
    vocab = model.config.vocab_size
    shortlist = sample_ids(vocab, vocab // 2).cuda()
    hidden = torch.randn(4, 1, model.config.d_model, device="cuda")
    with torch.no_grad():
        full = project_to_vocab(model, hidden).float()
        restricted = shortlist_projection(model, shortlist, [])(hidden)
    # cuBLAS may pick another kernel for another width: equal up to float rounding
    torch.testing.assert_close(restricted[..., shortlist], full[..., shortlist], rtol=1e-5, atol=1e-5)
    assert bool(torch.isneginf(restricted).sum() == 4 * (vocab - shortlist.numel()))
