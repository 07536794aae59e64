"""M2M100Config: the architecture as a typed dataclass; Hugging Face `config.json` is translated at the edge."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONFIG_NAME = "config.json"

# Names transformers accepts as synonyms of our fields (its `attribute_map`).
ALIASES = {
    "hidden_size": "d_model",
    "num_attention_heads": "encoder_attention_heads",
    "num_hidden_layers": "encoder_layers",
}

# Keys old hub configs carry that belong to generation, not the architecture. They are kept (in `extra`)
# so that generation can take its defaults from them, as transformers does.
GENERATION_KEYS = (
    "num_beams", "max_length", "min_length", "early_stopping", "length_penalty", "no_repeat_ngram_size",
    "repetition_penalty", "num_return_sequences", "do_sample", "temperature", "top_k", "top_p",
    "forced_bos_token_id", "forced_eos_token_id", "bad_words_ids", "max_new_tokens", "min_new_tokens",
)

ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


@dataclass
class _ConfigFields:
    vocab_size: int = 128112  # sentencepiece pieces + 4 specials + 100 language tokens + 8 filler tokens
    max_position_embeddings: int = 1024  # longest sequence, in tokens, special tokens included
    encoder_layers: int = 12
    encoder_ffn_dim: int = 4096
    encoder_attention_heads: int = 16
    decoder_layers: int = 12
    decoder_ffn_dim: int = 4096
    decoder_attention_heads: int = 16
    encoder_layerdrop: float = 0.05  # probability of skipping a whole layer, training only
    decoder_layerdrop: float = 0.05
    use_cache: bool = True
    is_encoder_decoder: bool = True
    activation_function: str = "relu"
    d_model: int = 1024
    dropout: float = 0.1  # on embeddings and every residual branch
    attention_dropout: float = 0.1  # on attention probabilities
    activation_dropout: float = 0.0  # inside the FFN, after the activation
    init_std: float = 0.02
    decoder_start_token_id: int | None = 2  # M2M100 starts decoding with </s>
    scale_embedding: bool = True  # multiply token embeddings by sqrt(d_model)
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | None = 2
    tie_word_embeddings: bool = True
    # Unknown keys from a config.json, kept so that save_pretrained writes them back unchanged.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(_ConfigFields) if f.name != "extra")
_ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu", "swish", "tanh")


class M2M100Config(_ConfigFields):
    """Architecture hyper-parameters of M2M100 (defaults: facebook/m2m100_418M).

    Accepts the same keyword arguments as transformers' M2M100Config, including aliases such as
    `hidden_size`; keys it does not know are kept in `extra` and written back by `save_pretrained`.
    """

    model_type = "m2m_100"

    def __init__(self, **kwargs: Any):
        known: dict[str, Any] = {}
        extra: dict[str, Any] = dict(kwargs.pop("extra", None) or {})
        for key, value in kwargs.items():
            key = ALIASES.get(key, key)
            if key in _FIELD_NAMES:
                known[key] = value
            elif key != "model_type":
                extra[key] = value
        super().__init__(**known, extra=extra)
        self._attn_implementation = extra.pop("_attn_implementation", None) or extra.pop("attn_implementation", None) or "sdpa"
        self.validate()

    # -- aliases -----------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_attention_heads(self) -> int:
        return self.encoder_attention_heads

    @property
    def num_hidden_layers(self) -> int:
        return self.encoder_layers

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not real attributes: expose kept keys (e.g. `num_beams`
        # of an old hub config) the way transformers' config objects do.
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # -- validation --------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError naming the first invalid value."""
        for name in ("vocab_size", "max_position_embeddings", "d_model", "encoder_attention_heads",
                     "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("encoder_layers", "decoder_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        for heads_name in ("encoder_attention_heads", "decoder_attention_heads"):
            heads = getattr(self, heads_name)
            if self.d_model % heads:
                raise ConfigError(f"d_model ({self.d_model}) must be divisible by {heads_name} ({heads})")
        for name in ("dropout", "attention_dropout", "activation_dropout", "encoder_layerdrop", "decoder_layerdrop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.activation_function not in _ACTIVATIONS:
            raise ConfigError(f"activation_function must be one of {_ACTIVATIONS}, got {self.activation_function!r}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")
        if self._attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ConfigError(
                f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got {self._attn_implementation!r}"
            )

    # -- (de)serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config.json content: our fields, then every kept unknown key."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _FIELD_NAMES}
        out.update(self.extra)
        out["model_type"] = self.model_type
        out.setdefault("architectures", ["M2M100ForConditionalGeneration"])
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "M2M100Config":
        """Build from a config.json dictionary; `overrides` win."""
        model_type = data.get("model_type")
        if model_type not in (None, cls.model_type):
            raise ConfigError(f"config has model_type {model_type!r}, expected {cls.model_type!r}")
        merged = {**data, **overrides}
        merged.pop("model_type", None)
        return cls(**merged)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "M2M100Config":
        from .hub import read_json_object

        data = read_json_object(path, "config file")
        return cls.from_dict(data)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> "M2M100Config":
        """Read config.json from a local directory (or file) or a hub id."""
        from .hub import resolve_file

        hub_kwargs = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
        path = resolve_file(name_or_path, CONFIG_NAME, **hub_kwargs)
        config = cls.from_json_file(path)
        for key, value in kwargs.items():
            setattr(config, ALIASES.get(key, key), value)
        config.validate()
        return config

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        directory = Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise ConfigError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        from .hub import atomic_write_text

        atomic_write_text(directory / CONFIG_NAME, self.to_json_string())

    def generation_defaults(self) -> dict[str, Any]:
        """Generation keys an old-style config.json carries (e.g. num_beams=5 for m2m100_418M)."""
        return {k: self.extra[k] for k in GENERATION_KEYS if k in self.extra}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, M2M100Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in _FIELD_NAMES)
        return f"M2M100Config({fields})"
