"""The `m2m100` command line (also `python -m m2m100`): `main`, and the registry of subcommands.

    base.py        UsageError (exit 2), CommandError (exit 1), the one-line parser and messages
    translate.py   m2m100 translate: checks, then one of the jobs below
      arguments.py   its flags (the model's come from m2m100.options.TranslatorOptions) and shared checks
      records.py     input lines: text, JSONL fields, TSV columns; parse and render
      lines.py       the local job: TEXT arguments, standard input, files (resumable)
      resume.py      the resume state shared by the local and the Ray job (legacy.py: earlier formats)
      outputs.py     atomic output files, special files, the one-job-per-output lock
      documents.py   whole documents (HTML, Office, subtitles, PDF, ...)
      ray.py         the file job on a Ray cluster (--ray, Parquet)
      model.py       loading the model with the command line's messages
    languages.py   m2m100 languages
    shortlist.py   m2m100 shortlist (imported only when used, like serve, train and eval)

Subcommands are registered in COMMANDS (name -> Command). Commands living in other modules are listed in
EXTERNAL_COMMANDS and imported only when chosen; such a module provides

    HELP: str                                   (optional, one line for `m2m100 --help`)
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int | None

A command signals a usage error by raising `UsageError` (exit 2); other exceptions exit 1. Error policy: one
line `m2m100: error: ...` on stderr and exit status 2 for usage errors (bad options, unknown languages, invalid
generation parameters; a misspelt command or choice gets a "did you mean"), 1 for runtime errors (missing
files, bad input data, model loading), 130 when interrupted; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import GenerationError
from . import languages, translate
from .base import PROG, CommandError, Parser, UsageError, one_line, print_error


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
    "shortlist": ("m2m100.cli.shortlist", "build or inspect a vocabulary shortlist (faster decoding)"),
}


def register(name: str, help: str, add_arguments: Callable, run: Callable) -> None:
    """Add a subcommand (replacing one of the same name)."""
    COMMANDS[name] = Command(name, help, add_arguments, run)


register("translate", translate.HELP, translate.add_arguments, translate.run)
register("languages", languages.HELP, languages.add_arguments, languages.run)


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
        command = getattr(args, "command_run", None)
        if command is None:
            print_error("no command given (try 'm2m100 translate --help' or 'm2m100 languages')")
            return 2
        return int(command(args) or 0)
    except UsageError as exc:
        return _fail(exc, 2, debug)
    except GenerationError as exc:  # a generation option the run cannot honour (e.g. beams beyond memory)
        return _fail(exc, 2, debug)
    except KeyboardInterrupt:
        print_error("interrupted")
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
            print_error(f"out of memory ({type(exc).__name__}); try a smaller --max-batch-tokens or --beam")
            return 1
        return _fail(exc, 1, debug, internal=True)
    except Exception as exc:
        return _fail(exc, 1, debug, internal=True)


def _fail(exc: BaseException, code: int, debug: bool, internal: bool = False) -> int:
    if debug:
        traceback.print_exc()
    message = one_line(exc)
    if internal:
        message = f"internal error: {type(exc).__name__}: {message} (rerun with --debug for a traceback)"
    print_error(message)
    return code


# =====================================================================================================
# parser
# =====================================================================================================
def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; of the external ones, only the chosen command (in `argv`) is imported."""
    from .. import __version__

    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    parser = Parser(
        prog=PROG, parents=[common],
        description="M2M100 many-to-many translation: translate text between 100 languages.",
        epilog="Run 'm2m100 COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    chosen = _chosen_command(argv or [])
    for command in COMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help, parents=[common])
        command.add_arguments(p)
        p.set_defaults(command_run=command.run)
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
        p.set_defaults(command_run=module.run)
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


__all__ = ["COMMANDS", "EXTERNAL_COMMANDS", "Command", "CommandError", "PROG", "UsageError", "build_parser",
           "main", "register"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
