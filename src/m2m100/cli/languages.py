"""`m2m100 languages`: the language codes and English names of a code set, or of a model's tokenizer."""

from __future__ import annotations

import argparse
import json

from .base import UsageError
from .outputs import write_stdout

HELP = "list the supported language codes and names"
__all__ = ["HELP", "add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON object {code: name}")
    p.add_argument("--codes", default=None, choices=["m2m100", "wmt21", "nllb"],
                   help="language-code set: m2m100 (the 100 languages of facebook/m2m100_*, the default), wmt21, "
                        "or nllb (the 202 FLORES-200 codes of facebook/nllb-200-*)")
    p.add_argument("-m", "--model", default=None, metavar="DIR",
                   help="list the languages of this model directory's tokenizer (M2M100 or NLLB) instead")


def run(args: argparse.Namespace) -> int:
    from ..languages import CODE_SETS, language_name

    if args.model is not None and args.codes is not None:
        raise UsageError("give --codes or --model, not both")
    if args.model is not None:
        from ..auto import AutoTokenizer
        from ..translate import language_codes

        codes = language_codes(AutoTokenizer.from_pretrained(args.model, local_files_only=True))
    else:
        codes = CODE_SETS[args.codes or "m2m100"]
    names = {}
    for code in codes:
        try:
            names[code] = language_name(code)
        except ValueError:  # a code a fine-tuned tokenizer added: no English name known
            names[code] = code
    if args.json:
        write_stdout(json.dumps(names, ensure_ascii=False, indent=1) + "\n")
    else:
        write_stdout("".join(f"{code}\t{name}\n" for code, name in names.items()))
    return 0
