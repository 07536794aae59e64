"""Loading the model for a local job, with the command line's messages: a note before a first download from
the hub, and one-line errors that say how to use a model on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..options import TranslatorOptions
from .base import CommandError, note, one_line


def resolved_model(options: TranslatorOptions) -> str:
    """The model's name, a local directory made absolute (Ray actors may run elsewhere; resume states compare
    it)."""
    name = options.model_name()
    return str(Path(name).resolve()) if Path(name).exists() else name


def load_translator(options: TranslatorOptions, quiet: bool) -> Any:
    """`options.load()`; CommandError (exit 1) for a model or shortlist that cannot be loaded."""
    from ..errors import CheckpointError

    shortlist = None
    if options.shortlist:  # read before the model: a bad file fails in a moment, not after loading
        from ..generation.shortlist import VocabShortlist

        try:
            shortlist = VocabShortlist.load(options.shortlist)
        except CheckpointError as exc:
            raise CommandError(one_line(exc)) from None
    model_name = options.model_name()
    local = Path(model_name).exists()
    hub_id = not local and not model_name.startswith((".", "/", "~")) and model_name.count("/") <= 1
    if hub_id and not quiet and not _hub_cached(model_name):
        note(f"fetching {model_name} from the Hugging Face hub (first use; cached afterwards)")
    try:
        return options.load(progress=False, shortlist=shortlist)
    except CheckpointError as exc:
        message = one_line(exc)
        if not local:
            message += (" To use a model on disk, pass --model DIR (or set M2M100_MODEL=DIR): a directory with "
                        "config.json, model.safetensors, sentencepiece.bpe.model and vocab.json.")
        raise CommandError(message) from None
    except ValueError as exc:  # an unusable --device / --quantize, a bad config.json
        raise CommandError(one_line(exc)) from None


def _hub_cached(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:
        return False
