"""`m2m100 eval`: sacrebleu scoring, tokenizer choice, FLORES file discovery, the command end to end."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

pytest.importorskip("sacrebleu")

from m2m100 import evaluate  # noqa: E402
from m2m100.errors import ConfigError, DataFormatError, LanguageError  # noqa: E402


class EchoTranslator:
    """Stands in for Translator: 'translates' by returning the input, so scores are known."""

    def normalize_language(self, value, what="language"):
        from m2m100.languages import normalize_language

        return normalize_language(value)

    def translate(self, texts, source, target, **options):
        return list(texts)


@pytest.fixture
def no_spm(monkeypatch, tmp_path):
    monkeypatch.setattr(evaluate, "spm_model_path", lambda name="flores101": tmp_path / "missing.model")


def test_scores_and_13a_fallback_is_reported(no_spm):
    refs = ["The cat sits on the mat.", "A dog runs in the park."]
    perfect = evaluate.score(refs, refs, "de")
    assert perfect.bleu == pytest.approx(100.0) and perfect.chrf == pytest.approx(100.0)
    assert perfect.tokenize == "13a" and "spm BLEU" in perfect.note and "not comparable" in perfect.note
    assert "tok:13a" in perfect.bleu_signature and perfect.sentences == 2
    worse = evaluate.score(["The cat sat on a mat.", "A dog is running."], refs, "de")
    assert 0 < worse.bleu < 100 and 0 < worse.chrf < 100
    assert evaluate.score(refs, refs, "zh").tokenize == "zh"
    explicit = evaluate.score(refs, refs, "de", tokenize="intl")
    assert explicit.tokenize == "intl" and explicit.note is None
    with pytest.raises(DataFormatError, match="1 hypotheses for 2 references"):
        evaluate.score(refs[:1], refs)
    with pytest.raises(ConfigError, match="BLEU tokenizer 'nonsense' unavailable"):
        evaluate.score(refs, refs, tokenize="nonsense")


def test_spm_bleu_is_chosen_when_the_model_is_there(monkeypatch, tmp_path):
    model = tmp_path / "sacrebleu_tokenizer_spm.model"
    model.write_bytes(b"x")
    monkeypatch.setattr(evaluate, "spm_model_path", lambda name="flores101": model)
    assert evaluate.choose_tokenizer("auto", "de") == ("flores101", None)


def test_python_api_with_a_translator(no_spm):
    sources = ["Hello world.", "How are you?"]
    result = evaluate.evaluate(EchoTranslator(), sources, sources, "English", "German")
    assert (result.source, result.target, result.bleu) == ("en", "de", pytest.approx(100.0))
    with pytest.raises(DataFormatError, match="2 source lines but 1 reference"):
        evaluate.evaluate(EchoTranslator(), sources, sources[:1], "en", "de")


def test_read_lines_gz_strip_and_errors(tmp_path):
    path = tmp_path / "a.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(" one \ntwo\nthree\n")
    assert evaluate.read_lines(path) == ["one", "two", "three"]
    assert evaluate.read_lines(path, limit=2) == ["one", "two"]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\n")
    with pytest.raises(DataFormatError, match=r"bad.txt:2: not valid UTF-8"):
        evaluate.read_lines(bad)
    with pytest.raises(DataFormatError, match="file not found"):
        evaluate.read_lines(tmp_path / "nope.txt")


def make_flores(root: Path, n: int = 4) -> Path:
    """A FLORES-like directory: gz/ for all, plain/ for English, as ../shared/data lays it out."""
    (root / "gz").mkdir(parents=True)
    (root / "plain").mkdir()
    texts = {"eng_Latn": "the house is green", "deu_Latn": "das Haus ist grün", "fra_Latn": "la maison est verte"}
    for code, text in texts.items():
        with gzip.open(root / "gz" / f"{code}.devtest.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(f"{text} {i}\n" for i in range(n)))
    (root / "plain" / "eng_Latn.devtest").write_text("".join(f"the house is green {i}\n" for i in range(n)))
    return root


def test_flores_files_by_m2m100_code(tmp_path):
    root = make_flores(tmp_path / "flores")
    assert evaluate.flores_file(root, "en") == root / "gz" / "eng_Latn.devtest.gz"  # first found wins
    assert evaluate.flores_file(root, "de").name == "deu_Latn.devtest.gz"
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "fra_Latn.devtest").write_text("x\n")
    assert evaluate.flores_file(tmp_path / "flat", "fr") == tmp_path / "flat" / "fra_Latn.devtest"
    with pytest.raises(DataFormatError, match=r"no FLORES-200 devtest file for ja \(jpn_Jpan\)"):
        evaluate.flores_file(root, "ja")
    with pytest.raises(LanguageError, match="no data for 'br'"):
        evaluate.flores_file(root, "br")
    results = evaluate.evaluate_flores(EchoTranslator(), root, ["en"], ["de", "fr", "en"], limit=2)
    assert [(r.source, r.target, r.sentences) for r in results] == [("en", "de", 2), ("en", "fr", 2)]


def test_shared_flores_layout(data_dir):
    flores = data_dir / "flores200-devtest"
    if not flores.is_dir():
        pytest.skip(f"{flores} not found")
    assert evaluate.flores_file(flores, "de").name == "deu_Latn.devtest.gz"
    assert len(evaluate.read_lines(evaluate.flores_file(flores, "sw"))) == 1012


def test_eval_command_end_to_end(tmp_path, tiny_checkpoint, capsys, no_spm):
    from m2m100.cli import main

    src, ref = tmp_path / "src.en", tmp_path / "ref.de"
    src.write_text("the house is green\nwe walk to school\n", encoding="utf-8")
    ref.write_text("das Haus ist grün\nwir gehen zur Schule\n", encoding="utf-8")
    hyp = tmp_path / "hyp.de"
    base = ["eval", "--model", str(tiny_checkpoint), "--max-new-tokens", "8", "--device", "cpu", "-q"]
    assert main([*base, "-s", "en", "-t", "de", "--src-file", str(src), "--ref-file", str(ref),
                 "--hyp-out", str(hyp)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("en-de\tBLEU") and "n=2" in out and "# nrefs:1" in out and "# note: spm BLEU" in out
    assert len(hyp.read_text(encoding="utf-8").splitlines()) == 2

    assert main([*base, "-s", "en", "-t", "de,fr", "--flores", str(make_flores(tmp_path / "fl")), "--limit", "2",
                 "--json", "--hyp-out", str(tmp_path / "hyps")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["source"], r["target"], r["sentences"]) for r in rows] == [("en", "de", 2), ("en", "fr", 2)]
    assert sorted(p.name for p in (tmp_path / "hyps").iterdir()) == ["en-de.hyp", "en-fr.hyp"]

    ref.write_text("only one line\n", encoding="utf-8")
    assert main([*base, "-s", "en", "-t", "de", "--src-file", str(src), "--ref-file", str(ref)]) == 1
    assert "has 2 lines but" in capsys.readouterr().err
    assert main([*base, "-s", "en", "-t", "xx-klingon", "--flores", str(tmp_path / "fl")]) != 0
    assert main([*base, "-s", "en", "-t", "de"]) != 0
    assert "--src-file and --ref-file, or --flores" in capsys.readouterr().err
