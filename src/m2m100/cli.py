"""The `m2m100` command line (also `python -m m2m100`).

Subcommands are registered in COMMANDS (name -> Command). Commands living in other modules are listed in
EXTERNAL_COMMANDS and imported only when chosen; such a module provides

    HELP: str                                   (optional, one line for `m2m100 --help`)
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int | None

A command signals a usage error by raising `UsageError` (exit 2); other exceptions exit 1.

Error policy: one line `m2m100: error: ...` on stderr and exit status 2 for usage errors (bad options, unknown
languages, invalid generation parameters), 1 for runtime errors (missing files, bad input data, model loading),
130 when interrupted; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import stat
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import GenerationError

PROG = "m2m100"


class UsageError(Exception):
    """A problem with the command line itself: exit status 2."""


class CommandError(Exception):
    """A runtime problem (input data, files, state): exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise UsageError(f"{message} (see '{self.prog} --help')")


@dataclass
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


COMMANDS: dict[str, Command] = {}

# name -> (module, one-line help). Imported only when the command is used.
EXTERNAL_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("m2m100.server.cli", "run the HTTP translation server"),
    "train": ("m2m100.train.cli", "fine-tune a model on parallel text"),
    "eval": ("m2m100.evaluate", "score a model on a test set (BLEU, chrF)"),
    "shortlist": ("m2m100.cli_shortlist", "build or inspect a vocabulary shortlist (faster decoding)"),
}


def register(name: str, help: str, add_arguments: Callable, run: Callable) -> None:
    """Add a subcommand (replacing one of the same name)."""
    COMMANDS[name] = Command(name, help, add_arguments, run)


# =====================================================================================================
# main
# =====================================================================================================
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        debug = debug or bool(getattr(args, "debug", False))
        if not getattr(args, "_run", None):
            _error("no command given (try 'm2m100 translate --help' or 'm2m100 languages')")
            return 2
        return int(args._run(args) or 0)
    except UsageError as exc:
        return _fail(exc, 2, debug)
    except GenerationError as exc:  # a generation option the run cannot honour (e.g. beams beyond memory)
        return _fail(exc, 2, debug)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    except (CommandError, OSError, ValueError) as exc:
        return _fail(exc, 1, debug)
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
            if debug:
                traceback.print_exc()
            _error(f"out of memory ({type(exc).__name__}); try a smaller --max-batch-tokens or --beam")
            return 1
        return _fail(exc, 1, debug, internal=True)
    except Exception as exc:
        return _fail(exc, 1, debug, internal=True)


def _fail(exc: BaseException, code: int, debug: bool, internal: bool = False) -> int:
    if debug:
        traceback.print_exc()
    message = _one_line(exc)
    if internal:
        message = f"internal error: {type(exc).__name__}: {message} (rerun with --debug for a traceback)"
    _error(message)
    return code


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _note(message: str, quiet: bool = False) -> None:
    if not quiet:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()


# =====================================================================================================
# parser
# =====================================================================================================
def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    from . import __version__

    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    parser = _Parser(
        prog=PROG, parents=[common],
        description="M2M100 many-to-many translation: translate text between 100 languages.",
        epilog="Run 'm2m100 COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    chosen = _chosen_command(argv or [])
    for command in COMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help, parents=[common])
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    for name, (module_name, help_text) in EXTERNAL_COMMANDS.items():
        if name in COMMANDS:
            continue
        if name != chosen:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        module, problem = _import_command(name, module_name)
        if module is None:
            raise CommandError(problem)
        help_text = getattr(module, "HELP", help_text)
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _chosen_command(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _import_command(name: str, module_name: str) -> tuple[Any, str]:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None, f"the '{name}' command is not available in this installation ({module_name} not found)"
        return None, f"the '{name}' command needs the package {exc.name!r}: pip install {exc.name}"
    if not (callable(getattr(module, "add_arguments", None)) and callable(getattr(module, "run", None))):
        return None, f"the '{name}' command is not available ({module_name} has no add_arguments/run)"
    return module, ""


# =====================================================================================================
# m2m100 languages
# =====================================================================================================
def _languages_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON object {code: name}")
    p.add_argument("--codes", default=None, choices=["m2m100", "wmt21", "nllb"],
                   help="language-code set: m2m100 (the 100 languages of facebook/m2m100_*, the default), wmt21, "
                        "or nllb (the 202 FLORES-200 codes of facebook/nllb-200-*)")
    p.add_argument("-m", "--model", default=None, metavar="DIR",
                   help="list the languages of this model directory's tokenizer (M2M100 or NLLB) instead")


def _languages_run(args: argparse.Namespace) -> int:
    from .languages import CODE_SETS, language_name

    if args.model is not None and args.codes is not None:
        raise UsageError("give --codes or --model, not both")
    if args.model is not None:
        from .auto import AutoTokenizer
        from .translate import _language_codes

        codes = _language_codes(AutoTokenizer.from_pretrained(args.model, local_files_only=True))
    else:
        codes = CODE_SETS[args.codes or "m2m100"]
    names = {}
    for code in codes:
        try:
            names[code] = language_name(code)
        except ValueError:  # a code a fine-tuned tokenizer added: no English name known
            names[code] = code
    if args.json:
        _write_stdout(json.dumps(names, ensure_ascii=False, indent=1) + "\n")
    else:
        _write_stdout("".join(f"{code}\t{name}\n" for code, name in names.items()))
    return 0


# =====================================================================================================
# m2m100 translate
# =====================================================================================================
FORMATS = ("text", "jsonl", "tsv")
# whole documents (m2m100.documents): read, translated and written back in their own format
DOCUMENT_FORMATS = ("html", "markdown", "srt", "vtt", "docx", "pptx", "xlsx", "odt", "odp", "epub", "pdf")
_DTYPES = ("float32", "fp32", "float16", "fp16", "half", "bfloat16", "bf16", "auto")


def _translate_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Translate texts given as arguments, or standard input, or --input FILE line by line (one output line "
        "per input line; blank lines kept)."
    )
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate (default: read standard input)")
    p.add_argument("-s", "--source", required=True,
                   help="source language: code or English name (en, French, pt_BR), or auto (detected per line)")
    p.add_argument("-t", "--target", required=True, help="target language: code or English name")
    p.add_argument("-m", "--model", default=None,
                   help="local checkpoint directory or hub id (default: $M2M100_MODEL or facebook/m2m100_418M)")
    p.add_argument("-i", "--input", default=None, metavar="FILE",
                   help="read this file ('-' for standard input): text line by line, .jsonl, .tsv or a document")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="write here (atomically, complete or not at all) instead of standard output")
    p.add_argument("--format", choices=("auto",) + FORMATS + DOCUMENT_FORMATS, default="auto",
                   help="input format (default: from the file extension: .jsonl/.ndjson, .tsv, a document "
                        "(.docx .pptx .xlsx .odt .odp .epub .html .md .srt .vtt .pdf), else text)")
    p.add_argument("--field", default=None, help="JSONL: the field to translate (default: text)")
    p.add_argument("--output-field", default=None,
                   help="JSONL: write the translation to this field and keep the original (default: replace --field)")
    p.add_argument("--column", default=None,
                   help="TSV: the column to translate, 1-based number or a header name (names: first line is a "
                        "header, copied unchanged; default: 1)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted --input/--output job where it stopped")
    p.add_argument("--errors", choices=("strict", "replace"), default="strict",
                   help="invalid UTF-8 in the input: fail naming the line (strict, default) or use U+FFFD (replace)")
    p.add_argument("--beam", type=int, default=None, metavar="N", help="beam size (default: the checkpoint's)")
    p.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                   help="longest translation per sentence, in tokens (default: the checkpoint's, raised for long "
                        "sentences)")
    p.add_argument("--max-batch-tokens", type=int, default=None, metavar="N",
                   help="token budget of one batch: padded source tokens x beams (default: 4096)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: a GPU when there is one)")
    p.add_argument("--dtype", default=None, help="float32 (default), float16, bfloat16 or auto")
    p.add_argument("--quantize", default=None, help="quantize the model after loading (e.g. int8)")
    p.add_argument("--no-prepack", action="store_true",
                   help="keep plain CPU weights (prepacked weights, the default on CPU, are faster and exact)")
    p.add_argument("--shortlist", default=None, metavar="FILE",
                   help="decode over a vocabulary shortlist (JSON from 'm2m100 shortlist build'): the target "
                        "language's tokens plus the source's; faster, may change some translations")
    p.add_argument("--no-sentence-split", action="store_true",
                   help="translate each line as a whole (still cut at the model's length limit)")
    p.add_argument("--chunk-lines", type=int, default=256, metavar="N",
                   help="lines translated and saved per step; --resume restarts at a step boundary (default: 256)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or notes on standard error")
    p.add_argument("--no-guards", action="store_true",
                   help="turn the quality guards off (loop, length, language, copy, <unk> checks and retries)")
    p.add_argument("--details-jsonl", default=None, metavar="FILE",
                   help="write per translated line its guard flags, retries and model score as JSONL to FILE")
    from .cli_ray import add_arguments as _ray_arguments  # --ray [ADDRESS] and its options (issue #15)

    _ray_arguments(p)


@dataclass
class _Record:
    """One input line: `text` to translate (None: copy `raw` unchanged) and how to rebuild the output line."""

    raw: str
    ending: str
    text: str | None = None
    obj: Any = None  # JSONL object or TSV cells


def _translate_run(args: argparse.Namespace) -> int:
    from . import cli_ray

    details_path = getattr(args, "details_jsonl", None)
    if getattr(args, "shortlist", None) and cli_ray.wanted(args):
        raise UsageError("--shortlist is not available with --ray or Parquet input")
    if details_path is not None and cli_ray.wanted(args):
        raise UsageError("--details-jsonl is not available with --ray or Parquet input")
    if cli_ray.wanted(args):  # --ray, or a Parquet input: the same job on a Ray cluster (cli_ray.py)
        return cli_ray.run(args)
    if details_path is not None:
        if args.resume:
            raise UsageError("--details-jsonl cannot be combined with --resume (the details would be incomplete)")
        if not Path(details_path).parent.is_dir():
            raise CommandError(f"--details-jsonl {details_path}: directory {Path(details_path).parent} does not exist")
    # ---- everything that can be checked without the model: usage errors (exit 2) ----
    source, target, options = _check_translation_options(args)
    if args.max_batch_tokens is not None and args.max_batch_tokens < 1:
        raise UsageError(f"--max-batch-tokens must be a positive integer, got {args.max_batch_tokens}")
    if args.device is not None:
        import torch

        try:
            torch.device(args.device)
        except (RuntimeError, TypeError, ValueError):
            raise UsageError(f"--device: invalid device {args.device!r}; use cpu, cuda, cuda:N or mps") from None
    if args.dtype is not None and args.dtype.lower().removeprefix("torch.") not in _DTYPES:
        raise UsageError(f"--dtype: invalid dtype {args.dtype!r}; use one of {', '.join(_DTYPES)}")
    if args.chunk_lines < 1:
        raise UsageError(f"--chunk-lines must be a positive integer, got {args.chunk_lines}")
    if args.texts and args.input is not None:
        raise UsageError("give texts as arguments or --input, not both")
    reading_stdin = not args.texts and args.input in (None, "-")
    if args.resume and (args.output is None or reading_stdin):
        raise UsageError("--resume needs --input FILE and --output FILE")
    fmt = args.format
    if fmt == "auto":
        fmt = "text"
        suffix = Path(args.input).suffix.lower() if args.input not in (None, "-") else ""
        if suffix in (".jsonl", ".ndjson") or (suffix == "" and args.field):
            fmt = "jsonl"
        elif suffix == ".tsv" or (suffix == "" and args.column):
            fmt = "tsv"
        elif suffix in _document_extensions():
            fmt = _document_extensions()[suffix]
    if args.texts and (args.format != "auto" or args.field or args.column):
        raise UsageError("--format, --field and --column apply to --input or standard input, not to TEXT arguments")
    if (args.field or args.output_field) and fmt != "jsonl":
        raise UsageError(f"--field/--output-field apply to JSONL input, but the input format is {fmt}")
    if args.column and fmt != "tsv":
        raise UsageError(f"--column applies to TSV input, but the input format is {fmt}")
    column = _parse_column(args.column) if fmt == "tsv" else None
    if details_path is not None and fmt in DOCUMENT_FORMATS:
        raise UsageError("--details-jsonl applies to text, JSONL and TSV input, not to documents")
    output, special = _output_target(args.output)
    if output is not None and not special:
        if not output.parent.is_dir():
            raise CommandError(f"--output {args.output}: directory {output.parent} does not exist")
    if special and args.resume:
        raise UsageError(f"--resume needs a regular --output file; {args.output} is a special file (FIFO, device)")
    if args.input not in (None, "-") and not Path(args.input).is_file():
        if Path(args.input).is_dir():
            raise CommandError(f"--input {args.input} is a directory")
        raise CommandError(f"--input {args.input}: no such file")
    if args.input not in (None, "-") and output is not None and _same_file(Path(args.input), output):
        raise UsageError(
            f"--output {args.output} is the same file as --input {args.input}: the input would be overwritten "
            "while it is read; choose another --output"
        )
    # One job per output file: a second job on the same --output stops here, naming the first.
    lock = _OutputLock(output) if output is not None and not special else None
    if lock is not None:
        lock.acquire()
    try:
        if fmt in DOCUMENT_FORMATS:
            return _translate_document(args, source, target, options, fmt, output, special)
        return _translate_job(args, source, target, options, fmt, column, output, special, reading_stdin)
    finally:
        if lock is not None:
            lock.release()


def _check_translation_options(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """--source, --target, --beam and --max-new-tokens, checked without the model (shared with cli_ray.py).

    Returns (source, target, generation options); source is "auto" or a checked code. A language no code set
    knows raises UsageError here; the model's Translator maps the others to its own codes (M2M100 "fr", NLLB
    "fra_Latn"). A bad generation option raises UsageError naming the command-line flag.
    """
    from .languages import check_language
    from .translate import Translator

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


def _translate_job(args, source: str, target: str, options: dict, fmt: str, column, output: Path | None,
                   special: bool, reading_stdin: bool) -> int:
    from .translate import default_model

    if args.texts:
        texts = [_check_argument(t, i + 1, args.errors) for i, t in enumerate(args.texts)]

    quiet = args.quiet
    show_progress = not quiet and _stderr_is_tty()
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except Exception:  # pragma: no cover - older huggingface_hub
            pass
    job = _Job(args, fmt, column, source, target, options)
    job.special_output = special

    # ---- file input: validate the whole file before spending time on the model ----
    total = None
    if args.input not in (None, "-"):
        total = job.validate_file(Path(args.input))

    model_name = args.model or default_model()
    translator = _load_translator(model_name, args, quiet)
    job.translator = translator
    job.model_name = model_name

    if args.texts:
        results = job.translate(texts, show_progress)
        data = "".join(_one_line_text(r) + "\n" for r in results)
        if output is None:
            _write_stdout(data)
        elif special:
            with _open_special(output) as handle:
                handle.write(_encode_out(data))
        else:
            from .hub import atomic_write_bytes

            atomic_write_bytes(output, _encode_out(data))
        return 0
    if reading_stdin:
        if _isatty(sys.stdin):
            _note("reading lines from standard input (end with Ctrl-D)", quiet)
        return job.run_stream(sys.stdin.buffer, output, show_progress)
    return job.run_file(Path(args.input), output, total, show_progress)


def _document_extensions() -> dict[str, str]:
    from .documents import EXTENSIONS

    return {ext: fmt for ext, fmt in EXTENSIONS.items() if fmt in DOCUMENT_FORMATS}


def _translate_document(args, source: str, target: str, options: dict, fmt: str, output: Path | None,
                        special: bool) -> int:
    """A whole document (--input FILE, --output FILE): same format back, written atomically. Unit translations
    are saved every --chunk-lines units next to the output (.NAME.m2m100-units.json), so --resume continues."""
    from .documents import translate_document, unit_translator
    from .errors import DocumentError
    from .hub import atomic_write_bytes, atomic_write_text
    from .translate import default_model

    if args.input in (None, "-") or output is None or special:
        raise UsageError(f"{fmt} documents need --input FILE and --output FILE (a regular file)")
    if source == "auto":  # span alignment needs one known source language per document
        raise UsageError(f"--source auto applies to text, JSONL and TSV input; name the language of a {fmt} document")
    if fmt == "pdf" and output.suffix.lower() != ".txt":
        raise UsageError("PDF input is translated to plain text: name the --output *.txt")
    data = Path(args.input).read_bytes()
    model_name = args.model or default_model()
    state_path = output.with_name(f".{output.name}.m2m100-units.json")
    settings = {"input_sha256": hashlib.sha256(data).hexdigest(), "format": fmt, "source": source,
                "target": target, "options": options, "model": model_name}
    done: dict[str, str] = {}
    saved = _read_state(state_path)
    if args.resume and saved is not None:
        if saved.get("settings") != settings:
            raise CommandError(f"cannot resume {output}: the input or the settings changed since the interrupted "
                               "run; run again without --resume to start over")
        done = dict(saved.get("done", {}))
    elif args.resume:
        _note("nothing to resume; starting from the beginning", args.quiet)

    def checkpoint(known: dict[str, str]) -> None:
        atomic_write_text(state_path, json.dumps({"settings": settings, "done": known}, ensure_ascii=False))

    translator = _load_translator(model_name, args, args.quiet)
    translate = unit_translator(translator, source, target, progress=not args.quiet and _stderr_is_tty(),
                                done=done, checkpoint=checkpoint, chunk=args.chunk_lines, **options)
    try:
        out = translate_document(data, fmt, Path(args.input).name, translate)
    except DocumentError as exc:
        raise CommandError(str(exc)) from None
    atomic_write_bytes(output, out)
    state_path.unlink(missing_ok=True)
    return 0


def _load_translator(model_name: str, args: argparse.Namespace, quiet: bool):
    from .errors import CheckpointError
    from .translate import DEFAULT_MAX_BATCH_TOKENS, Translator

    shortlist = None
    if getattr(args, "shortlist", None):  # read before the model: a bad file fails in a moment, not after loading
        from .generation.shortlist import VocabShortlist

        try:
            shortlist = VocabShortlist.load(args.shortlist)
        except CheckpointError as exc:
            raise CommandError(_one_line(exc)) from None
    local = Path(model_name).exists()
    hub_id = not local and not model_name.startswith((".", "/", "~")) and model_name.count("/") <= 1
    if hub_id and not quiet and not _hub_cached(model_name):
        _note(f"fetching {model_name} from the Hugging Face hub (first use; cached afterwards)")
    try:
        return Translator.from_pretrained(
            model_name, device=args.device, dtype=args.dtype, quantize=args.quantize,
            prepack=False if args.no_prepack else None, max_batch_tokens=args.max_batch_tokens or DEFAULT_MAX_BATCH_TOKENS,
            split_sentences=not args.no_sentence_split, progress=False,
            guards=False if getattr(args, "no_guards", False) else None, shortlist=shortlist,
        )
    except CheckpointError as exc:
        message = _one_line(exc)
        if not local:
            message += (" To use a model on disk, pass --model DIR (or set M2M100_MODEL=DIR): a directory with "
                        "config.json, model.safetensors, sentencepiece.bpe.model and vocab.json.")
        raise CommandError(message) from None
    except ValueError as exc:  # an unusable --device / --quantize, a bad config.json
        raise CommandError(_one_line(exc)) from None


def _hub_cached(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:
        return False


def _parse_column(value: str | None) -> int | str:
    if value is None:
        return 0
    value = value.strip()
    if value.isdigit():
        if int(value) < 1:
            raise UsageError(f"--column numbers start at 1, got {value}")
        return int(value) - 1
    if not value:
        raise UsageError("--column must be a number or a header name")
    return value


def _check_argument(text: str, index: int, errors: str) -> str:
    # Undecodable bytes in argv arrive as lone surrogates (surrogateescape).
    if re.search(r"[\udc80-\udcff]", text):
        if errors == "strict":
            raise CommandError(f"argument {index}: invalid UTF-8 (use --errors replace to substitute U+FFFD)")
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


_BREAKS = re.compile(r"\r\n|[\n\r]")


def _one_line_text(text: str) -> str:
    """A translation as exactly one output line (other separators such as U+2028 were in the input, and stay)."""
    return _BREAKS.sub(" ", text)


def _encode_out(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape" if not re.search(r"[\ud800-\udc7f\udd00-\udfff]", text) else "replace")


def _write_stdout(text: str) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        sys.stdout.flush()
        buffer.write(_encode_out(text))
        buffer.flush()
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _stderr_is_tty() -> bool:
    return _isatty(sys.stderr)


class _Job:
    """A line-oriented translation job: parse lines into records, translate in chunks, write output lines."""

    STATE_VERSION = 1

    def __init__(self, args, fmt: str, column: int | str | None, source: str, target: str, options: dict):
        self.args = args
        self.fmt = fmt
        self.column = column
        self.source = source
        self.target = target
        self.options = options
        self.field = args.field or "text"
        self.output_field = args.output_field or self.field
        self.errors = args.errors
        self.translator = None
        self.model_name = None
        self.header_index: int | None = column if isinstance(column, int) else None
        self.quiet = args.quiet
        self.special_output = False  # --output is a FIFO or a device: written through, not replaced
        self.details_path = getattr(args, "details_jsonl", None)
        self.details_count = 0  # texts whose details were written (the JSONL `item` numbers them from 1)
        if self.details_path is not None:
            Path(self.details_path).write_text("", encoding="utf-8")  # a new job starts a new file

    def translate(self, texts: list[str], progress: bool) -> list[str]:
        """Translations of `texts`; with --details-jsonl, their guard details are appended to that file, one
        JSON object per text: item (1-based over the job's translated texts), flags, retries, changed, score."""
        if self.details_path is None:
            return self.translator.translate(texts, self.source, self.target, progress=progress, **self.options)
        details = self.translator.translate(texts, self.source, self.target, progress=progress,
                                            return_details=True, **self.options)
        lines = []
        for d in details:
            self.details_count += 1
            row = {"item": self.details_count, **d.to_dict()}
            row.pop("translation")
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        with open(self.details_path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
        return [d.translation for d in details]

    # ---- parsing ----------------------------------------------------------------------------------
    def parse(self, raw_bytes: bytes, number: int, where: str) -> _Record:
        line_bytes, ending_bytes = _split_ending(raw_bytes)
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.errors == "strict":
                raise CommandError(
                    f"{where}line {number}: invalid UTF-8 (byte 0x{line_bytes[exc.start]:02x} at column "
                    f"{exc.start + 1}); use --errors replace to substitute U+FFFD"
                ) from None
            line = line_bytes.decode("utf-8", "replace")
        ending = ending_bytes.decode("ascii")
        bom = ""
        if number == 1 and line.startswith("\ufeff"):
            bom, line = "\ufeff", line[1:]
        if self.fmt == "text":
            return _Record(raw=bom + line, ending=ending, text=line, obj=bom)
        if not line.strip():
            return _Record(raw=bom + line, ending=ending)
        if self.fmt == "jsonl":
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise CommandError(f"{where}line {number}: invalid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise CommandError(f"{where}line {number}: expected a JSON object, got {type(obj).__name__}")
            if self.field not in obj:
                raise CommandError(f"{where}line {number}: no field {self.field!r} (choose one with --field)")
            value = obj[self.field]
            if value is None:
                return _Record(raw=bom + line, ending=ending, obj=obj)
            if not isinstance(value, str):
                raise CommandError(
                    f"{where}line {number}: field {self.field!r} is {type(value).__name__}, not a string"
                )
            return _Record(raw=bom + line, ending=ending, text=value, obj=obj)
        # tsv
        cells = line.split("\t")
        if self.header_index is None:  # a column name: this first non-blank line is the header
            if self.column not in cells:
                raise CommandError(f"{where}line {number}: no column named {self.column!r} in the header")
            self.header_index = cells.index(self.column)
            return _Record(raw=bom + line, ending=ending)
        if self.header_index >= len(cells):
            raise CommandError(
                f"{where}line {number}: {len(cells)} column(s), but --column needs column {self.header_index + 1}"
            )
        return _Record(raw=bom + line, ending=ending, text=cells[self.header_index], obj=cells)

    def render(self, record: _Record, translation: str | None) -> str:
        if record.text is None or translation is None:
            return record.raw + record.ending
        if self.fmt == "text":
            if translation == record.text:
                return record.raw + record.ending
            return record.obj + _one_line_text(translation) + record.ending
        if self.fmt == "jsonl":
            obj = dict(record.obj)
            obj[self.output_field] = translation
            prefix = record.raw[:1] if record.raw.startswith("\ufeff") else ""
            return prefix + json.dumps(obj, ensure_ascii=False) + record.ending
        cells = list(record.obj)
        cells[self.header_index] = re.sub(r"[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ", translation)
        prefix = record.raw[:1] if record.raw.startswith("\ufeff") else ""
        return prefix + "\t".join(cells) + record.ending

    def validate_file(self, path: Path) -> int:
        """Parse every line once (UTF-8, JSON, columns) so that bad input fails before any model time; count lines."""
        saved = self.header_index
        n = 0
        with _open_input(path) as handle:
            for n, raw in enumerate(handle, 1):
                self.parse(raw, n, f"{path}: ")
        self.header_index = saved
        return n

    # ---- translating ------------------------------------------------------------------------------
    def translate_chunk(self, records: list[_Record]) -> str:
        texts = [r.text for r in records if r.text is not None]
        results = iter(self.translate(texts, False) if texts else [])
        return "".join(self.render(r, next(results) if r.text is not None else None) for r in records)

    def chunks(self, handle: BinaryIO, first_number: int, where: str) -> Iterator[tuple[list[_Record], bytes]]:
        """(records, the raw input bytes they came from) per chunk of lines."""
        records: list[_Record] = []
        raws: list[bytes] = []
        number = first_number
        for raw in handle:
            records.append(self.parse(raw, number, where))
            raws.append(raw)
            number += 1
            if len(records) >= self.args.chunk_lines:
                yield records, b"".join(raws)
                records, raws = [], []
        if records:
            yield records, b"".join(raws)

    def run_stream(self, handle: BinaryIO, output: Path | None, show_progress: bool) -> int:
        """Standard input: translate chunk by chunk; to stdout as it goes, or atomically to --output."""
        bar = _bar(None, show_progress)
        if output is None:
            tmp = None
        else:
            tmp = _Through(output) if self.special_output else _Partial(output)
        try:
            for records, _ in self.chunks(handle, 1, ""):
                text = self.translate_chunk(records)
                if tmp is None:
                    _write_stdout(text)
                else:
                    tmp.append(_encode_out(text))
                bar.update(len(records))
            if tmp is not None:
                tmp.commit()
        finally:
            bar.close()
            if tmp is not None:
                tmp.discard()
        return 0

    def fingerprint(self, path: Path) -> dict[str, Any]:
        return {
            "input": str(path.resolve()), "model": self.model_name, "source": self.source, "target": self.target,
            "format": self.fmt, "field": self.field, "output_field": self.output_field,
            "column": self.args.column, "errors": self.errors, "options": self.options,
            "sentence_split": not self.args.no_sentence_split,
        }

    def run_file(self, path: Path, output: Path | None, total: int | None, show_progress: bool) -> int:
        if output is None or self.special_output:  # special files are written through, chunk by chunk
            with _open_input(path) as handle:
                return self.run_stream(handle, output, show_progress)
        from .hub import atomic_write_text

        state_path = output.parent / f".{output.name}.m2m100-state.json"
        partial_path = output.parent / f".{output.name}.m2m100-partial"
        fingerprint = self.fingerprint(path)
        done_lines, done_in, done_out = 0, 0, 0
        prefix_hash = hashlib.sha256()
        state = _read_state(state_path)
        if self.args.resume:
            if state is None or not partial_path.is_file():
                _note("nothing to resume; starting from the beginning", self.quiet)
            else:
                if state.get("version") != self.STATE_VERSION or state.get("job") != fingerprint:
                    changed = sorted(k for k in fingerprint if (state.get("job") or {}).get(k) != fingerprint[k])
                    raise CommandError(
                        f"cannot resume {output}: the interrupted run used different settings "
                        f"({', '.join(changed) or 'version'}); run again without --resume to start over"
                    )
                done_lines, done_in, done_out = state["lines"], state["input_bytes"], state["output_bytes"]
                with _open_input(path) as handle:
                    prefix = handle.read(done_in)
                if len(prefix) != done_in or hashlib.sha256(prefix).hexdigest() != state["input_sha256"]:
                    raise CommandError(
                        f"cannot resume {output}: {path} changed since the interrupted run; "
                        "run again without --resume to start over"
                    )
                prefix_hash.update(prefix)
                if partial_path.stat().st_size < done_out:
                    raise CommandError(f"cannot resume {output}: its partial output is shorter than recorded")
                _note(f"resuming after line {done_lines}", self.quiet)
        elif state is not None and partial_path.is_file():
            _note("starting over (an interrupted run of this job could have been continued with --resume)",
                  self.quiet)
        if not done_lines:
            partial_path.unlink(missing_ok=True)
        if self.fmt == "tsv" and isinstance(self.column, str) and done_lines:
            # Re-read the header to know which column a name refers to.
            with _open_input(path) as handle:
                for n, raw in enumerate(handle, 1):
                    self.parse(raw, n, f"{path}: ")
                    if self.header_index is not None or n >= done_lines:
                        break
        bar = _bar(total, show_progress)
        bar.update(done_lines)
        with open(partial_path, "r+b" if done_lines else "wb") as out:
            out.truncate(done_out)
            out.seek(done_out)
            with _open_input(path) as handle:
                handle.seek(done_in)
                try:
                    for records, consumed in self.chunks(handle, done_lines + 1, f"{path}: "):
                        text = self.translate_chunk(records)
                        data = _encode_out(text)
                        out.write(data)
                        out.flush()
                        os.fsync(out.fileno())
                        done_lines += len(records)
                        done_out += len(data)
                        done_in += len(consumed)
                        prefix_hash.update(consumed)
                        atomic_write_text(state_path, json.dumps({
                            "version": self.STATE_VERSION, "job": fingerprint, "lines": done_lines,
                            "input_bytes": done_in, "output_bytes": done_out,
                            "input_sha256": prefix_hash.hexdigest(),
                        }))
                        bar.update(len(records))
                except BaseException as exc:
                    bar.close()
                    if done_lines and not isinstance(exc, (UsageError,)):
                        _note(f"stopped after {done_lines} line(s); run the same command with --resume to continue",
                              self.quiet)
                    raise
        bar.close()
        os.replace(partial_path, output)
        state_path.unlink(missing_ok=True)
        return 0


class _Partial:
    """An output file written through a temporary sibling and renamed into place only when complete."""

    def __init__(self, path: Path):
        import tempfile

        self.path = path
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self.tmp = Path(name)
        self.handle = os.fdopen(fd, "wb")
        self.done = False

    def append(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        self.done = True

    def discard(self) -> None:
        if not self.done:
            self.handle.close()
            self.tmp.unlink(missing_ok=True)


class _Through:
    """An --output that is a FIFO or a device (/dev/stdout, /dev/null): written in place as the job goes,
    never replaced by a regular file."""

    def __init__(self, path: Path):
        self.handle = _open_special(path)

    def append(self, data: bytes) -> None:
        self.handle.write(data)
        self.handle.flush()

    def commit(self) -> None:
        self.handle.close()

    def discard(self) -> None:
        if not self.handle.closed:
            self.handle.close()


def _open_special(path: Path) -> BinaryIO:
    try:
        # no O_TRUNC/O_CREAT: a device or FIFO is opened as it is, never created or truncated
        return os.fdopen(os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0)), "wb")
    except OSError as exc:
        raise CommandError(f"cannot write to {path}: {exc.strerror or exc}") from None


def _output_target(value: str | None) -> tuple[Path | None, bool]:
    """(the path to write, whether it is a special file). A symlink is followed: the file it points to is the
    one written (and replaced atomically when regular); the link itself stays. FIFOs and devices are special."""
    if value is None:
        return None, False
    path = Path(value)
    try:
        mode = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise CommandError(f"--output {value}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise CommandError(f"--output {value} is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        return path, True
    if path.is_symlink():
        return Path(os.path.realpath(path)), False
    return path, False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class _OutputLock:
    """An exclusive lock on an output file: `.NAME.m2m100-lock` next to it, held (flock) for the whole job and
    naming its holder, so a second job on the same --output fails at once instead of mixing the outputs."""

    def __init__(self, output: Path):
        self.output = output
        self.path = output.parent / f".{output.name}.m2m100-lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise CommandError(f"cannot lock {self.output} ({self.path}): {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise CommandError(
                    f"{self.output} is being written by another m2m100 job ({holder}); wait for it to finish "
                    f"or choose another --output"
                ) from None
            # A finishing job unlinks its lock file: make sure the one locked is still the one at the path.
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        import time

        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        os.write(fd, f"pid {os.getpid()}, started {started}: {' '.join(sys.argv)[:300]}\n".encode("utf-8", "replace"))
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still locked, so no other job holds this inode
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if isinstance(state, dict) else None
    except (OSError, ValueError):
        return None


def _open_input(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def _split_ending(raw: bytes) -> tuple[bytes, bytes]:
    if raw.endswith(b"\r\n"):
        return raw[:-2], b"\r\n"
    if raw.endswith(b"\n"):
        return raw[:-1], b"\n"
    return raw, b""


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int | None, show: bool):
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="line", desc="translating", file=sys.stderr, dynamic_ncols=True)


register("translate", "translate text, standard input or a file", _translate_arguments, _translate_run)
register("languages", "list the supported language codes and names", _languages_arguments, _languages_run)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
