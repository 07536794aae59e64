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


def check_attn_implementation(impl: str) -> None:
    """Fail early, naming what is missing, when an attention backend cannot run here (ConfigError)."""
    if impl not in ATTN_IMPLEMENTATIONS:
        raise ConfigError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, got {impl!r}")
    if impl == "flash_attention_2":
        import torch  # only for this check: the config itself needs no torch

        if not torch.cuda.is_available():
            raise ConfigError("attn_implementation='flash_attention_2' needs a CUDA GPU; none is available")
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            raise ConfigError(
                "attn_implementation='flash_attention_2' needs the flash-attn package (pip install flash-attn)"
            ) from None


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
    # What forward() returns when the call does not say (transformers' config-level switches).
    output_attentions: bool = False
    output_hidden_states: bool = False
    return_dict: bool = True
    # Class names of a classification head (unused by translation; kept so configs round-trip like transformers').
    id2label: dict[int, str] = field(default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"})
    label2id: dict[str, int] = field(default_factory=lambda: {"LABEL_0": 0, "LABEL_1": 1})
    # Unknown keys from a config.json, kept so that save_pretrained writes them back unchanged.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(_ConfigFields) if f.name != "extra")
# Values a transformers config has whatever the model: `to_diff_dict` leaves them out when unchanged.
_BASE_DEFAULTS = {
    "output_attentions": False, "output_hidden_states": False, "return_dict": True,
    "id2label": {0: "LABEL_0", 1: "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "architectures": None, "problem_type": None, "chunk_size_feed_forward": 0,
}
_ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu", "swish", "tanh")
# Upper bounds on sizes, checked before any tensor is allocated. Each is far above any released M2M100/NLLB
# model (418M: 12 layers, d_model 1024, 128k vocabulary, 1024 positions; NLLB-3.3B: 24 layers, d_model 2048,
# 256k vocabulary) and low enough that one value alone cannot ask for terabytes.
SIZE_LIMITS = {
    "vocab_size": 1 << 21,  # 2M pieces
    "max_position_embeddings": 1 << 16,  # 65,536 positions: the sinusoidal table stays under 2 GB
    "d_model": 1 << 14,
    "encoder_ffn_dim": 1 << 16,
    "decoder_ffn_dim": 1 << 16,
    "encoder_attention_heads": 1 << 10,
    "decoder_attention_heads": 1 << 10,
    "encoder_layers": 256,
    "decoder_layers": 256,
}


class M2M100Config(_ConfigFields):
    """Architecture hyper-parameters of M2M100 (defaults: facebook/m2m100_418M).

    Accepts the same keyword arguments as transformers' M2M100Config, including aliases such as
    `hidden_size`; keys it does not know are kept in `extra` and written back by `save_pretrained`.
    """

    model_type = "m2m_100"

    def __init__(self, **kwargs: Any):
        known: dict[str, Any] = {}
        extra: dict[str, Any] = dict(kwargs.pop("extra", None) or {})
        num_labels = kwargs.pop("num_labels", None)
        if "torch_dtype" in kwargs and "dtype" not in kwargs:  # the 4.x name
            kwargs["dtype"] = kwargs.pop("torch_dtype")
        if "dtype" in kwargs:
            kwargs["dtype"] = _dtype_name(kwargs["dtype"])
        for key, value in kwargs.items():
            key = ALIASES.get(key, key)
            if key in _FIELD_NAMES:
                known[key] = value
            elif key != "model_type":
                extra[key] = value
        if "id2label" in known and known["id2label"] is not None:  # JSON object keys are strings
            known["id2label"] = {int(k): v for k, v in known["id2label"].items()}
            known.setdefault("label2id", {v: k for k, v in known["id2label"].items()})
        super().__init__(**known, extra=extra)
        self._attn_implementation = extra.pop("_attn_implementation", None) or extra.pop("attn_implementation", None) or "sdpa"
        if num_labels is not None:
            self.num_labels = num_labels
        self.validate()

    def __setattr__(self, name: str, value: Any) -> None:
        # As on a transformers config, setting a key the architecture does not know keeps it (and
        # save_pretrained writes it): such keys live in `extra`.
        if name == "torch_dtype":
            name = "dtype"
        if name == "dtype":
            self.__dict__.setdefault("extra", {})["dtype"] = _dtype_name(value)
            return
        if (not name.startswith("_") and name not in _FIELD_NAMES and name != "extra"
                and not hasattr(type(self), name) and "extra" in self.__dict__):
            self.extra[name] = value
            return
        super().__setattr__(name, value)

    # -- transformers' derived attributes ------------------------------------------------------------
    @property
    def dtype(self):
        """The stored weights' dtype as a torch.dtype (config.json keeps its name), or None when unknown."""
        name = self.extra.get("dtype") or self.extra.get("torch_dtype")
        if name is None:
            return None
        import torch

        value = getattr(torch, str(name).removeprefix("torch."), None)
        return value if isinstance(value, torch.dtype) else name

    torch_dtype = dtype

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"num_labels must be a positive integer, got {value!r}")
        if self.id2label is None or len(self.id2label) != value:
            self.id2label = {i: f"LABEL_{i}" for i in range(value)}
            self.label2id = {label: i for i, label in self.id2label.items()}

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    def __iter__(self):
        """The config's keys, as in transformers (`for key in config`, `key in config`)."""
        return iter(self.to_dict())

    def __contains__(self, key: object) -> bool:
        return key in self.to_dict()

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
        for name, limit in SIZE_LIMITS.items():
            value = getattr(self, name)
            if value > limit:
                raise ConfigError(
                    f"{name} is {value:,}, above the supported maximum of {limit:,} (a corrupt or hostile "
                    f"config.json would otherwise allocate memory without bound)"
                )
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

    def to_diff_dict(self) -> dict[str, Any]:
        """to_dict() without the values every transformers config has by default (what its to_diff_dict drops)."""
        return {k: v for k, v in self.to_dict().items() if k not in _BASE_DEFAULTS or _BASE_DEFAULTS[k] != v}

    def to_json_string(self, use_diff: bool = False) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = False) -> None:
        """Write the config as JSON (atomically); use_diff=True leaves out transformers' base defaults."""
        from .hub import atomic_write_text

        atomic_write_text(Path(json_file_path), self.to_json_string(use_diff=use_diff))

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> "M2M100Config":
        """Build from a config.json dictionary; `overrides` win."""
        model_type = data.get("model_type")
        if model_type not in (None, cls.model_type):
            raise ConfigError(_unsupported_architecture(f"model_type {model_type!r}", model_type))
        architectures = data.get("architectures")
        if model_type is None and isinstance(architectures, list):
            foreign = [a for a in architectures if not (isinstance(a, str) and a.startswith("M2M100"))]
            if foreign:
                raise ConfigError(_unsupported_architecture(f"architectures {foreign!r}", str(foreign[0])))
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

        hub_kwargs = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only", "subfolder")
                      if k in kwargs}
        kwargs.pop("trust_remote_code", None)
        return_unused = kwargs.pop("return_unused_kwargs", False)
        path = resolve_file(name_or_path, CONFIG_NAME, **hub_kwargs)
        config = cls.from_json_file(path)
        for key, value in kwargs.items():
            setattr(config, ALIASES.get(key, key), value)
        config.validate()
        return (config, {}) if return_unused else config

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


def _unsupported_architecture(what: str, name: str) -> str:
    """The ConfigError message for a config.json of another architecture; NLLB-MoE gets its own words because its
    tokenizer (NllbTokenizer) is one this package has, so users expect the model to load too."""
    supported = ("this package runs dense M2M100 and NLLB-200 checkpoints (model_type 'm2m_100', "
                 "M2M100ForConditionalGeneration)")
    if "moe" in name.casefold():
        return (f"config.json has {what}: NLLB-MoE (mixture-of-experts, e.g. facebook/nllb-moe-54b) is not "
                f"supported; {supported}, such as facebook/nllb-200-distilled-600M")
    return f"config.json has {what}, an architecture this package does not support; {supported}"


def _dtype_name(value: Any) -> Any:
    """'float16' for torch.float16 (or 'torch.float16'): config.json stores dtypes by name."""
    if value is None or isinstance(value, str):
        return None if value is None else value.removeprefix("torch.")
    return str(value).removeprefix("torch.")
