"""`m2m100 shortlist build | info`: make and inspect vocabulary shortlists (m2m100.generation.shortlist).

    m2m100 shortlist build -m MODEL_DIR --text de=train.de --text fr=train.fr [--min-count 2] [-o FILE]
    m2m100 shortlist info FILE [--json]

`build` needs only the model's tokenizer. Each --text gives target-language text: plain lines (.gz allowed), or
a .tsv file whose --tsv-column (default 2, the target column of `m2m100 train` data) is read. The file goes to
-o, by default shortlist.json in a local model directory (where `Translator.from_pretrained(shortlist=True)`
finds it); an existing file is replaced only with --force. Use it with `m2m100 translate --shortlist FILE`,
`m2m100 serve --shortlist FILE` or `Translator(..., shortlist=FILE)`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

from .base import CommandError, Parser, UsageError, note

HELP = "build or inspect a vocabulary shortlist (faster decoding over fewer output tokens)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    build = sub.add_parser("build", help="build a shortlist from target-language text")
    build.add_argument("-m", "--model", default=None,
                       help="checkpoint directory or hub id whose tokenizer to use (default: $M2M100_MODEL or "
                            "facebook/m2m100_418M)")
    build.add_argument("--text", action="append", default=[], metavar="LANG=FILE", required=True,
                       help="target-language text for LANG (repeat per language): lines, .gz, or .tsv")
    build.add_argument("--tsv-column", type=int, default=2, metavar="N",
                       help=".tsv files: the 1-based column to read (default: 2, the target side)")
    build.add_argument("--min-count", type=int, default=1, metavar="N",
                       help="keep tokens seen at least N times in a language's text (default: 1, every one)")
    build.add_argument("-o", "--output", default=None, metavar="FILE",
                       help="where to write (default: MODEL/shortlist.json for a local model directory)")
    build.add_argument("--force", action="store_true", help="replace an existing output file")
    info = sub.add_parser("info", help="print a shortlist's languages and sizes")
    info.add_argument("file", metavar="FILE")
    info.add_argument("--json", action="store_true", help="one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args)
    if args.action == "info":
        return _info(args)
    raise UsageError("choose an action: 'm2m100 shortlist build' or 'm2m100 shortlist info'")


def _build(args: argparse.Namespace) -> int:
    from ..errors import CheckpointError
    from ..generation.shortlist import FILE_NAME, VocabShortlist
    from ..translate import default_model

    if args.min_count < 1:
        raise UsageError(f"--min-count must be at least 1, got {args.min_count}")
    if args.tsv_column < 1:
        raise UsageError(f"--tsv-column must be at least 1, got {args.tsv_column}")
    sources: dict[str, Path] = {}
    for item in args.text:
        lang, sep, file = item.partition("=")
        if not sep or not lang.strip() or not file:
            raise UsageError(f"--text expects LANG=FILE, got {item!r}")
        if lang.strip() in sources:
            raise UsageError(f"--text gives language {lang.strip()!r} twice")
        sources[lang.strip()] = Path(file)
    for path in sources.values():
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
    model = args.model or default_model()
    if args.output:
        output = Path(args.output)
    elif Path(model).is_dir():
        output = Path(model) / FILE_NAME
    else:
        raise UsageError("give --output FILE (the model is not a local directory)")
    if output.exists() and not args.force:
        raise CommandError(f"{output} exists; pass --force to replace it")
    if not output.parent.is_dir():
        raise CommandError(f"{output.parent}: no such directory")

    from ..auto import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except CheckpointError as exc:
        raise CommandError(str(exc)) from None
    codes = getattr(tokenizer, "lang_code_to_id", {})
    from ..languages import normalize_language

    texts = {}
    for lang, path in sources.items():
        code = normalize_language(lang, list(codes))  # LanguageError (exit 1) names the unknown language
        texts[code] = _read_text(path, args.tsv_column)
    shortlist = VocabShortlist.build(tokenizer, texts, min_count=args.min_count)
    shortlist.save(output)
    sizes = ", ".join(f"{code} {n}" for code, n in shortlist.sizes().items())
    note(f"wrote {output}: kept tokens per language (of {shortlist.vocab_size}): {sizes}")
    return 0


def _read_text(path: Path, column: int) -> list[str]:
    """Lines of a text file (.gz allowed), or one column of a .tsv file; CommandError for bad UTF-8 or a row
    without that column."""
    tsv = path.name.removesuffix(".gz").endswith(".tsv")
    opener = gzip.open if path.name.endswith(".gz") else open
    lines = []
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise CommandError(f"{path}:{number}: not valid UTF-8 ({exc.reason})") from None
            if tsv:
                cells = line.split("\t")
                if len(cells) < column:
                    raise CommandError(f"{path}:{number}: no column {column} (the row has {len(cells)})")
                line = cells[column - 1]
            if line.strip():
                lines.append(line.strip())
    return lines


def _info(args: argparse.Namespace) -> int:
    from ..errors import CheckpointError
    from ..generation.shortlist import VocabShortlist

    try:
        shortlist = VocabShortlist.load(args.file)
    except CheckpointError as exc:
        raise CommandError(str(exc)) from None
    sizes = shortlist.sizes()
    if args.json:
        print(json.dumps({"vocab_size": shortlist.vocab_size, "min_count": shortlist.min_count,
                          "always": len(shortlist.always), "languages": sizes, "texts": dict(shortlist.texts)}))
        return 0
    sys.stdout.write(f"vocabulary {shortlist.vocab_size} tokens; min count {shortlist.min_count}; "
                     f"{len(shortlist.always)} special/language tokens always kept\n")
    for code, n in sizes.items():
        lines = shortlist.texts.get(code)
        built = f" (from {lines} lines)" if lines else ""
        sys.stdout.write(f"{code}\t{n}\t{100 * n / shortlist.vocab_size:.1f}%{built}\n")
    return 0
