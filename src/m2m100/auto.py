"""`AutoTokenizer`, `AutoConfig` and `AutoModelForSeq2SeqLM` for M2M100 checkpoints, as in transformers.

Only M2M100 checkpoints are supported: anything else gets a clear error instead of a wrong model.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import CheckpointError, ConfigError

_HUB_KEYS = ("revision", "cache_dir", "token", "local_files_only")
# tokenizer_class in tokenizer_config.json -> the tokenizer family that reads those files
_TOKENIZER_CLASSES = {
    "M2M100Tokenizer": "m2m100", "M2M100TokenizerFast": "m2m100",
    "NllbTokenizer": "nllb", "NllbTokenizerFast": "nllb",
}
_MODEL_TYPES = ("m2m_100", "m2m100")


def _read_optional_json(name_or_path, filename: str, hub_kwargs: dict[str, Any]) -> dict | None:
    from .hub import resolve_file

    path = resolve_file(name_or_path, filename, required=False, **hub_kwargs)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{filename} is not valid JSON ({path}): {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{filename} must hold a JSON object ({path})")
    return data


def _check_m2m100(name_or_path, hub_kwargs: dict[str, Any], subfolder: str | None = None) -> str:
    """The tokenizer family ("m2m100" or "nllb") of a checkpoint, from tokenizer_config.json's tokenizer_class
    (M2M100 when the checkpoint names none but is an m2m_100 model). Raises ConfigError for other families."""
    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    tokenizer_config = _read_optional_json(name_or_path, prefix + "tokenizer_config.json", hub_kwargs)
    tokenizer_class = (tokenizer_config or {}).get("tokenizer_class")
    if tokenizer_class:
        if tokenizer_class not in _TOKENIZER_CLASSES:
            raise ConfigError(
                f"{name_or_path} is not an M2M100 or NLLB checkpoint: its tokenizer_class is {tokenizer_class!r} "
                f"(this package provides {', '.join(sorted(_TOKENIZER_CLASSES))})"
            )
        return _TOKENIZER_CLASSES[tokenizer_class]
    model_config = _read_optional_json(name_or_path, "config.json", hub_kwargs)
    model_type = (model_config or {}).get("model_type")
    if model_type in _MODEL_TYPES:
        return "m2m100"
    if model_type is not None:
        raise ConfigError(
            f"{name_or_path} is not an M2M100 checkpoint: its model_type is {model_type!r} (expected 'm2m_100')"
        )
    if tokenizer_config is None and model_config is None:
        raise CheckpointError(
            f"{name_or_path} has neither tokenizer_config.json nor config.json; pass an M2M100 checkpoint directory "
            "or hub id, or build M2M100Tokenizer(vocab_file=..., spm_file=...) directly"
        )
    # A tokenizer_config.json without tokenizer_class and no model_type: assume M2M100's files and let the
    # tokenizer's own loading report anything missing.
    return "m2m100"


class AutoTokenizer:
    """`AutoTokenizer.from_pretrained(path_or_hub_id, **kwargs)` gives the M2M100Tokenizer or NllbTokenizer
    that the checkpoint's tokenizer_config.json names (M2M100Tokenizer when it names none)."""

    def __init__(self):
        raise OSError("AutoTokenizer is not meant to be instantiated; use AutoTokenizer.from_pretrained(...)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *inputs, **kwargs):
        from .tokenization import M2M100Tokenizer, NllbTokenizer

        hub_kwargs = {key: kwargs[key] for key in _HUB_KEYS if key in kwargs}
        family = _check_m2m100(pretrained_model_name_or_path, hub_kwargs, kwargs.get("subfolder"))
        kwargs.pop("trust_remote_code", None)
        if family == "nllb":
            return NllbTokenizer.from_pretrained(pretrained_model_name_or_path, *inputs, **kwargs)
        kwargs.pop("use_fast", None)
        return M2M100Tokenizer.from_pretrained(pretrained_model_name_or_path, *inputs, **kwargs)


class AutoConfig:
    """`AutoConfig.from_pretrained(path_or_hub_id)` gives an M2M100Config."""

    def __init__(self):
        raise OSError("AutoConfig is not meant to be instantiated; use AutoConfig.from_pretrained(...)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs):
        from .config import M2M100Config

        kwargs.pop("trust_remote_code", None)
        return M2M100Config.from_pretrained(pretrained_model_name_or_path, **kwargs)


class AutoModelForSeq2SeqLM:
    """`AutoModelForSeq2SeqLM.from_pretrained(path_or_hub_id, ...)` gives an M2M100ForConditionalGeneration."""

    def __init__(self):
        raise OSError(
            "AutoModelForSeq2SeqLM is not meant to be instantiated; use AutoModelForSeq2SeqLM.from_pretrained(...)"
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args, **kwargs):
        from .model import M2M100ForConditionalGeneration

        kwargs.pop("trust_remote_code", None)
        return M2M100ForConditionalGeneration.from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @classmethod
    def from_config(cls, config, **kwargs):
        from .model import M2M100ForConditionalGeneration

        return M2M100ForConditionalGeneration(config, **kwargs)


__all__ = ["AutoConfig", "AutoModelForSeq2SeqLM", "AutoTokenizer"]
