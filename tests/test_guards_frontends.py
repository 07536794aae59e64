"""Quality guards through the Translator and the CLI: clean pieces unchanged (parity with transformers), flagged
pieces retried a bounded number of times and reproducibly, details reported, switches honoured.

The root conftest turns the guards off by default for the suite (M2M100_GUARDS=0); these tests turn them on
explicitly. A tiny random model loops and mixes scripts, which gives the guard plenty to flag."""

from __future__ import annotations

import json

import pytest
import torch

from m2m100 import cli
from m2m100.guards import RETRY_KINDS, GuardConfig, PieceReport, TextDetails
from m2m100.translate import Translator

TEXTS = ["the house is green and we walk to school", "birds sing every morning", "hello",
         "дом зелёный мы идём в школу"]
# Detectors that a random model's output does not trip (unk_output: the tiny vocabulary has <unk>, the model
# never produces it in these texts), so every piece counts as clean.
QUIET = GuardConfig(detectors=frozenset({"unk_output"}))


@pytest.fixture(scope="module")
def translator(tiny_checkpoint) -> Translator:
    torch.set_num_threads(1)
    return Translator.from_pretrained(tiny_checkpoint, device="cpu", prepack=False, guards=True)


def _retry_worthy(details: TextDetails) -> bool:
    return any(f.kind in RETRY_KINDS for f in details.flags)


def test_clean_output_is_exactly_the_raw_decode_and_transformers(translator, tiny_checkpoint):
    transformers = pytest.importorskip("transformers")
    details = translator.translate(TEXTS, "en", "fr", guards=QUIET, return_details=True, max_new_tokens=24)
    assert all(d.flags == [] and d.retries == 0 and d.changed == 0 for d in details)
    raw = translator.translate(TEXTS, "en", "fr", guards=False, max_new_tokens=24)
    assert [d.translation for d in details] == raw
    reference = transformers.M2M100ForConditionalGeneration.from_pretrained(tiny_checkpoint).eval()
    tok = translator.tokenizer
    tok.src_lang = "en"
    for text, d in zip(TEXTS, details):
        enc = tok([text], return_tensors="pt")
        out = reference.generate(**enc, forced_bos_token_id=tok.get_lang_id("fr"), max_new_tokens=24)
        assert d.translation == tok.batch_decode(out, skip_special_tokens=True)[0]


def test_unflagged_pieces_are_unchanged_with_the_default_guard(translator):
    details = translator.translate(TEXTS, "en", "fr", return_details=True)
    raw = translator.translate(TEXTS, "en", "fr", guards=False)
    assert any(_retry_worthy(d) for d in details)  # the random model loops: something to test
    for d, r in zip(details, raw):
        if not _retry_worthy(d):
            assert d.translation == r and d.retries == 0 and d.changed == 0
        if d.changed == 0:
            assert d.translation == r


def test_flagged_pieces_are_retried_boundedly_reproducibly_and_reported(translator):
    state = torch.get_rng_state()
    first = translator.translate(TEXTS, "en", "fr", return_details=True)
    assert torch.equal(torch.get_rng_state(), state)  # seeded sampling does not disturb the caller's RNG
    again = translator.translate(TEXTS, "en", "fr", return_details=True)
    assert [d.translation for d in first] == [d.translation for d in again]
    assert [d.retries for d in first] == [d.retries for d in again]
    for d in first:
        assert 0 <= d.retries <= GuardConfig().max_retries * len(d.pieces)
        assert d.score is not None and d.score <= 0
        if _retry_worthy(d):
            assert d.retries >= 1
        assert json.loads(json.dumps(d.to_dict()))["flags"] == [f.to_dict() for f in d.flags]
    # the plain call returns what the detailed one does
    assert translator.translate(TEXTS, "en", "fr") == [d.translation for d in first]
    # no retries at all: flags still reported, output is the raw decode
    capped = translator.translate(TEXTS, "en", "fr", guards=GuardConfig(max_retries=0), return_details=True)
    assert [d.translation for d in capped] == translator.translate(TEXTS, "en", "fr", guards=False)
    assert [[f.kind for f in d.flags] for d in capped] == [[f.kind for f in d.flags] for d in first]
    assert all(d.retries == 0 for d in capped)


def test_switches_and_untranslated_texts(tiny_checkpoint, translator):
    off = Translator.from_pretrained(tiny_checkpoint, device="cpu", prepack=False, guards=False)
    assert off.guards is None and translator.guards == GuardConfig()
    raw = off.translate(TEXTS, "en", "fr")
    assert raw == translator.translate(TEXTS, "en", "fr", guards=False)
    assert off.translate(TEXTS, "en", "fr", guards=True) == translator.translate(TEXTS, "en", "fr")
    # guards off, details on: flags reported, nothing decoded again
    details = off.translate(TEXTS, "en", "fr", return_details=True)
    assert [d.translation for d in details] == raw and all(d.retries == 0 for d in details)
    assert any(d.flags for d in details)
    # texts that never reach the model
    single = translator.translate("", "en", "fr", return_details=True)
    assert isinstance(single, TextDetails) and single.translation == "" and single.score is None
    assert translator.translate("Bonjour", "fr", "fr", return_details=True).translation == "Bonjour"
    pieces = translator.translate_pieces(["hello", "123"], "en", "fr", return_details=True)
    assert all(isinstance(p, PieceReport) for p in pieces) and pieces[1].text == "123"
    with pytest.raises(TypeError, match="guards must be"):
        translator.translate("hello", "en", "fr", guards="on")


# ------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------
def test_cli_details_jsonl_and_no_guards(tmp_path, tiny_checkpoint, translator, capsys, monkeypatch):
    monkeypatch.setenv("M2M100_GUARDS", "1")
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS[:2] + ["", TEXTS[2]]) + "\n", encoding="utf-8")
    out, details = tmp_path / "out.txt", tmp_path / "details.jsonl"
    args = ["translate", "-m", str(tiny_checkpoint), "-s", "en", "-t", "fr", "-q", "--no-prepack", "-i", str(source)]
    assert cli.main(args + ["-o", str(out), "--details-jsonl", str(details)]) == 0
    expected = translator.translate(TEXTS[:2] + ["", TEXTS[2]], "en", "fr", return_details=True)
    assert out.read_text(encoding="utf-8").split("\n")[:4] == [d.translation for d in expected]
    rows = [json.loads(line) for line in details.read_text(encoding="utf-8").splitlines()]
    assert [r["item"] for r in rows] == [1, 2, 3, 4]  # one row per translated text, blank lines included
    assert [r["flags"] for r in rows] == [[f.to_dict() for f in d.flags] for d in expected]
    assert [r["retries"] for r in rows] == [d.retries for d in expected]
    assert any(r["flags"] for r in rows)
    # --no-guards: the raw decode
    assert cli.main(args + ["-o", str(out), "--no-guards"]) == 0
    raw = translator.translate(TEXTS[:2] + ["", TEXTS[2]], "en", "fr", guards=False)
    assert out.read_text(encoding="utf-8").split("\n")[:4] == raw
    # TEXT arguments write details too
    assert cli.main(["translate", "-m", str(tiny_checkpoint), "-s", "en", "-t", "fr", "-q", "--no-prepack",
                     "--details-jsonl", str(details), TEXTS[0]]) == 0
    assert len(details.read_text(encoding="utf-8").splitlines()) == 1
    capsys.readouterr()
    assert cli.main(args + ["-o", str(out), "--details-jsonl", str(details), "--resume"]) == 2
    assert "--details-jsonl cannot be combined with --resume" in capsys.readouterr().err
    assert cli.main(args + ["--details-jsonl", str(tmp_path / "missing" / "d.jsonl")]) == 1


# ------------------------------------------------------------------------------------------------------
# eval
# ------------------------------------------------------------------------------------------------------
def test_eval_reports_flagged_sentences_and_unguarded_scores(tmp_path, tiny_checkpoint, translator, capsys,
                                                              monkeypatch):
    pytest.importorskip("sacrebleu")
    monkeypatch.setenv("M2M100_GUARDS", "1")
    src, ref = tmp_path / "src.en", tmp_path / "ref.fr"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    ref.write_text("la maison est verte\nles oiseaux chantent\nbonjour\nla maison est verte\n", encoding="utf-8")
    base = ["eval", "--model", str(tiny_checkpoint), "--device", "cpu", "-q", "--tokenize", "13a", "--json",
            "-s", "en", "-t", "fr", "--src-file", str(src), "--ref-file", str(ref)]
    assert cli.main(base) == 0
    row = json.loads(capsys.readouterr().out)
    details = translator.translate(TEXTS, "en", "fr", return_details=True)
    assert row["flagged"] == sum(any(f.kind in RETRY_KINDS for f in d.flags) for d in details) > 0
    assert row["changed"] == sum(bool(d.changed) for d in details)
    from m2m100.evaluate import score

    raw = translator.translate(TEXTS, "en", "fr", guards=False)
    refs = ref.read_text(encoding="utf-8").splitlines()
    assert row["chrf_unguarded"] == pytest.approx(score(raw, refs, "fr", "13a").chrf)
    assert row["chrf"] == pytest.approx(score([d.translation for d in details], refs, "fr", "13a").chrf)
    assert cli.main(base + ["--no-guards"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["flagged"] is None and row["chrf"] == pytest.approx(score(raw, refs, "fr", "13a").chrf)
