"""What every command module shares: the two kinds of error and their exit codes, the parser that raises them,
and the one-line messages on standard error.

Error policy: one line `m2m100: error: ...` on stderr and exit status 2 for usage errors (bad options, unknown
languages, invalid generation parameters), 1 for runtime errors (missing files, bad input data, model loading),
130 when interrupted; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys

PROG = "m2m100"


class UsageError(Exception):
    """A problem with the command line itself: exit status 2."""


class CommandError(Exception):
    """A runtime problem (input data, files, state): exit status 1."""


_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (a UsageError), with a suggestion for a misspelt choice."""

    def error(self, message: str):  # no usage dump
        match = _INVALID_CHOICE.search(message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=1)
            if close:
                message += f"; did you mean '{close[0]}'?"
        raise UsageError(f"{message} (see '{self.prog} --help')")


def one_line(exc: BaseException) -> str:
    """An exception as one line of text (an OSError as `FILE: reason`)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def print_error(message: str) -> None:
    """`m2m100: error: MESSAGE` on stderr."""
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def note(message: str, quiet: bool = False) -> None:
    """`m2m100: MESSAGE` on stderr, unless quiet."""
    if not quiet:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()


def isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
