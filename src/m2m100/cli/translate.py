"""`m2m100 translate`: check the command line, then run the job it asks for: TEXT arguments, standard input
or a file of lines (m2m100.cli.lines), a document (m2m100.cli.documents), or a file on a Ray cluster
(m2m100.cli.ray). Everything that can be checked without the model is checked before it loads."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..options import TranslatorOptions
from ..progress import stderr_is_tty
from . import ray as ray_job
from .arguments import (
    DOCUMENT_FORMATS,
    add_arguments,
    check_chunk_lines,
    check_format_options,
    check_translation_options,
    input_format,
    ray_wanted,
    translator_options,
)
from .base import CommandError, UsageError, isatty, note
from .documents import translate_document
from .lines import LineJob
from .model import load_translator, resolved_model
from .outputs import OutputLock, open_input, output_target, same_file
from .records import LineFormat, check_argument
from .resume import job_fingerprint

HELP = "translate text, standard input or a file"
__all__ = ["HELP", "add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    details_path = getattr(args, "details_jsonl", None)
    if ray_wanted(args):  # --ray, or a Parquet input: the same job on a Ray cluster
        if getattr(args, "shortlist", None):
            raise UsageError("--shortlist is not available with --ray or Parquet input")
        if details_path is not None:
            raise UsageError("--details-jsonl is not available with --ray or Parquet input")
        return ray_job.run(args)
    if details_path is not None:
        if args.resume:
            raise UsageError("--details-jsonl cannot be combined with --resume (the details would be incomplete)")
        if not Path(details_path).parent.is_dir():
            raise CommandError(f"--details-jsonl {details_path}: directory {Path(details_path).parent} does not exist")
    # ---- everything that can be checked without the model: usage errors (exit 2) ----
    source, target, generation = check_translation_options(args)
    options = translator_options(args)
    check_chunk_lines(args)
    if args.texts and args.input is not None:
        raise UsageError("give texts as arguments or --input, not both")
    reading_stdin = not args.texts and args.input in (None, "-")
    if args.resume and (args.output is None or reading_stdin):
        raise UsageError("--resume needs --input FILE and --output FILE")
    fmt = input_format(args)
    if args.texts and (args.format != "auto" or args.field or args.column):
        raise UsageError("--format, --field and --column apply to --input or standard input, not to TEXT arguments")
    check_format_options(args, fmt)
    if details_path is not None and fmt in DOCUMENT_FORMATS:
        raise UsageError("--details-jsonl applies to text, JSONL and TSV input, not to documents")
    line_format = None if fmt in DOCUMENT_FORMATS else LineFormat(
        fmt, field=args.field, output_field=args.output_field, column=args.column, errors=args.errors)
    output, special = output_target(args.output)
    if output is not None and not special and not output.parent.is_dir():
        raise CommandError(f"--output {args.output}: directory {output.parent} does not exist")
    if special and args.resume:
        raise UsageError(f"--resume needs a regular --output file; {args.output} is a special file (FIFO, device)")
    if args.input not in (None, "-") and not Path(args.input).is_file():
        if Path(args.input).is_dir():
            raise CommandError(f"--input {args.input} is a directory")
        raise CommandError(f"--input {args.input}: no such file")
    if args.input not in (None, "-") and output is not None and same_file(Path(args.input), output):
        raise UsageError(
            f"--output {args.output} is the same file as --input {args.input}: the input would be overwritten "
            "while it is read; choose another --output"
        )
    # One job per output file: a second job on the same --output stops here, naming the first.
    lock = OutputLock(output) if output is not None and not special else None
    if lock is not None:
        lock.acquire()
    try:
        if line_format is None:
            return translate_document(args, options, source, target, generation, fmt, output, special)
        return _run_lines(args, options, line_format, source, target, generation, output, special, reading_stdin)
    finally:
        if lock is not None:
            lock.release()


def _run_lines(args: argparse.Namespace, options: TranslatorOptions, line_format: LineFormat, source: str, target: str,
               generation: dict, output: Path | None, special: bool, reading_stdin: bool) -> int:
    texts = [check_argument(t, i + 1, args.errors) for i, t in enumerate(args.texts)]
    quiet = args.quiet
    show_progress = not quiet and stderr_is_tty()
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except Exception:  # pragma: no cover - older huggingface_hub
            pass
    job = LineJob(line_format, source, target, generation, chunk_lines=args.chunk_lines, quiet=quiet,
                  details_path=getattr(args, "details_jsonl", None))
    # ---- file input: parse the whole file before spending time on the model ----
    scan = None
    if not texts and not reading_stdin:
        scan = line_format.scan(Path(args.input), args.chunk_lines)
    job.translator = load_translator(options, quiet)
    if texts:
        return job.run_texts(texts, output, special, show_progress)
    if reading_stdin:
        if isatty(sys.stdin):
            note("reading lines from standard input (end with Ctrl-D)", quiet)
        return job.run_stream(sys.stdin.buffer, output, special, show_progress)
    path = Path(args.input)
    if output is None or special:  # to stdout or through a special file, block by block: nothing to resume
        with open_input(path) as handle:
            return job.run_stream(handle, output, special, show_progress, total=scan.lines)
    job_id = job_fingerprint(input=path, model=resolved_model(options), source=source, target=target,
                             line_format=line_format.fingerprint(), options=generation,
                             sentence_split=options.split_sentences, chunk_lines=args.chunk_lines,
                             input_sha256=scan.sha256, blocks=len(scan.sizes))
    return job.run_file(path, output, scan, job_id, args.resume, show_progress)
