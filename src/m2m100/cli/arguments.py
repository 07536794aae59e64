"""The command line of `m2m100 translate`: its flags, in groups, and the checks that the local job and the Ray
job share (languages, generation options, the model's options, the input format)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..options import TranslatorOptions
from .base import UsageError
from .records import FORMATS

# whole documents (m2m100.documents): read, translated and written back in their own format
DOCUMENT_FORMATS = ("html", "markdown", "srt", "vtt", "docx", "pptx", "xlsx", "odt", "odp", "epub", "pdf")
PARQUET_SUFFIXES = (".parquet", ".pq")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Translate texts given as arguments, or standard input, or --input FILE line by line (one output line "
        "per input line; blank lines kept)."
    )
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate (default: read standard input)")
    p.add_argument("-s", "--source", required=True,
                   help="source language: code or English name (en, French, pt_BR), or auto (detected per line)")
    p.add_argument("-t", "--target", required=True, help="target language: code or English name")
    files = p.add_argument_group("input and output")
    files.add_argument("-i", "--input", default=None, metavar="FILE",
                       help="read this file ('-' for standard input): text line by line, .jsonl, .tsv or a document")
    files.add_argument("-o", "--output", default=None, metavar="FILE",
                       help="write here (atomically, complete or not at all) instead of standard output")
    files.add_argument("--format", choices=("auto",) + FORMATS + DOCUMENT_FORMATS, default="auto",
                       help="input format (default: from the file extension: .jsonl/.ndjson, .tsv, a document "
                            "(.docx .pptx .xlsx .odt .odp .epub .html .md .srt .vtt .pdf), else text)")
    files.add_argument("--field", default=None, help="JSONL: the field to translate (default: text)")
    files.add_argument("--output-field", default=None,
                       help="JSONL: write the translation to this field and keep the original (default: replace "
                            "--field)")
    files.add_argument("--column", default=None,
                       help="TSV: the column to translate, 1-based number or a header name (names: first line is a "
                            "header, copied unchanged; default: 1)")
    files.add_argument("--resume", action="store_true",
                       help="continue an interrupted --input/--output job where it stopped")
    files.add_argument("--errors", choices=("strict", "replace"), default="strict",
                       help="invalid UTF-8 in the input: fail naming the line (strict, default) or use U+FFFD "
                            "(replace)")
    files.add_argument("--chunk-lines", type=int, default=256, metavar="N",
                       help="lines translated and saved per step; --resume restarts at a step boundary "
                            "(default: 256)")
    files.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes on standard error")
    files.add_argument("--details-jsonl", default=None, metavar="FILE",
                       help="write per translated line its guard flags, retries and model score as JSONL to FILE")
    generation = p.add_argument_group("generation")
    generation.add_argument("--beam", type=int, default=None, metavar="N",
                            help="beam size (default: the checkpoint's)")
    generation.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                            help="longest translation per sentence, in tokens (default: the checkpoint's, raised "
                                 "for long sentences)")
    TranslatorOptions.add_arguments(p.add_argument_group("model (m2m100.options.TranslatorOptions)"))
    ray = p.add_argument_group('Ray cluster (pip install "m2m100[ray]")')
    ray.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="translate --input on a Ray cluster: ADDRESS is 'auto' (the cluster this machine belongs to), "
             "HOST:6379 or ray://HOST:10001; without ADDRESS, $RAY_ADDRESS or a new Ray on this machine. "
             "Text, JSONL, TSV and Parquet (.parquet) files; resumable by --chunk-lines blocks")
    ray.add_argument("--ray-actors", type=int, default=None, metavar="N",
                     help="actors, each loading the model once (default: as many as the cluster's CPUs, or "
                          "GPUs with --ray-gpus, hold)")
    ray.add_argument("--ray-cpus", type=float, default=1.0, metavar="N",
                     help="CPUs per actor, also its torch threads (default: 1)")
    ray.add_argument("--ray-gpus", type=float, default=0.0, metavar="N",
                     help="GPUs per actor, e.g. 1 or 0.5 (default: 0, CPU only)")


def ray_wanted(args: argparse.Namespace) -> bool:
    """Whether the job runs on Ray (m2m100.cli.ray): --ray, or a Parquet input."""
    if getattr(args, "ray", None) is not None:
        return True
    return args.input not in (None, "-") and Path(args.input).suffix.lower() in PARQUET_SUFFIXES


def check_translation_options(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """--source, --target, --beam and --max-new-tokens, checked without the model.

    Returns (source, target, generation options); source is "auto" or a checked code. A language no code set
    knows raises UsageError here; the model's Translator maps the others to its own codes (M2M100 "fr", NLLB
    "fra_Latn"). A bad generation option raises UsageError naming the command-line flag.
    """
    from ..languages import check_language
    from ..translate import Translator

    try:
        # "auto": the Translator detects the language of each text (each line of a text file)
        source = "auto" if args.source.strip().lower() == "auto" else check_language(args.source)
    except ValueError as exc:
        raise UsageError(f"--source: {exc}") from None
    try:
        target = check_language(args.target)
    except ValueError as exc:
        raise UsageError(f"--target: {exc}") from None
    options: dict[str, Any] = {}
    if args.beam is not None:
        options["num_beams"] = args.beam
    if args.max_new_tokens is not None:
        options["max_new_tokens"] = args.max_new_tokens
    try:
        Translator.check_generation_options(options)
    except ValueError as exc:
        message = str(exc).replace("num_beams", "--beam").replace("max_new_tokens", "--max-new-tokens")
        raise UsageError(message) from None
    return source, target, options


def translator_options(args: argparse.Namespace) -> TranslatorOptions:
    """The model's options from the flags; UsageError names the flag of a bad value."""
    try:
        return TranslatorOptions.from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_chunk_lines(args: argparse.Namespace) -> None:
    if args.chunk_lines < 1:
        raise UsageError(f"--chunk-lines must be a positive integer, got {args.chunk_lines}")


def input_format(args: argparse.Namespace) -> str:
    """--format, or the format the input's extension names: parquet, jsonl, tsv, a document format, else text
    (standard input and no extension: jsonl with --field, tsv with --column)."""
    from ..documents import EXTENSIONS

    suffix = Path(args.input).suffix.lower() if args.input not in (None, "-") else ""
    if suffix in PARQUET_SUFFIXES:
        if args.format != "auto":
            raise UsageError(f"--format {args.format} does not apply to a Parquet file ({Path(args.input).name})")
        return "parquet"
    if args.format != "auto":
        return args.format
    if suffix in (".jsonl", ".ndjson") or (suffix == "" and args.field):
        return "jsonl"
    if suffix == ".tsv" or (suffix == "" and args.column):
        return "tsv"
    document = EXTENSIONS.get(suffix)
    return document if document in DOCUMENT_FORMATS else "text"


def check_format_options(args: argparse.Namespace, fmt: str, ray: bool = False) -> None:
    """--field/--output-field only for JSONL (and Parquet, on Ray), --column only for TSV."""
    fields = "JSONL and Parquet input" if ray else "JSONL input"
    if (args.field or args.output_field) and fmt not in ("jsonl", "parquet"):
        raise UsageError(f"--field/--output-field apply to {fields}, but the input format is {fmt}")
    if args.column and fmt != "tsv":
        raise UsageError(f"--column applies to TSV input, but the input format is {fmt}")
