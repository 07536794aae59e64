"""`m2m100 translate -i DOCUMENT -o FILE`: a whole document (m2m100.documents: HTML, Markdown, subtitles,
Office, EPUB, PDF), translated and written back in its own format, atomically. Unit translations are saved
every --chunk-lines units next to the output (`.NAME.m2m100-units.json`), so --resume continues."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from ..options import TranslatorOptions
from ..progress import stderr_is_tty
from .base import CommandError, UsageError, note
from .model import load_translator
from .resume import read_json


def translate_document(args: argparse.Namespace, options: TranslatorOptions, source: str, target: str,
                       generation: dict[str, Any], fmt: str, output: Path | None, special: bool) -> int:
    from ..documents import translate_document as translate_whole, unit_translator
    from ..errors import DocumentError
    from ..hub import atomic_write_bytes, atomic_write_text

    if args.input in (None, "-") or output is None or special:
        raise UsageError(f"{fmt} documents need --input FILE and --output FILE (a regular file)")
    if source == "auto":  # span alignment needs one known source language per document
        raise UsageError(f"--source auto applies to text, JSONL and TSV input; name the language of a {fmt} document")
    if fmt == "pdf" and output.suffix.lower() != ".txt":
        raise UsageError("PDF input is translated to plain text: name the --output *.txt")
    data = Path(args.input).read_bytes()
    state_path = output.with_name(f".{output.name}.m2m100-units.json")
    settings = {"input_sha256": hashlib.sha256(data).hexdigest(), "format": fmt, "source": source,
                "target": target, "options": generation, "model": options.model_name()}
    done: dict[str, str] = {}
    saved = read_json(state_path)
    if args.resume and saved is not None:
        if saved.get("settings") != settings:
            raise CommandError(f"cannot resume {output}: the input or the settings changed since the interrupted "
                               "run; run again without --resume to start over")
        done = dict(saved.get("done", {}))
    elif args.resume:
        note("nothing to resume; starting from the beginning", args.quiet)

    def checkpoint(known: dict[str, str]) -> None:
        atomic_write_text(state_path, json.dumps({"settings": settings, "done": known}, ensure_ascii=False))

    translator = load_translator(options, args.quiet)
    translate = unit_translator(translator, source, target, progress=not args.quiet and stderr_is_tty(),
                                done=done, checkpoint=checkpoint, chunk=args.chunk_lines, **generation)
    try:
        out = translate_whole(data, fmt, Path(args.input).name, translate)
    except DocumentError as exc:
        raise CommandError(str(exc)) from None
    atomic_write_bytes(output, out)
    state_path.unlink(missing_ok=True)
    return 0
