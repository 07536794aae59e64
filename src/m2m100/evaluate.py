"""`m2m100 eval`: BLEU and chrF of a model's translations, scored with sacrebleu.

Translation goes through `Translator` (the one Python API). BLEU uses the tokenisation the M2M100 paper reports,
spm BLEU (sacrebleu's `flores101` sentencepiece tokenizer), when sacrebleu has that model locally; sacrebleu
downloads it on first use, which needs the internet, so without it `auto` falls back to the standard `13a`
tokenisation (`zh` for Chinese targets) and says so in the output: those figures are not comparable with the
paper's. `--flores DIR` scores language pairs of a FLORES-200 directory, files found by M2M100 code through
`languages.FLORES200_CODES` (`<code>.devtest` or `.gz`, directly in DIR or under gz/, plain/ or devtest/).

    >>> from m2m100 import Translator
    >>> from m2m100.evaluate import evaluate
    >>> evaluate(Translator.from_pretrained("out"), sources, references, "en", "de").bleu
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataFormatError, LanguageError

HELP = "score a model's translations with BLEU and chrF (sacrebleu); --flores DIR for FLORES-200 pairs"
SPM_TOKENIZERS = ("flores101", "flores200", "spm")
FLORES_SUBDIRS = ("", "gz", "plain")


@dataclass
class Score:
    source: str
    target: str
    sentences: int
    bleu: float
    chrf: float
    tokenize: str
    bleu_signature: str
    chrf_signature: str
    note: str | None = None
    # With the quality guards on (m2m100.guards): sentences flagged, sentences a retry changed, and the scores of
    # the unguarded translations (the first decodes); None when the guards were off.
    flagged: int | None = None
    changed: int | None = None
    bleu_unguarded: float | None = None
    chrf_unguarded: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        text = (f"{self.source}-{self.target}\tBLEU {self.bleu:6.2f}\tchrF {self.chrf:6.2f}\t"
                f"n={self.sentences}\ttokenize={self.tokenize}")
        if self.flagged is not None:
            text += (f"\tflagged={self.flagged}\tchanged={self.changed}\t"
                     f"unguarded BLEU {self.bleu_unguarded:.2f} chrF {self.chrf_unguarded:.2f}")
        return text


# ---------------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------------
def _sacrebleu():
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ConfigError("evaluation needs sacrebleu: pip install sacrebleu") from None
    return BLEU, CHRF


def spm_model_path(name: str = "flores101") -> Path:
    """Where sacrebleu keeps (or would download) the sentencepiece model of spm BLEU tokenizer `name`."""
    from sacrebleu.tokenizers.tokenizer_spm import SPM_MODELS
    from sacrebleu.utils import SACREBLEU_DIR

    return Path(SACREBLEU_DIR) / "models" / os.path.basename(SPM_MODELS[name]["url"])


def choose_tokenizer(requested: str, target: str) -> tuple[str, str | None]:
    """(sacrebleu tokenize name, a note for the output or None). `auto` never downloads anything."""
    _sacrebleu()
    if requested != "auto":
        return requested, None
    if spm_model_path("flores101").is_file():
        return "flores101", None
    fallback = "zh" if target in ("zh", "zho_Hans", "zho_Hant", "yue_Hant") else "13a"
    return fallback, (
        f"spm BLEU (the M2M100 paper's) unavailable: sacrebleu's sentencepiece model {spm_model_path('flores101')} "
        f"is missing and cannot be downloaded offline; BLEU uses the '{fallback}' tokenisation instead, "
        "so it is not comparable with the paper's spBLEU (put the model there, or pass --tokenize)"
    )


def score(hypotheses: list[str], references: list[str], target: str = "", tokenize: str = "auto",
          source: str = "") -> Score:
    """Corpus BLEU and chrF of `hypotheses` against one reference each."""
    BLEU, CHRF = _sacrebleu()
    if len(hypotheses) != len(references):
        raise DataFormatError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    name, note = choose_tokenizer(tokenize, target)
    try:
        bleu = BLEU(tokenize=name)
    except Exception as exc:  # an spm model sacrebleu could not download, an unknown name, a missing extra
        hint = f" (sacrebleu needs {spm_model_path(name)}: download it where there is internet)" if name in SPM_TOKENIZERS else ""
        raise ConfigError(f"BLEU tokenizer {name!r} unavailable: {type(exc).__name__}: {exc}{hint}") from None
    chrf = CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return Score(source, target, len(hypotheses), round(bleu_score.score, 4), round(chrf_score.score, 4), name,
                 str(bleu.get_signature()), str(chrf.get_signature()), note)


def evaluate(translator, sources: list[str], references: list[str], source: str, target: str,
             tokenize: str = "auto", **generation: Any) -> Score:
    """Translate `sources` with `translator` and score against `references`."""
    return translate_and_score(translator, sources, references, source, target, tokenize, **generation)[1]


def translate_and_score(translator, sources: list[str], references: list[str], source: str, target: str,
                        tokenize: str = "auto", **generation: Any) -> tuple[list[str], Score]:
    if len(sources) != len(references):
        raise DataFormatError(f"{len(sources)} source lines but {len(references)} reference lines")
    source = translator.normalize_language(source, "source")
    target = translator.normalize_language(target, "target")
    if getattr(translator, "guards", None) is None:
        hypotheses = translator.translate(list(sources), source, target, **generation)
        return hypotheses, score(hypotheses, list(references), target, tokenize, source)
    # Guards on: count flagged sentences and score the unguarded output too. Only the sentences a retry changed
    # are decoded again without the guard (the others are the first decode already).
    from .guards import RETRY_KINDS

    details = translator.translate(list(sources), source, target, return_details=True, **generation)
    hypotheses = [d.translation for d in details]
    changed = [i for i, d in enumerate(details) if d.changed]
    unguarded = list(hypotheses)
    if changed:
        firsts = translator.translate([sources[i] for i in changed], source, target, guards=False, **generation)
        for i, text in zip(changed, firsts):
            unguarded[i] = text
    result = score(hypotheses, list(references), target, tokenize, source)
    plain = score(unguarded, list(references), target, tokenize, source)
    result.flagged = sum(any(f.kind in RETRY_KINDS for f in d.flags) for d in details)
    result.changed = len(changed)
    result.bleu_unguarded, result.chrf_unguarded = plain.bleu, plain.chrf
    return hypotheses, result


# ---------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------
def read_lines(path: str | os.PathLike, limit: int | None = None) -> list[str]:
    """Lines of a UTF-8 text file (`.gz` allowed), surrounding whitespace stripped (FLORES has trailing spaces)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"file not found: {path}")
    opener = gzip.open if path.name.endswith(".gz") else open
    lines = []
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if limit is not None and number > limit:
                break
            try:
                lines.append(raw.decode("utf-8").strip())
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"{path}:{number}: not valid UTF-8 ({exc.reason})") from None
    return lines


def flores_file(directory: str | os.PathLike, code: str, split: str = "devtest") -> Path:
    """The FLORES-200 file of language `code` (an M2M100 code, or an NLLB/FLORES code or name such as
    "eng_Latn" or "English") in `directory` (plain or gzip, flat or in a subfolder)."""
    from .languages import FLORES200_CODES, normalize_language

    flores = FLORES200_CODES.get(code)
    if flores is None:
        try:  # the file names are NLLB's own codes
            flores = normalize_language(code, "nllb")
        except LanguageError:
            raise LanguageError(f"FLORES-200 has no data for {code!r}") from None
    directory = Path(directory)
    tried = []
    for sub in (*FLORES_SUBDIRS, split):
        for name in (f"{flores}.{split}", f"{flores}.{split}.gz"):
            path = directory / sub / name if sub else directory / name
            if path.is_file():
                return path
            tried.append(str(path.relative_to(directory)))
    raise DataFormatError(f"no FLORES-200 {split} file for {code} ({flores}) in {directory} (looked for {', '.join(tried[:4])}, ...)")


def evaluate_flores(translator, directory: str | os.PathLike, sources: list[str], targets: list[str],
                    split: str = "devtest", limit: int | None = None, tokenize: str = "auto",
                    hypotheses_dir: Path | None = None, **generation: Any) -> list[Score]:
    """Score every source -> target pair (source != target) of a FLORES-200 directory."""
    sources = [translator.normalize_language(s, "source") for s in sources]
    targets = [translator.normalize_language(t, "target") for t in targets]
    texts = {code: read_lines(flores_file(directory, code, split), limit) for code in dict.fromkeys(sources + targets)}
    results = []
    for src in sources:
        for tgt in targets:
            if src == tgt:
                continue
            hyps, result = translate_and_score(translator, texts[src], texts[tgt], src, tgt, tokenize, **generation)
            if hypotheses_dir is not None:
                write_lines(Path(hypotheses_dir) / f"{src}-{tgt}.hyp", hyps)
            results.append(result)
    return results


def write_lines(path: Path, lines: list[str]) -> None:
    from .hub import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(line.replace("\n", " ") + "\n" for line in lines))


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", default=None, help="checkpoint directory or hub id (default: $M2M100_MODEL or facebook/m2m100_418M)")
    p.add_argument("-s", "--source", required=True, help="source language; with --flores a comma-separated list")
    p.add_argument("-t", "--target", required=True, help="target language; with --flores a comma-separated list")
    p.add_argument("--src-file", metavar="FILE", help="source sentences, one per line (.gz allowed)")
    p.add_argument("--ref-file", metavar="FILE", help="reference translations, line-aligned with --src-file")
    p.add_argument("--flores", metavar="DIR", help="a FLORES-200 directory: score every --source x --target pair")
    p.add_argument("--split", default="devtest", help="FLORES split (default: devtest)")
    p.add_argument("--limit", type=int, metavar="N", help="score only the first N lines (quick checks; not comparable)")
    p.add_argument("--tokenize", default="auto",
                   help="sacrebleu BLEU tokenisation: auto (spm BLEU when available, else 13a), flores101, flores200, 13a, intl, zh, char, ...")
    p.add_argument("--hyp-out", metavar="PATH", help="write the translations: a file, or a directory with --flores")
    p.add_argument("--json", action="store_true", help="print one JSON object per pair")
    p.add_argument("--beam", type=int, default=None, metavar="N", help="beam size (default: the checkpoint's)")
    p.add_argument("--max-new-tokens", type=int, default=None, metavar="N")
    p.add_argument("--max-batch-tokens", type=int, default=None, metavar="N", help="token budget per translation batch")
    p.add_argument("--sentence-split", action="store_true",
                   help="split lines into sentences before translating (default: each line as a whole, as the paper)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: a GPU when there is one)")
    p.add_argument("--dtype", default=None, help="float32 (default), float16, bfloat16 or auto")
    p.add_argument("--quantize", default=None, help="quantize the model after loading (e.g. int8)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-guards", action="store_true",
                   help="turn the quality guards off (default: on; then flagged/changed sentences and the unguarded "
                        "BLEU/chrF are reported too)")


def run(args: argparse.Namespace) -> int:
    from .cli import UsageError
    from .languages import check_language
    from .translate import Translator

    # Usage errors (exit 2, as in every subcommand): bad option combinations and unknown languages.
    flores = args.flores is not None
    if flores == bool(args.src_file or args.ref_file):
        raise UsageError("give either --src-file and --ref-file, or --flores DIR")
    if not flores and not (args.src_file and args.ref_file):
        raise UsageError("--src-file needs --ref-file (and the other way round)")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be a positive integer, got {args.limit}")
    codes: dict[str, list[str]] = {}
    for flag, value in (("--source", args.source), ("--target", args.target)):
        try:
            # the model's Translator maps these to its own codes (M2M100 "fr" or NLLB "fra_Latn")
            codes[flag] = [check_language(code) for code in _codes(value)]
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    if not flores and (len(codes["--source"]) > 1 or len(codes["--target"]) > 1):
        raise UsageError("several languages in --source/--target need --flores")
    generation = {k: v for k, v in (("num_beams", args.beam), ("max_new_tokens", args.max_new_tokens)) if v is not None}
    options: dict[str, Any] = dict(device=args.device, dtype=args.dtype, quantize=args.quantize,
                                   split_sentences=args.sentence_split, progress=False if args.quiet else None)
    if args.no_guards:
        options["guards"] = False
    if args.max_batch_tokens is not None:
        options["max_batch_tokens"] = args.max_batch_tokens
    if flores:
        sources, targets = codes["--source"], codes["--target"]
        for code in dict.fromkeys(sources + targets):
            flores_file(args.flores, code, args.split)  # a missing file fails before the model loads
    else:
        src_lines, ref_lines = read_lines(args.src_file, args.limit), read_lines(args.ref_file, args.limit)
        if len(src_lines) != len(ref_lines):
            raise DataFormatError(f"{args.src_file} has {len(src_lines)} lines but {args.ref_file} has {len(ref_lines)}")
    translator = Translator.from_pretrained(args.model, **options)
    if flores:
        hyp_dir = Path(args.hyp_out) if args.hyp_out else None
        results = evaluate_flores(translator, args.flores, sources, targets, args.split, args.limit, args.tokenize,
                                  hyp_dir, **generation)
    else:
        hyps, result = translate_and_score(translator, src_lines, ref_lines, args.source, args.target, args.tokenize,
                                           **generation)
        if args.hyp_out:
            write_lines(Path(args.hyp_out), hyps)
        results = [result]
    _report(results, args.json)
    return 0


def _codes(value: str) -> list[str]:
    codes = [part.strip() for part in value.split(",") if part.strip()]
    if not codes:
        raise ConfigError(f"no language in {value!r}")
    return codes


def _report(results: list[Score], as_json: bool) -> None:
    out = sys.stdout
    if as_json:
        for result in results:
            out.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    for result in results:
        out.write(result.line() + "\n")
    if len(results) > 1:
        out.write(f"mean\tBLEU {sum(r.bleu for r in results) / len(results):6.2f}\t"
                  f"chrF {sum(r.chrf for r in results) / len(results):6.2f}\tpairs={len(results)}\n")
    if results:
        out.write(f"# {results[0].bleu_signature}\n# {results[0].chrf_signature}\n")
        if results[0].note:
            out.write(f"# note: {results[0].note}\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    from .cli import main as cli_main

    return cli_main(["eval", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
