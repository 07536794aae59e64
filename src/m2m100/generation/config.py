"""GenerationConfig: every decoding option as a typed dataclass, validated when set.

Fields default to None ("not set"): generate() fills them, in order, from the model's own generation config
(generation_config.json, or the generation keys of an old config.json) and then from GLOBAL_DEFAULTS, exactly
like transformers. Keys this package does not know are kept in `extra`, so a generation_config.json written by
transformers round-trips unchanged, and ours loads in transformers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GenerationError
from ..hub import read_json_object

GENERATION_CONFIG_NAME = "generation_config.json"

# transformers' fallbacks for options nobody set (GenerationConfig._get_default_generation_params).
GLOBAL_DEFAULTS: dict[str, Any] = {
    "max_length": 20,
    "min_length": 0,
    "do_sample": False,
    "use_cache": True,
    "early_stopping": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "num_return_sequences": 1,
    "output_scores": False,
    "output_logits": False,
    "output_attentions": False,
    "output_hidden_states": False,
    "remove_invalid_values": False,
    "return_dict_in_generate": False,
    "prune_finished": True,
}

# Options transformers has that change the result and that this package does not implement: refusing them
# beats silently ignoring them. Value = the setting that means "off".
UNSUPPORTED_OFF: dict[str, Any] = {
    "num_beam_groups": 1, "diversity_penalty": 0.0, "penalty_alpha": None, "constraints": None,
    "force_words_ids": None, "guidance_scale": 1.0, "sequence_bias": None, "typical_p": 1.0, "min_p": None,
    "top_h": None, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "encoder_repetition_penalty": 1.0,
    "encoder_no_repeat_ngram_size": 0, "suppress_tokens": None, "begin_suppress_tokens": None,
    "exponential_decay_length_penalty": None, "renormalize_logits": False,
    "watermarking_config": None, "stop_strings": None, "max_time": None, "dola_layers": None, "prompt_lookup_num_tokens": None,
    "assistant_early_exit": None, "token_healing": False, "use_mtp": False,
    # generate() arguments of transformers outside the config
    "streamer": None, "assistant_model": None, "prefix_allowed_tokens_fn": None, "stopping_criteria": None,
    "negative_prompt_ids": None, "negative_prompt_attention_mask": None, "custom_generate": None,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _token_list(value: Any) -> list[int] | None:
    """A token id or list/tuple/1-D tensor of ids as a list of ints, or None if it is not one."""
    if _is_int(value):
        return [value]
    if hasattr(value, "tolist") and getattr(value, "ndim", 1) <= 1:
        value = value.tolist()
        value = [value] if _is_int(value) else value
    if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
        return list(value)
    return None


def _check_token_ids(name: str, value: Any, allow_list: bool) -> None:
    ids = _token_list(value)
    what = "a non-negative token id" + (" or a non-empty list of them" if allow_list else "")
    if ids is None or (not allow_list and not _is_int(value)) or any(i < 0 for i in ids):
        raise GenerationError(f"{name} must be {what}, got {value!r}")


def check_option(name: str, value: Any) -> None:
    """Range check of one option (None always passes: it means 'not set')."""
    if value is None:
        return
    if name in ("max_length", "max_new_tokens", "num_beams", "num_return_sequences"):
        if not _is_int(value) or value < 1:
            raise GenerationError(f"{name} must be an integer >= 1, got {value!r}")
    elif name in ("min_length", "min_new_tokens", "no_repeat_ngram_size", "top_k"):
        if not _is_int(value) or value < 0:
            raise GenerationError(f"{name} must be an integer >= 0, got {value!r}")
    elif name == "top_p":
        if not _is_number(value) or not 0.0 < value <= 1.0:
            raise GenerationError(f"top_p must be a number in (0, 1], got {value!r}")
    elif name == "temperature":
        # 0 is accepted here (transformers ignores temperature without sampling); generate() wants > 0 to sample
        if not _is_number(value) or not math.isfinite(value) or value < 0.0:
            raise GenerationError(f"temperature must be a finite number > 0, got {value!r}")
    elif name == "repetition_penalty":
        if not _is_number(value) or not value > 0.0:
            raise GenerationError(f"repetition_penalty must be a number > 0 (1.0 = off), got {value!r}")
    elif name == "length_penalty":
        if not _is_number(value) or not math.isfinite(value):
            raise GenerationError(f"length_penalty must be a finite number, got {value!r}")
    elif name == "early_stopping":
        if value not in (True, False, "never") or not isinstance(value, (bool, str)):
            raise GenerationError(f"early_stopping must be True, False or 'never', got {value!r}")
    elif name in ("do_sample", "use_cache", "output_scores", "output_logits", "return_dict_in_generate",
                  "prune_finished", "output_attentions", "output_hidden_states", "remove_invalid_values"):
        if not isinstance(value, bool):
            raise GenerationError(f"{name} must be True or False, got {value!r}")
    elif name in ("pad_token_id", "eos_token_id") and _token_list(value) == [-1]:
        return  # transformers' "no such token": never stop (eos), or -1 as the filler (pad)
    elif name in ("pad_token_id", "bos_token_id", "forced_eos_token_id", "eos_token_id"):
        _check_token_ids(name, value, allow_list=name in ("eos_token_id", "forced_eos_token_id"))
    elif name in ("forced_bos_token_id", "decoder_start_token_id"):
        # one id for the whole batch, or one per row (a list or 1-D tensor)
        _check_token_ids(name, value, allow_list=True)
    elif name == "bad_words_ids":
        ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
            isinstance(seq, (list, tuple)) and len(seq) > 0 and all(_is_int(t) and t >= 0 for t in seq) for seq in value
        )
        if not ok:
            raise GenerationError(
                f"bad_words_ids must be a non-empty list of non-empty lists of non-negative token ids, got {value!r}"
            )


@dataclass
class GenerationConfig:
    """Decoding options with transformers' names and meaning; None means 'not set, use the default'."""

    # length
    max_length: int | None = None  # whole decoder sequence, start token included
    max_new_tokens: int | None = None  # wins over max_length
    min_length: int | None = None
    min_new_tokens: int | None = None  # wins over min_length
    # strategy
    do_sample: bool | None = None
    num_beams: int | None = None
    early_stopping: bool | str | None = None  # True, False or "never"
    length_penalty: float | None = None  # beam score = sum logprob / length ** length_penalty
    num_return_sequences: int | None = None
    use_cache: bool | None = None
    # logits processing
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    bad_words_ids: list[list[int]] | None = None
    forced_bos_token_id: Any = None  # int, or one id per input row (list / 1-D tensor): a target language per row
    forced_eos_token_id: int | list[int] | None = None
    # output
    output_scores: bool | None = None
    output_logits: bool | None = None
    output_attentions: bool | None = None  # per step, per layer: decoder self- and cross-attention (and encoder's)
    output_hidden_states: bool | None = None  # per step: embeddings + every layer's output (and the encoder's)
    remove_invalid_values: bool | None = None  # NaN -> 0, +-inf -> largest finite, before the caller's processors
    return_dict_in_generate: bool | None = None
    # special tokens
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    decoder_start_token_id: Any = None  # int, or one per input row
    # Not in transformers: drop rows (greedy/sampling) and whole beam groups (beam search) from the decoder batch
    # once they are finished. Same token ids; off gives bit-identical arithmetic to a full-batch decoder.
    prune_finished: bool | None = None
    # keys we do not interpret (transformers_version, _from_model_config, ...), kept for round trips
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # every assignment is checked, the dataclass __init__ included
        check_option(name, value)
        super().__setattr__(name, value)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "extra")

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> GenerationConfig:
        merged = {**data, **overrides}
        names = set(cls.field_names())
        known = {k: v for k, v in merged.items() if k in names}
        extra = {k: v for k, v in merged.items() if k not in names and k != "extra"}
        extra.update(merged.get("extra") or {})
        return cls(**known, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> GenerationConfig:
        data = read_json_object(path, "generation config")
        return cls.from_dict(data)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, config_file_name: str = GENERATION_CONFIG_NAME, **kwargs: Any
    ) -> GenerationConfig:
        """Read generation_config.json from a local directory or a hub id; extra kwargs override its values."""
        from ..hub import resolve_file

        hub = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only", "subfolder")
               if k in kwargs}
        config = cls.from_json_file(resolve_file(name_or_path, config_file_name, **hub))
        unused = config.update(**kwargs)
        config.extra.update(unused)
        return config

    @classmethod
    def from_model_config(cls, model_config: Any) -> GenerationConfig:
        """Defaults from an architecture config: its special tokens plus the generation keys of an old config.json."""
        data: dict[str, Any] = {}
        for name in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "use_cache"):
            value = getattr(model_config, name, None)
            if value is not None:
                data[name] = value
        defaults = model_config.generation_defaults() if hasattr(model_config, "generation_defaults") else {}
        data.update({k: v for k, v in defaults.items() if v is not None})
        data["_from_model_config"] = True
        return cls.from_dict(data)

    # -- updating ------------------------------------------------------------------------------------
    def update(self, defaults_only: bool = False, **kwargs: Any) -> dict[str, Any]:
        """Set the options among `kwargs` (with defaults_only, only those still unset); return the others
        (like transformers' GenerationConfig.update)."""
        names = set(self.field_names())
        for key, value in kwargs.items():
            if key in names and not (defaults_only and getattr(self, key) is not None):
                setattr(self, key, value)
        return {k: v for k, v in kwargs.items() if k not in names}

    def _get_default_generation_params(self) -> dict[str, Any]:
        """transformers' fallbacks for unset options (what Seq2SeqTrainer fills in with update(defaults_only=True))."""
        return {k: copy.deepcopy(v) for k, v in GLOBAL_DEFAULTS.items() if k != "prune_finished"}

    @property
    def _from_model_config(self) -> bool:
        """Whether these defaults were derived from the model config (transformers writes it to the JSON)."""
        return bool(self.extra.get("_from_model_config", False))

    @_from_model_config.setter
    def _from_model_config(self, value: bool) -> None:
        self.extra["_from_model_config"] = bool(value)

    def fill_unset(self, values: dict[str, Any]) -> None:
        """Set the options that are still None from `values` (lower-priority defaults)."""
        for key, value in values.items():
            if key in self.field_names() and getattr(self, key) is None and value is not None:
                setattr(self, key, copy.deepcopy(value))

    def copy(self) -> GenerationConfig:
        return copy.deepcopy(self)

    # -- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The options that are set (plus the kept unknown keys), JSON-ready."""
        out: dict[str, Any] = dict(self.extra)
        for name in self.field_names():
            value = getattr(self, name)
            if value is None:
                continue
            if hasattr(value, "tolist"):  # a per-row tensor
                value = value.tolist()
            out[name] = value
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        from ..hub import atomic_write_text

        atomic_write_text(Path(path), self.to_json_string())

    def save_pretrained(self, save_directory: str | os.PathLike, config_file_name: str = GENERATION_CONFIG_NAME) -> None:
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.to_json_file(directory / config_file_name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenerationConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"GenerationConfig {self.to_json_string()}"


def load_generation_config(name_or_path: str | os.PathLike, model_config: Any, **hub: Any) -> GenerationConfig:
    """What transformers uses as a checkpoint's generation defaults.

    generation_config.json when the checkpoint has one; otherwise the model config's special tokens and the
    generation keys an old config.json carries (facebook/m2m100_418M: num_beams=5, max_length=200, early_stopping).
    """
    from ..hub import resolve_file

    path = resolve_file(name_or_path, GENERATION_CONFIG_NAME, required=False, **hub)
    if path is not None:
        return GenerationConfig.from_json_file(path)
    return GenerationConfig.from_model_config(model_config)
