"""The Translator's loading and runtime options, declared once: `TranslatorOptions`.

Each field is one keyword of `Translator.from_pretrained` (plus `threads`, torch's CPU threads), with its
default and its help text. Every front end derives its options from these fields:

    m2m100 translate          TranslatorOptions.add_arguments(parser) adds one flag per field and
                              TranslatorOptions.from_args(args) reads them back, validated
    m2m100 serve, Ray Serve   ServerSettings (m2m100.server.settings) has one setting per field: a flag and an
                              M2M100_* variable
    m2m100 translate --ray    the actors load `TranslatorOptions.load()`; `integrations.ray.TranslateBatch`
                              takes the fields as keywords

So a new loading option is one new field here (`option(default, help, ...)`); `from_pretrained_kwargs` passes
every field but `model` and `threads` to `Translator.from_pretrained` under its own name.

    options = TranslatorOptions(model="facebook/m2m100_418M", dtype="bfloat16").validate()
    translator = options.load()

This module imports nothing heavy: torch and m2m100.translate only inside the functions that need them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import ATTN_IMPLEMENTATIONS

# The Translator's defaults (m2m100.translate.DEFAULT_MAX_BATCH_TOKENS / DEFAULT_MAX_BATCH_SIZE; a test checks
# they agree). Repeated here so that reading the options never imports the Translator.
DEFAULT_MAX_BATCH_TOKENS = 4096
DEFAULT_MAX_BATCH_SIZE = 128
DTYPES = ("float32", "fp32", "float16", "fp16", "half", "bfloat16", "bf16", "auto")


def _check_device(value: Any) -> str | None:
    if not isinstance(value, str):
        return None  # a torch.device given from Python
    import torch

    try:
        torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        return f"invalid device {value!r}; use cpu, cuda, cuda:N or mps"
    return None


def _check_dtype(value: Any) -> str | None:
    if isinstance(value, str) and value.lower().removeprefix("torch.") not in DTYPES:
        return f"invalid dtype {value!r}; use one of {', '.join(DTYPES)}"
    return None  # a name of DTYPES, or a torch.dtype given from Python


def option(default: Any, help: str, *, metavar: str | None = None, choices: tuple[str, ...] | None = None,
           minimum: int | None = None, maximum: int | None = None, flags: tuple[str, ...] | None = None,
           off_flag: str | None = None, off_help: str | None = None,
           check: Callable[[Any], str | None] | None = None, secret: bool = False) -> Any:
    """A TranslatorOptions field. help: one line, for every front end. metavar, choices, minimum/maximum
    (integers): as their names say. flags: the command-line option strings (default: --NAME-WITH-DASHES).
    A boolean that defaults to true is turned off on the command line by `off_flag` (default: --no-NAME), whose
    help is `off_help`. check(value) returns an error message (without the option's name) or None. secret: never
    shown in a repr (a token)."""
    spec = dict(help=help, metavar=metavar, choices=choices, minimum=minimum, maximum=maximum, flags=flags,
                off_flag=off_flag, off_help=off_help, check=check, secret=secret)
    return dataclasses.field(default=default, metadata=spec, repr=not secret)


@dataclass(frozen=True)
class OptionSpec:
    """What a front end needs to know about one TranslatorOptions field."""

    name: str
    kind: type  # str, int, float or bool
    optional: bool  # None allowed (and the default)
    default: Any
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    flags: tuple[str, ...] = ()
    off_flag: str | None = None
    off_help: str | None = None
    check: Callable[[Any], str | None] | None = None
    secret: bool = False

    @property
    def flag(self) -> str:
        """The option's name on the command line, as error messages give it."""
        return self.off_flag if self.kind is bool and self.default is True else self.flags[-1]


@dataclass(frozen=True)
class TranslatorOptions:
    """How to load and run a Translator. Every field is optional; `validate()` checks the values."""

    model: str | None = option(
        None, "checkpoint directory or hub id (default: $M2M100_MODEL or facebook/m2m100_418M)",
        flags=("-m", "--model"), metavar="PATH_OR_ID")
    device: str | None = option(
        None, "torch device: cpu, cuda, cuda:1, mps (default: a GPU when there is one)", metavar="DEVICE",
        check=_check_device)
    dtype: str | None = option(
        None, "weights dtype: float32 (default), float16, bfloat16 or auto", metavar="DTYPE", check=_check_dtype)
    quantize: str | None = option(None, "quantize the model after loading (e.g. int8)", metavar="METHOD")
    prepack: bool = option(
        True, "pack CPU float32/bfloat16 weights for fast exact inference when possible (false: plain weights)",
        off_help="keep plain CPU weights (prepacked weights, the default on CPU, are faster and exact)")
    attn_implementation: str | None = option(
        None, "attention kernel (default: the checkpoint's config, else sdpa)", choices=ATTN_IMPLEMENTATIONS)
    max_batch_tokens: int = option(
        DEFAULT_MAX_BATCH_TOKENS, f"token budget of one model batch: padded source tokens x beams (default: "
                                  f"{DEFAULT_MAX_BATCH_TOKENS})", minimum=1, metavar="N")
    max_batch_size: int = option(
        DEFAULT_MAX_BATCH_SIZE, f"sentences per model batch (default: {DEFAULT_MAX_BATCH_SIZE})", minimum=1,
        metavar="N")
    max_input_tokens: int | None = option(
        None, "longest model input in tokens; longer sentences are cut into pieces (default: the model's limit)",
        minimum=4, metavar="N")
    split_sentences: bool = option(
        True, "split texts into sentences before translating (false: each line as a whole, still cut at the "
              "model's length limit)", off_flag="--no-sentence-split",
        off_help="translate each line as a whole (still cut at the model's length limit)")
    revision: str | None = option(None, "hub revision: branch, tag or commit (default: main)", metavar="REV")
    cache_dir: str | None = option(None, "hub cache directory (default: huggingface_hub's)", metavar="DIR")
    token: str | None = option(None, "hub access token (default: huggingface_hub's login or $HF_TOKEN)",
                               metavar="TOKEN", secret=True)
    local_files_only: bool = option(False, "never download: use the local directory or the hub cache only")
    guards: bool = option(
        True, "quality guards: loop, length, language, copy and <unk> checks with retries (default: on unless "
              "$M2M100_GUARDS=0)",
        off_help="turn the quality guards off (loop, length, language, copy, <unk> checks and retries)")
    shortlist: str | None = option(
        None, "vocabulary shortlist JSON (m2m100 shortlist build): decode over the target language's tokens plus "
              "the source's; faster, may change some translations (default: full vocabulary)", metavar="FILE")
    threads: int | None = option(None, "torch CPU threads (default: torch's choice)", minimum=1, maximum=1024,
                                 metavar="N")

    # -- the fields, for the front ends ----------------------------------------------------------------
    @classmethod
    def specs(cls) -> dict[str, OptionSpec]:
        """{field name: OptionSpec}, in declaration order."""
        return _specs(cls)

    # -- command line ----------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser | Any, exclude: tuple[str, ...] = ()) -> None:
        """One flag per field on `parser` (or an argument group); the parsed value lands in `args.<field>`."""
        for spec in cls.specs().values():
            if spec.name in exclude:
                continue
            kwargs: dict[str, Any] = {"dest": spec.name, "default": spec.default}
            if spec.kind is bool and spec.default is True:
                parser.add_argument(spec.off_flag, action="store_false", help=spec.off_help or f"off: {spec.help}",
                                    **kwargs)
                continue
            if spec.kind is bool:
                parser.add_argument(*spec.flags, action="store_true", help=spec.help, **kwargs)
                continue
            kwargs["type"] = spec.kind
            if spec.choices:
                kwargs["choices"] = spec.choices
            else:
                kwargs["metavar"] = spec.metavar
            parser.add_argument(*spec.flags, help=spec.help.replace("%", "%%"), **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TranslatorOptions":
        """The options parsed by `add_arguments` (fields the parser lacks keep their defaults), validated:
        ValueError names the flag of a bad value."""
        specs = cls.specs()
        values = {name: getattr(args, name) for name in specs if hasattr(args, name)}
        return cls(**values).validate(label=lambda name: specs[name].flag)

    # -- checks ----------------------------------------------------------------------------------------
    def validate(self, label: Callable[[str], str] | None = None) -> "TranslatorOptions":
        """self, or ValueError for the first bad value, naming the option as `label(field name)` gives it
        (default: the field name itself)."""
        for spec in self.specs().values():
            problem = check_value(spec, getattr(self, spec.name), label(spec.name) if label else spec.name)
            if problem:
                raise ValueError(problem)
        return self

    # -- loading ---------------------------------------------------------------------------------------
    def model_name(self) -> str:
        """`model`, or the default model ($M2M100_MODEL or facebook/m2m100_418M)."""
        if self.model is not None:
            return str(self.model)
        from .translate import default_model

        return default_model()

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        """The keywords of `Translator.from_pretrained` (all fields but model and threads). prepack and guards:
        True passes None (the Translator's default: packed on CPU; guards on unless $M2M100_GUARDS=0)."""
        kwargs = {name: getattr(self, name) for name in self.specs() if name not in ("model", "threads")}
        kwargs["prepack"] = None if self.prepack else False
        kwargs["guards"] = None if self.guards else False
        return kwargs

    def set_threads(self) -> None:
        """torch.set_num_threads(threads), when threads is set."""
        if self.threads:
            import torch

            torch.set_num_threads(int(self.threads))

    def load(self, *, progress: bool | None = False, **overrides: Any) -> Any:
        """Validate, set torch's threads, and return `Translator.from_pretrained(model_name(), ...)`.
        progress: the Translator's progress-bar default (False: none; None: on a terminal). overrides replace
        from_pretrained keywords (e.g. shortlist=an already loaded VocabShortlist)."""
        from .translate import Translator

        self.validate()
        self.set_threads()
        kwargs = {**self.from_pretrained_kwargs(), "progress": progress, **overrides}
        return Translator.from_pretrained(self.model_name(), **kwargs)

    def replace(self, **changes: Any) -> "TranslatorOptions":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def check_value(spec: OptionSpec, value: Any, name: str) -> str | None:
    """The error message for one field's value, naming the option `name`; None when the value is fine."""
    if value is None:
        return None if spec.optional else f"{name} must be given"
    if spec.kind is bool:
        return None if isinstance(value, bool) else f"{name} must be true or false, got {value!r}"
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} must be an integer, got {value!r}"
        low, high = spec.minimum, spec.maximum
        if high is not None and not low <= value <= high:
            return f"{name} must be between {low} and {high}, got {value}"
        if low is not None and value < low:
            return f"{name} must be a positive integer, got {value}" if low == 1 else \
                f"{name} must be at least {low}, got {value}"
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    problem = spec.check(value) if spec.check is not None else None
    return f"{name}: {problem}" if problem else None


@functools.cache
def _specs(cls: type) -> dict[str, OptionSpec]:
    hints = typing.get_type_hints(cls)
    specs = {}
    for f in dataclasses.fields(cls):
        kinds = [k for k in typing.get_args(hints[f.name]) if k is not type(None)] or [hints[f.name]]
        meta = dict(f.metadata)
        flags = meta.pop("flags") or ("--" + f.name.replace("_", "-"),)
        off_flag = meta.pop("off_flag") or "--no-" + f.name.replace("_", "-")
        specs[f.name] = OptionSpec(name=f.name, kind=kinds[0], optional=f.default is None, default=f.default,
                                   flags=tuple(flags), off_flag=off_flag, **meta)
    return specs


__all__ = ["TranslatorOptions", "OptionSpec", "option", "check_value", "DTYPES", "ATTN_IMPLEMENTATIONS",
           "DEFAULT_MAX_BATCH_TOKENS", "DEFAULT_MAX_BATCH_SIZE"]
