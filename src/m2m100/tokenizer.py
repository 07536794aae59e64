"""M2M100Tokenizer: sentencepiece pieces mapped through the checkpoint's vocab.json, plus language tokens.

Model ids are not sentencepiece ids. `vocab.json` (fairseq's dictionary) gives the id of each piece; pieces it
lacks become `<unk>`. After the dictionary come the language tokens `__xx__` (id `len(vocab.json) + index` in
the code set's order) and then `num_madeup_words` filler ids, which the model's embedding matrix also has.

Sequences are `[lang_id] tokens </s>`: the source language in source mode, the target language for
`text_target=` (labels). Outputs are token-identical to transformers' M2M100Tokenizer loaded from the same
files; the deliberate differences are listed in `M2M100Tokenizer`'s docstring.

Batches are encoded with sentencepiece's batch API (C++, multithreaded) and one numpy lookup from
sentencepiece ids to model ids, so no Python code runs per token.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections import UserDict
from collections.abc import Iterable, Mapping
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, ConfigError
from .hub import read_json_object
from .languages import (
    FAIRSEQ_LANGUAGE_CODES,
    LANGUAGE_NAMES,
    unsupported_language_error,
)

logger = logging.getLogger(__name__)

VOCAB_FILES_NAMES = {
    "vocab_file": "vocab.json",
    "spm_file": "sentencepiece.bpe.model",
    "tokenizer_config_file": "tokenizer_config.json",
}
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

# transformers' sentinels: a model_max_length above LARGE_INTEGER means "no limit known".
VERY_LARGE_INTEGER = int(1e30)
LARGE_INTEGER = int(1e20)

_NAMED_SPECIALS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token")
_PADDINGS = ("longest", "max_length", "do_not_pad")
_TRUNCATIONS = ("only_first", "only_second", "longest_first", "do_not_truncate")
_THREADED_BATCH = 1024  # batches with at least this many texts are encoded with several threads


# --------------------------------------------------------------------------------------------------------------
# BatchEncoding
# --------------------------------------------------------------------------------------------------------------


class BatchEncoding(UserDict):
    """What the tokenizer returns: a dict of `input_ids`, `attention_mask` (and `labels`, ...).

    It is a mapping, so `model(**encoding)` works; keys are also attributes (`encoding.input_ids`);
    `.to(device)` moves tensors; `encoding[1:3]` slices every field.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, tensor_type: str | None = None,
                 prepend_batch_axis: bool = False):
        super().__init__(data)
        self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getitem__(self, item):
        if isinstance(item, str):
            return self.data[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.data.items()}
        raise KeyError(f"index a BatchEncoding with a field name or a slice, not {type(item).__name__}")

    def __getattr__(self, item: str):
        if item.startswith("__") or item == "data":
            raise AttributeError(item)
        try:
            return self.data[item]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {item!r}") from None

    def __getstate__(self):
        return {"data": self.data}

    def __setstate__(self, state):
        self.data = state["data"]

    @property
    def is_fast(self) -> bool:
        return False

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> BatchEncoding:
        """Turn every field into a torch tensor ("pt") or a numpy array ("np"); None leaves python lists."""
        kind = _tensor_kind(tensor_type)
        if kind is None:
            return self
        for key, value in list(self.data.items()):
            if prepend_batch_axis:
                value = [value]
            self.data[key] = _as_tensor(key, value, kind)
        return self

    def to(self, device, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every tensor field to `device` (a string, torch.device or index); returns self."""
        import torch

        if not isinstance(device, (str, int, torch.device)):
            raise TypeError(f"BatchEncoding.to() takes a device, not {type(device).__name__}; it does not cast dtypes")
        self.data = {
            key: value.to(device=device, non_blocking=non_blocking) if isinstance(value, torch.Tensor) else value
            for key, value in self.data.items()
        }
        return self


def _tensor_kind(tensor_type) -> str | None:
    if tensor_type is None:
        return None
    value = getattr(tensor_type, "value", tensor_type)
    if value in ("pt", "torch", "pytorch"):
        return "pt"
    if value in ("np", "numpy"):
        return "np"
    raise ValueError(f"return_tensors must be 'pt', 'np' or None, not {tensor_type!r}")


def _as_tensor(key: str, value, kind: str):
    if kind == "pt":
        import torch

        if isinstance(value, torch.Tensor):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise _ragged_error(key)
            return torch.from_numpy(value)
        array = _regular_array(key, value)
        if array is None:
            raise _ragged_error(key)
        return torch.from_numpy(array)
    if isinstance(value, np.ndarray):
        return value
    array = _regular_array(key, value)
    if array is None:  # ragged rows: an object array of 1-d arrays, as transformers returns
        array = np.empty(len(value), dtype=object)
        for i, row in enumerate(value):
            array[i] = np.asarray(row, dtype=np.int64)
    return array


def _regular_array(key: str, value) -> np.ndarray | None:
    """An int64 array of `value` (nested lists of ints), or None when its rows differ in length."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        if len({len(row) for row in value}) > 1:
            return None
    try:
        array = np.asarray(value)
    except ValueError:
        return None
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype == object:
        return None
    if array.dtype.kind == "b":
        return array.astype(np.int64)
    return array


def _ragged_error(key: str) -> ValueError:
    return ValueError(
        f"cannot make a tensor of `{key}`: its sequences have different lengths. Pass padding=True (or "
        "padding='max_length' with max_length=...) and truncation=True to get rectangular batches."
    )


# --------------------------------------------------------------------------------------------------------------
# Loading helpers
# --------------------------------------------------------------------------------------------------------------


def _load_vocab(path: str | os.PathLike) -> dict[str, int]:
    name = Path(path).name
    try:
        with open(path, encoding="utf-8") as handle:
            vocab = json.load(handle)
    except FileNotFoundError:
        raise CheckpointError(f"vocabulary file {name} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"vocabulary file {name} is not valid JSON ({path}): {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read vocabulary file {name} ({path}): {exc}") from None
    if not isinstance(vocab, dict) or not vocab:
        raise CheckpointError(f"vocabulary file {name} must be a non-empty JSON object of token -> id ({path})")
    for token, index in vocab.items():
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise CheckpointError(
                f"vocabulary file {name} maps {token!r} to {index!r}; ids must be non-negative integers ({path})"
            )
    return vocab


def _load_spm_bytes(path: str | os.PathLike) -> bytes:
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"sentencepiece model {name} not found: {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read sentencepiece model {name} ({path}): {exc}") from None
    if not data:
        raise CheckpointError(f"sentencepiece model {name} is empty ({path})")
    return data


def _make_spm(data: bytes, kwargs: Mapping[str, Any], name: str = "sentencepiece.bpe.model"):
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(**dict(kwargs))
    try:
        ok = processor.LoadFromSerializedProto(data)
    except Exception as exc:  # sentencepiece raises RuntimeError (or OSError) on a bad proto
        raise CheckpointError(f"sentencepiece model {name} is corrupt or not a sentencepiece model: {exc}") from None
    if ok is False or processor.get_piece_size() == 0:
        raise CheckpointError(f"sentencepiece model {name} is corrupt or not a sentencepiece model")
    return processor


def _token_str(value) -> str | None:
    """A special token from a config file: a string, or a serialized AddedToken dict."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str):
        value = str(value)
    return value


def _read_json_config(path: Path | None) -> dict:
    if path is None:
        return {}
    data = read_json_object(path, Path(path).name)
    return data


def _safe_file_name(value, what: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise CheckpointError(f"{what} must be a file name inside the model directory, got {value!r}")
    path = Path(value)
    if path.is_absolute() or ".." in path.parts or str(value).startswith("~"):
        raise CheckpointError(
            f"refusing {what} {str(value)!r}: it points outside the model directory (use a plain file name)"
        )
    return path.as_posix()


def _to_py(obj):
    """Token ids from a tensor, an array, numpy scalars or (nested) lists, as python ints and lists."""
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "tolist") and not isinstance(obj, (list, tuple)):
        return obj.tolist()  # torch.Tensor, np.ndarray, numpy scalars
    if isinstance(obj, (list, tuple)):
        return [_to_py(x) for x in obj]
    return obj


# --------------------------------------------------------------------------------------------------------------
# The tokenizer
# --------------------------------------------------------------------------------------------------------------


class M2M100Tokenizer:
    """Tokenizer of M2M100 checkpoints, a drop-in for transformers' `M2M100Tokenizer`.

    Arguments are those of transformers: `vocab_file` (vocab.json), `spm_file` (the sentencepiece model),
    `src_lang` (default "en"), `tgt_lang`, the special tokens, `language_codes` ("m2m100" or "wmt21"),
    `sp_model_kwargs` (passed to `sentencepiece.SentencePieceProcessor`, e.g. for subword sampling),
    `num_madeup_words`, `model_max_length`, `clean_up_tokenization_spaces`, `padding_side`, `truncation_side`.

    Deliberate differences from transformers 5.23 (where it crashes or does something useless):
    - Language tokens are always special tokens. transformers makes them special only when the files list them
      (`additional_special_tokens` in special_tokens_map.json, as every hub checkpoint has); without that list
      it decodes `__fr__` even with skip_special_tokens=True and sentencepiece-splits `__fr__` in text.
    - Unknown language codes raise LanguageError (a ValueError) naming the code and suggesting close ones,
      instead of a bare KeyError; `tgt_lang` is checked when set; `src_lang` is not left broken by a bad value.
    - `text_target=` without a `tgt_lang` raises a ValueError that says so, not `KeyError: None`.
    - An empty batch gives empty outputs instead of a ValueError; `batch_decode([])` gives `[]`, not `[""]`.
    - Pickling does not need the sentencepiece file to still exist (the model is pickled, not its path).
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"

    # ---------------------------------------------------------------------------------------------------------
    # Construction and loading
    # ---------------------------------------------------------------------------------------------------------

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        spm_file: str | os.PathLike,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        sep_token: str = "</s>",
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        language_codes: str = "m2m100",
        sp_model_kwargs: dict[str, Any] | None = None,
        num_madeup_words: int = 8,
        model_max_length: int | None = None,
        clean_up_tokenization_spaces: bool = False,
        padding_side: str = "right",
        truncation_side: str = "right",
        additional_special_tokens: Iterable[str] | None = None,
        split_special_tokens: bool = False,
        name_or_path: str = "",
        **kwargs,
    ) -> None:
        if language_codes not in FAIRSEQ_LANGUAGE_CODES:
            raise ConfigError(
                f"language_codes must be one of {sorted(FAIRSEQ_LANGUAGE_CODES)}, not {language_codes!r}"
            )
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        if truncation_side not in ("left", "right"):
            raise ValueError(f"truncation_side must be 'left' or 'right', not {truncation_side!r}")
        if "extra_special_tokens" in kwargs and additional_special_tokens is None:
            extra = kwargs.pop("extra_special_tokens")
            additional_special_tokens = extra if isinstance(extra, (list, tuple)) else None
        self.init_kwargs = dict(kwargs)  # unknown options (from configs written by other tools) are kept, unused

        self.vocab_file = str(vocab_file)
        self.spm_file = str(spm_file)
        self.language_codes = language_codes
        self.sp_model_kwargs = dict(sp_model_kwargs or {})
        self.num_madeup_words = int(num_madeup_words)
        self.model_max_length = int(model_max_length) if model_max_length is not None else VERY_LARGE_INTEGER
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.split_special_tokens = bool(split_special_tokens)
        self.name_or_path = str(name_or_path)

        self.encoder: dict[str, int] = _load_vocab(vocab_file)
        self.decoder: dict[int, str] = {index: token for token, index in self.encoder.items()}
        self.encoder_size = len(self.encoder)
        self._spm_bytes = _load_spm_bytes(spm_file)

        codes = FAIRSEQ_LANGUAGE_CODES[language_codes]
        self.lang_code_to_token = {code: f"__{code}__" for code in codes}
        self.lang_token_to_id = {f"__{code}__": self.encoder_size + i for i, code in enumerate(codes)}
        self.lang_code_to_id = {code: self.encoder_size + i for i, code in enumerate(codes)}
        self.id_to_lang_token = {index: token for token, index in self.lang_token_to_id.items()}

        self._special_tokens_map = {
            "bos_token": _token_str(bos_token), "eos_token": _token_str(eos_token),
            "unk_token": _token_str(unk_token), "sep_token": _token_str(sep_token),
            "pad_token": _token_str(pad_token),
        }
        if self._special_tokens_map["unk_token"] not in self.encoder:
            raise CheckpointError(
                f"vocabulary file {Path(vocab_file).name} has no entry for the unknown token "
                f"{self._special_tokens_map['unk_token']!r} ({vocab_file})"
            )
        self._extra_special_tokens = self._choose_extra_specials(additional_special_tokens)
        self._build_special_tables()

        self._setup_spm()

        self._warned_too_long = False
        self._src_lang = "en"
        self._tgt_lang = None
        self.src_lang = src_lang if src_lang is not None else "en"
        self.tgt_lang = tgt_lang

    def _choose_extra_specials(self, given: Iterable[str] | None) -> list[str]:
        """The language tokens plus any listed extra special tokens that the vocabulary has."""
        extras: list[str] = []
        other_sets = {f"__{code}__" for codes in FAIRSEQ_LANGUAGE_CODES.values() for code in codes}
        ignored: list[str] = []
        for token in given or []:
            token = _token_str(token)
            if token is None or token in extras:
                continue
            if token in self.lang_token_to_id or token in self.encoder:
                extras.append(token)
            elif token not in other_sets:  # another code set's language tokens are expected; skip quietly
                ignored.append(token)
        if ignored:
            logger.warning("ignoring %d extra special token(s) not in the vocabulary: %s", len(ignored), ignored[:10])
        for token in self.lang_token_to_id:
            if token not in extras:
                extras.append(token)
        return extras

    def _build_special_tables(self) -> None:
        added: dict[str, int] = {}
        for attr in _NAMED_SPECIALS:
            token = self._special_tokens_map[attr]
            if token is None or token in added:
                continue
            if token in self.lang_token_to_id:
                added[token] = self.lang_token_to_id[token]
            elif token in self.encoder:
                added[token] = self.encoder[token]
            else:
                raise ConfigError(f"special token {attr}={token!r} is not in the vocabulary; adding tokens is not supported")
        for token in self._extra_special_tokens:
            if token not in added:
                added[token] = self.lang_token_to_id.get(token, self.encoder.get(token))
        self._added_encoder = added
        self._added_decoder = {index: token for token, index in added.items()}
        self._all_special_ids_set = frozenset(added.values())
        # Text is split on special tokens before sentencepiece; the longest token wins where several match.
        ordered = sorted(added, key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(token) for token in ordered)) if ordered else None
        self._special_first_chars = tuple(sorted({token[0] for token in added if token}))
        self._vocab_cache: dict[str, int] | None = None

    def _setup_spm(self) -> None:
        self.sp_model = _make_spm(self._spm_bytes, self.sp_model_kwargs, Path(self.spm_file).name)
        sp = self.sp_model
        size = sp.get_piece_size()
        pieces = [sp.id_to_piece(i) for i in range(size)]
        self._spm_to_model = np.fromiter((self._token_to_id(p) for p in pieces), dtype=np.int64, count=size)
        self._spm_unk = sp.unk_id()
        # Unknown characters come out of sentencepiece as their own text; transformers looks that text up in
        # vocab.json. Only a vocabulary with strings that are not sentencepiece pieces can tell the difference.
        piece_set = set(pieces)
        self._vocab_has_foreign = any(
            token not in piece_set and token not in self._added_encoder for token in self.encoder
        )
        try:  # sentencepiece >= 0.2.1 returns int32 arrays directly: no python int per token
            sp.encode([""], out_type="numpy")
            self._spm_numpy = True
        except Exception:
            self._spm_numpy = False

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *init_inputs,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        subfolder: str | None = None,
        **kwargs,
    ) -> M2M100Tokenizer:
        """Load from a local directory or a Hugging Face hub id (vocab.json, sentencepiece.bpe.model,
        tokenizer_config.json, special_tokens_map.json). Keyword arguments override the saved settings."""
        from .hub import resolve_file

        if init_inputs:
            raise TypeError("from_pretrained takes the model directory or hub id and keyword arguments only")
        for ignored in ("use_fast", "trust_remote_code", "force_download", "resume_download", "proxies",
                        "_from_auto", "_commit_hash", "legacy", "from_slow", "use_auth_token"):
            value = kwargs.pop(ignored, None)
            if ignored == "use_auth_token" and value is not None and token is None:
                token = value
        hub = dict(revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only)

        def fetch(filename: str, required: bool) -> Path | None:
            full = f"{subfolder.strip('/')}/{filename}" if subfolder else filename
            return resolve_file(pretrained_model_name_or_path, full, required=required, **hub)

        config = _read_json_config(fetch(TOKENIZER_CONFIG_FILE, required=False))
        tokens_map = _read_json_config(fetch(SPECIAL_TOKENS_MAP_FILE, required=False))

        vocab_name = _safe_file_name(
            kwargs.pop("vocab_file", None) or config.get("vocab_file") or VOCAB_FILES_NAMES["vocab_file"], "vocab_file"
        )
        spm_name = _safe_file_name(
            kwargs.pop("spm_file", None) or config.get("spm_file") or VOCAB_FILES_NAMES["spm_file"], "spm_file"
        )
        vocab_path = fetch(vocab_name, required=True)
        spm_path = fetch(spm_name, required=True)

        init: dict[str, Any] = {}
        for key in ("src_lang", "tgt_lang", "language_codes", "sp_model_kwargs", "num_madeup_words",
                    "model_max_length", "clean_up_tokenization_spaces", "padding_side", "truncation_side",
                    "split_special_tokens", *_NAMED_SPECIALS):
            if key in config and config[key] is not None:
                init[key] = config[key]
        extras: list[str] = []
        for source in (config, tokens_map):
            for key in ("additional_special_tokens", "extra_special_tokens"):
                value = source.get(key)
                if isinstance(value, (list, tuple)):
                    extras.extend(t for t in (_token_str(v) for v in value) if t and t not in extras)
        for key in _NAMED_SPECIALS:
            if tokens_map.get(key) is not None and key not in config:
                init[key] = tokens_map[key]
        decoder_entries = config.get("added_tokens_decoder")
        if isinstance(decoder_entries, dict):
            for entry in decoder_entries.values():
                if isinstance(entry, dict) and entry.get("special") and _token_str(entry) not in extras:
                    extras.append(_token_str(entry))
        named = {_token_str(init.get(k, d)) for k, d in zip(_NAMED_SPECIALS, ("<s>", "</s>", "<unk>", "</s>", "<pad>"))}
        init["additional_special_tokens"] = [t for t in extras if t not in named]
        init.update(kwargs)
        init.setdefault("name_or_path", str(pretrained_model_name_or_path))
        return cls(vocab_file=vocab_path, spm_file=spm_path, **init)

    # ---------------------------------------------------------------------------------------------------------
    # Saving and pickling
    # ---------------------------------------------------------------------------------------------------------

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str, str]:
        """Write vocab.json and the sentencepiece model into an existing directory; return their paths."""
        from .hub import atomic_write_bytes, atomic_write_text

        directory = Path(save_directory)
        if not directory.is_dir():
            raise OSError(f"{save_directory} should be a directory")
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        vocab_path = directory / (prefix + VOCAB_FILES_NAMES["vocab_file"])
        spm_path = directory / (prefix + VOCAB_FILES_NAMES["spm_file"])
        atomic_write_text(vocab_path, json.dumps(self.encoder, indent=2, ensure_ascii=False) + "\n")
        atomic_write_bytes(spm_path, self._spm_bytes)
        return str(vocab_path), str(spm_path)

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None,
                        **kwargs) -> tuple[str, ...]:
        """Write vocab.json, sentencepiece.bpe.model, tokenizer_config.json and special_tokens_map.json so that
        this class and transformers' M2M100Tokenizer both load the same tokenizer back."""
        from .hub import atomic_write_text

        if kwargs.pop("push_to_hub", False):
            raise NotImplementedError("push_to_hub is not supported; upload the saved directory with huggingface_hub")
        kwargs.pop("legacy_format", None)
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected keyword arguments: {sorted(kwargs)}")
        directory = Path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise OSError(f"{save_directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        prefix = f"{filename_prefix}-" if filename_prefix else ""

        extras = list(self._extra_special_tokens)
        flag = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        added_tokens_decoder = {
            str(index): {"content": token, **flag}
            for token, index in sorted(self._added_encoder.items(), key=lambda item: item[1])
        }
        config: dict[str, Any] = {
            "tokenizer_class": "M2M100Tokenizer",
            "added_tokens_decoder": added_tokens_decoder,
            "additional_special_tokens": extras,
            **self.special_tokens_map,
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
            "language_codes": self.language_codes,
            "num_madeup_words": self.num_madeup_words,
            "sp_model_kwargs": self.sp_model_kwargs,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
        }
        if self.model_max_length < LARGE_INTEGER:
            config["model_max_length"] = self.model_max_length
        tokens_map = {**self.special_tokens_map, "additional_special_tokens": extras}

        config_path = directory / (prefix + TOKENIZER_CONFIG_FILE)
        map_path = directory / (prefix + SPECIAL_TOKENS_MAP_FILE)
        atomic_write_text(config_path, json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(map_path, json.dumps(tokens_map, indent=2, ensure_ascii=False) + "\n")
        vocab_path, spm_path = self.save_vocabulary(directory, filename_prefix=filename_prefix)
        return str(config_path), str(map_path), vocab_path, spm_path

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["sp_model"] = None  # sentencepiece processors do not pickle; _spm_bytes rebuilds it
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.sp_model = _make_spm(self._spm_bytes, self.sp_model_kwargs, Path(self.spm_file).name)

    def __repr__(self) -> str:
        return (
            f"M2M100Tokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"language_codes={self.language_codes!r}, src_lang={self.src_lang!r}, tgt_lang={self.tgt_lang!r}, "
            f"model_max_length={self.model_max_length})"
        )

    # ---------------------------------------------------------------------------------------------------------
    # Vocabulary and special tokens
    # ---------------------------------------------------------------------------------------------------------

    @property
    def is_fast(self) -> bool:
        return False

    @property
    def vocab_size(self) -> int:
        """Entries of vocab.json (as transformers); the model's embedding also has the language and filler ids."""
        return len(self.encoder)

    def __len__(self) -> int:
        return len(self._vocab())

    def _vocab(self) -> dict[str, int]:
        if self._vocab_cache is None:
            vocab = {self._id_to_token(i): i for i in range(self.vocab_size)}
            vocab.update(sorted(self._added_encoder.items(), key=lambda item: item[1]))
            self._vocab_cache = vocab
        return self._vocab_cache

    def get_vocab(self) -> dict[str, int]:
        """Token -> id for vocab.json's ids and the special (language) tokens."""
        return dict(self._vocab())

    def get_added_vocab(self) -> dict[str, int]:
        return dict(self._added_encoder)

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return dict(sorted(self._added_encoder.items(), key=lambda item: item[1]))

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return {attr: token for attr, token in self._special_tokens_map.items() if token is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        out: list[str] = []
        for token in [*self.special_tokens_map.values(), *self._extra_special_tokens]:
            if token not in out:
                out.append(token)
        return out

    @property
    def all_special_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self.all_special_tokens]

    @property
    def additional_special_tokens(self) -> list[str]:
        return list(self._extra_special_tokens)

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self._extra_special_tokens]

    extra_special_tokens = additional_special_tokens
    extra_special_tokens_ids = additional_special_tokens_ids

    bos_token = property(lambda self: self._special_tokens_map["bos_token"])
    eos_token = property(lambda self: self._special_tokens_map["eos_token"])
    unk_token = property(lambda self: self._special_tokens_map["unk_token"])
    sep_token = property(lambda self: self._special_tokens_map["sep_token"])
    pad_token = property(lambda self: self._special_tokens_map["pad_token"])
    bos_token_id = property(lambda self: self._token_to_id(self.bos_token))
    eos_token_id = property(lambda self: self._token_to_id(self.eos_token))
    unk_token_id = property(lambda self: self._token_to_id(self.unk_token))
    sep_token_id = property(lambda self: self._token_to_id(self.sep_token))
    pad_token_id = property(lambda self: self._token_to_id(self.pad_token))
    pad_token_type_id = 0

    def _token_to_id(self, token: str) -> int:
        index = self._added_encoder.get(token)
        if index is not None:
            return index
        index = self.lang_token_to_id.get(token)
        if index is not None:
            return index
        index = self.encoder.get(token)
        return index if index is not None else self.encoder[self._special_tokens_map["unk_token"]]

    def _id_to_token(self, index: int) -> str:
        token = self._added_decoder.get(index)
        if token is not None:
            return token
        token = self.id_to_lang_token.get(index)
        if token is not None:
            return token
        token = self.decoder.get(index)
        return token if token is not None else self._special_tokens_map["unk_token"]

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        """Model id of a token (or of each token); unknown tokens give the `<unk>` id."""
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(token) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> str | list[str]:
        """Token of an id (or of each id); ids outside the vocabulary (filler ids too) give `<unk>`."""
        ids = _to_py(ids)
        if isinstance(ids, int):
            return self._id_to_token(ids)
        skip = self._all_special_ids_set if skip_special_tokens else ()
        return [self._id_to_token(int(index)) for index in ids if int(index) not in skip]

    # ---------------------------------------------------------------------------------------------------------
    # Languages
    # ---------------------------------------------------------------------------------------------------------

    @property
    def src_lang(self) -> str:
        return self._src_lang

    @src_lang.setter
    def src_lang(self, new_src_lang: str) -> None:
        self.set_src_lang_special_tokens(new_src_lang)  # validates before anything changes
        self._src_lang = new_src_lang

    @property
    def tgt_lang(self) -> str | None:
        return self._tgt_lang

    @tgt_lang.setter
    def tgt_lang(self, new_tgt_lang: str | None) -> None:
        if new_tgt_lang is not None:
            self.get_lang_id(new_tgt_lang)
        self._tgt_lang = new_tgt_lang

    @property
    def language_names(self) -> dict[str, str]:
        """Code -> English name, for this tokenizer's code set."""
        return {code: LANGUAGE_NAMES[code] for code in self.lang_code_to_id}

    def get_lang_token(self, lang: str) -> str:
        try:
            return self.lang_code_to_token[lang]
        except (KeyError, TypeError):
            raise unsupported_language_error(lang, self.language_codes) from None

    def get_lang_id(self, lang: str) -> int:
        return self.lang_token_to_id[self.get_lang_token(lang)]

    def set_src_lang_special_tokens(self, src_lang: str) -> None:
        """Source mode: sequences become `[src_lang_id] tokens </s>`."""
        lang_id = self.get_lang_id(src_lang)
        self.cur_lang_id = lang_id
        self.prefix_tokens = [lang_id]
        self.suffix_tokens = [self.eos_token_id]

    def set_tgt_lang_special_tokens(self, tgt_lang: str) -> None:
        """Target mode: sequences become `[tgt_lang_id] tokens </s>`."""
        if tgt_lang is None:
            raise ValueError("no target language: set tokenizer.tgt_lang (or pass tgt_lang= to from_pretrained)")
        lang_id = self.get_lang_id(tgt_lang)
        self.cur_lang_id = lang_id
        self.prefix_tokens = [lang_id]
        self.suffix_tokens = [self.eos_token_id]

    def _switch_to_input_mode(self) -> None:
        self.set_src_lang_special_tokens(self.src_lang)

    def _switch_to_target_mode(self) -> None:
        self.set_tgt_lang_special_tokens(self.tgt_lang)

    # ---------------------------------------------------------------------------------------------------------
    # Special-token helpers (same contract as transformers)
    # ---------------------------------------------------------------------------------------------------------

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return len(self.prefix_tokens) + len(self.suffix_tokens)

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None) -> list[int]:
        """`[lang_id] ids_0 (ids_1) </s>` with the current mode's language."""
        if token_ids_1 is None:
            return self.prefix_tokens + list(token_ids_0) + self.suffix_tokens
        return self.prefix_tokens + list(token_ids_0) + list(token_ids_1) + self.suffix_tokens

    def get_special_tokens_mask(self, token_ids_0: list[int], token_ids_1: list[int] | None = None,
                                already_has_special_tokens: bool = False) -> list[int]:
        """1 for special tokens, 0 for the others: of ids that have them already, or of the sequence
        `build_inputs_with_special_tokens` would make."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError(
                    "You should not supply a second sequence if the provided sequence of ids is already formatted "
                    "with special tokens for the model."
                )
            return [1 if int(index) in self._all_special_ids_set else 0 for index in _to_py(token_ids_0)]
        middle = len(token_ids_0) + (len(token_ids_1) if token_ids_1 is not None else 0)
        return [1] * len(self.prefix_tokens) + [0] * middle + [1] * len(self.suffix_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int],
                                             token_ids_1: list[int] | None = None) -> list[int]:
        """Zeros for the first sequence with its special tokens, ones for the second (transformers' rule)."""
        first = len(self.build_inputs_with_special_tokens(token_ids_0))
        if token_ids_1 is None:
            return [0] * first
        total = len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1))
        return [0] * first + [1] * (total - first)

    # ---------------------------------------------------------------------------------------------------------
    # Text -> pieces / ids
    # ---------------------------------------------------------------------------------------------------------

    def _split_on_specials(self, text: str) -> list[str | int]:
        """Text pieces (str) and special-token ids (int), in order; empty text pieces dropped."""
        out: list[str | int] = []
        start = 0
        for match in self._special_re.finditer(text):
            if match.start() > start:
                out.append(text[start:match.start()])
            out.append(self._added_encoder[match.group()])
            start = match.end()
        if start < len(text):
            out.append(text[start:])
        return out

    def _needs_split(self, text: str, split_special_tokens: bool) -> bool:
        if split_special_tokens or self._special_re is None:
            return False
        for char in self._special_first_chars:
            if char in text:
                return self._special_re.search(text) is not None
        return False  # no special token can start anywhere in the text

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False,
                 split_special_tokens: bool | None = None, **kwargs) -> list[str]:
        """Sentencepiece pieces of `text`, with special tokens in it kept whole (no language/eos added)."""
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        if not isinstance(text, str):
            raise TypeError(f"tokenize() takes a string, not {type(text).__name__}")
        parts: list[str | int] = (
            self._split_on_specials(text) if self._needs_split(text, split_special_tokens) else [text]
        )
        segments = [part for part in parts if isinstance(part, str)]
        encoded = iter(self.sp_model.encode(segments, out_type=str)) if segments else iter(())
        tokens: list[str] = []
        for part in parts:
            if isinstance(part, str):
                tokens.extend(next(encoded))
            else:
                tokens.append(self._added_decoder[part])
        return tokens

    def _encode_segments(self, segments: list[str], split_special_tokens: bool) -> list[list[int]]:
        """Model ids of each text segment (no special-token splitting here): one batched sentencepiece call
        and one array lookup."""
        if not segments:
            return []
        sp = self.sp_model
        # Starting threads costs more than it saves on small batches (measured: 64 lines, 2 cores); large
        # batches use sentencepiece's default (all cores). An explicit sp_model_kwargs["num_threads"] wins.
        threads = self.sp_model_kwargs.get("num_threads", 1 if len(segments) < _THREADED_BATCH else -1)
        if self._spm_numpy:
            arrays = sp.encode(segments, out_type="numpy", num_threads=threads)
            lengths = [len(a) for a in arrays]
            flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
        else:
            rows = sp.encode(segments, out_type=int, num_threads=threads)
            lengths = [len(r) for r in rows]
            flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=sum(lengths))
        mapped = self._spm_to_model[flat].tolist()
        out: list[list[int]] = []
        pos = 0
        for n in lengths:
            out.append(mapped[pos:pos + n])
            pos += n
        if (self._vocab_has_foreign or split_special_tokens) and flat.size and (flat == self._spm_unk).any():
            # Exactness for unknown characters: look their text up like transformers does (rare path).
            # With sampling the segmentation is drawn again, which is still a valid sample.
            start = 0
            for i, (segment, n) in enumerate(zip(segments, lengths)):
                if (flat[start:start + n] == self._spm_unk).any():
                    out[i] = [self._token_to_id(p) for p in sp.encode(segment, out_type=str)]
                start += n
        return out

    def _encode_texts(self, texts: list[str], split_special_tokens: bool) -> list[list[int]]:
        """Model ids (no language/eos) of each text, special tokens in the text kept whole."""
        plans: list[list[str | int] | None] = []
        segments: list[str] = []
        any_split = False
        for text in texts:
            if self._needs_split(text, split_special_tokens):
                parts = self._split_on_specials(text)
                plans.append(parts)
                segments.extend(part for part in parts if isinstance(part, str))
                any_split = True
            else:
                plans.append(None)
                segments.append(text)
        encoded = self._encode_segments(segments, split_special_tokens)
        if not any_split:
            return encoded
        out: list[list[int]] = []
        it = iter(encoded)
        for plan in plans:
            if plan is None:
                out.append(next(it))
                continue
            ids: list[int] = []
            for part in plan:
                if isinstance(part, str):
                    ids.extend(next(it))
                else:
                    ids.append(part)
            out.append(ids)
        return out

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, padding=False, truncation=None,
               max_length: int | None = None, return_tensors=None, **kwargs):
        """`input_ids` of one text (with `[lang] ... </s>` unless add_special_tokens=False)."""
        return self(text, text_pair=text_pair, add_special_tokens=add_special_tokens, padding=padding,
                    truncation=truncation, max_length=max_length, return_tensors=return_tensors,
                    return_attention_mask=False, **kwargs)["input_ids"]

    # ---------------------------------------------------------------------------------------------------------
    # __call__
    # ---------------------------------------------------------------------------------------------------------

    def _strategies(self, padding, truncation, max_length, pad_to_multiple_of, verbose=True):
        """(padding, truncation, max_length) resolved the way transformers does."""
        padding = getattr(padding, "value", padding)
        truncation = getattr(truncation, "value", truncation)
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # max_length alone means "truncate to it"
        if padding is True:
            if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                warnings.warn(
                    "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                    "To pad to max length, use `padding='max_length'`.", stacklevel=3,
                )
            pad = "longest"
        elif padding is False or padding is None:
            pad = "do_not_pad"
        elif padding in _PADDINGS:
            pad = padding
        else:
            raise ValueError(f"padding must be True, False or one of {_PADDINGS}, not {padding!r}")
        if truncation is True:
            trunc = "longest_first"
        elif truncation is False or truncation is None:
            trunc = "do_not_truncate"
        elif truncation in _TRUNCATIONS:
            trunc = truncation
        else:
            raise ValueError(f"truncation must be True, False or one of {_TRUNCATIONS}, not {truncation!r}")
        if max_length is None:
            if pad == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    pad = "do_not_pad"
                else:
                    max_length = self.model_max_length
            if trunc != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    trunc = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if (pad != "do_not_pad") and self.pad_token is None:
            raise ValueError("asked to pad but the tokenizer has no pad token")
        if (trunc != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of is not None
                and max_length is not None and max_length % pad_to_multiple_of != 0):
            raise ValueError(
                f"Truncation and padding are both activated but truncation length ({max_length}) is not a "
                f"multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
        return pad, trunc, max_length

    def __call__(
        self,
        text=None,
        text_pair=None,
        text_target=None,
        text_pair_target=None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
        max_target_length: int | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        **kwargs,
    ) -> BatchEncoding:
        """Encode a text or a batch of texts (and/or targets) for the model.

        Source texts become `[src_lang_id] tokens </s>`; `text_target=` texts become `[tgt_lang_id] tokens </s>`
        and are returned as `labels` (or as `input_ids` when no `text` is given). Padding, truncation and tensor
        options behave as in transformers. Lists of strings go through the batched fast path.
        """
        if tokenizer_kwargs:
            kwargs = {**tokenizer_kwargs, **kwargs}
        if kwargs:
            raise TypeError(f"M2M100Tokenizer.__call__() got unexpected keyword arguments: {sorted(kwargs)}")
        if return_overflowing_tokens:
            raise NotImplementedError("return_overflowing_tokens is not supported by this tokenizer")
        if return_offsets_mapping:
            raise NotImplementedError("return_offsets_mapping is not supported by this (sentencepiece) tokenizer")
        if text is None and text_target is None:
            raise ValueError("You need to specify either `text` or `text_target`.")
        if padding_side is not None and padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        tensor_kind = _tensor_kind(return_tensors)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        options = dict(
            add_special_tokens=add_special_tokens, pad=pad, trunc=trunc, is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side or self.padding_side,
            tensor_kind=tensor_kind, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_special_tokens_mask=return_special_tokens_mask,
            return_length=return_length, split_special_tokens=split_special_tokens,
        )
        if text_target is not None and self.tgt_lang is None:
            raise ValueError(
                "text_target needs a target language: set tokenizer.tgt_lang = '<code>' "
                "(or pass tgt_lang= to from_pretrained)"
            )
        encodings = targets = None
        try:
            if text is not None:
                self._switch_to_input_mode()
                encodings = self._encode_side(text, text_pair, max_length=max_length, **options)
            if text_target is not None:
                self._switch_to_target_mode()
                target_max = max_target_length if max_target_length is not None else max_length
                targets = self._encode_side(text_target, text_pair_target, max_length=target_max, **options)
        finally:
            self._switch_to_input_mode()
        if targets is None:
            return encodings
        if encodings is None:
            return targets
        encodings["labels"] = targets["input_ids"]
        return encodings

    def _classify(self, item, is_split_into_words: bool):
        """('text', str) | ('words', [str]) | ('ids', [int]) for one sequence."""
        if isinstance(item, str):
            return ("text", item)
        if isinstance(item, (list, tuple)) and item:
            if isinstance(item[0], (int, np.integer)):
                return ("ids", [int(i) for i in item])
            if isinstance(item[0], str):
                if is_split_into_words:
                    return ("words", list(item))
                return ("tokens", list(item))
        raise ValueError(f"Input must be a string, list of strings, or list of ints, got: {type(item)}")

    def _encode_side(self, text, text_pair, *, max_length, add_special_tokens, pad, trunc, is_split_into_words,
                     pad_to_multiple_of, padding_side, tensor_kind, return_token_type_ids, return_attention_mask,
                     return_special_tokens_mask, return_length, split_special_tokens) -> BatchEncoding:
        is_batched = isinstance(text, (list, tuple)) and (
            (not text and not is_split_into_words)
            or (bool(text) and is_split_into_words and isinstance(text[0], (list, tuple)))
            or (bool(text) and not is_split_into_words and isinstance(text[0], (str, list, tuple)))
        )
        if is_batched:
            if text_pair is not None and (not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text)):
                raise ValueError("If `text` is a batch, `text_pair` must also be a batch of the same length.")
            examples = []
            pairs = text_pair if text_pair is not None else [None] * len(text)
            for item, pair in zip(text, pairs):
                if isinstance(item, (list, tuple)) and item and not isinstance(item[0], (int, np.integer)) \
                        and pair is None:
                    is_pair = (
                        len(item) == 2
                        and (not is_split_into_words or isinstance(item, tuple))
                        and isinstance(item[0], (str, list, tuple))
                        and isinstance(item[1], (str, list, tuple))
                    )
                    if is_pair:
                        item, pair = item
                    elif len(item) == 1:
                        item = item[0]
                    elif not is_split_into_words:
                        raise ValueError(f"Expected a pair of sequences, got {len(item)} sequences.")
                first = self._classify(item, is_split_into_words)
                second = self._classify(pair, is_split_into_words) if pair is not None else None
                examples.append((first, second))
        else:
            if is_split_into_words and isinstance(text, (list, tuple)) and not text:
                first = ("words", [])
            else:
                first = self._classify(text, is_split_into_words)
            second = self._classify(text_pair, is_split_into_words) if text_pair is not None else None
            examples = [(first, second)]

        # One batched sentencepiece call for every string in the batch.
        strings: list[str] = []
        for pair_specs in examples:
            for spec in pair_specs:
                if spec is None:
                    continue
                if spec[0] == "text":
                    strings.append(spec[1])
                elif spec[0] == "words":
                    strings.extend(spec[1])
        encoded = iter(self._encode_texts(strings, split_special_tokens))

        def ids_of(spec) -> list[int] | None:
            if spec is None:
                return None
            kind, value = spec
            if kind == "text":
                return next(encoded)
            if kind == "words":
                return [i for _ in value for i in next(encoded)]
            if kind == "tokens":
                return [self._token_to_id(t) for t in value]
            return value

        prefix, suffix = list(self.prefix_tokens), list(self.suffix_tokens)
        n_special = len(prefix) + len(suffix) if add_special_tokens else 0
        want_types = bool(return_token_type_ids)
        want_mask = return_attention_mask is None or bool(return_attention_mask)

        rows: list[list[int]] = []
        type_rows: list[list[int]] = []
        special_rows: list[list[int]] = []
        lengths: list[int] = []
        for first_spec, second_spec in examples:
            ids, pair_ids = ids_of(first_spec), ids_of(second_spec)
            total = len(ids) + (len(pair_ids) if pair_ids is not None else 0) + n_special
            if trunc != "do_not_truncate" and max_length and total > max_length:
                ids, pair_ids = self._truncate(ids, pair_ids, total - max_length, trunc)
            if add_special_tokens:
                row = prefix + ids + (pair_ids or []) + suffix
            else:
                row = ids + (pair_ids or [])
            rows.append(row)
            if want_types:
                if add_special_tokens:
                    first_len = len(prefix) + len(ids) + len(suffix)
                    type_rows.append([0] * first_len + [1] * (len(row) - first_len) if pair_ids is not None
                                     else [0] * len(row))
                else:
                    type_rows.append([0] * len(row))
            if return_special_tokens_mask:
                if add_special_tokens:
                    special_rows.append([1] * len(prefix) + [0] * (len(row) - n_special) + [1] * len(suffix))
                else:
                    special_rows.append([0] * len(row))
            lengths.append(len(row))

        if lengths and max(lengths) > self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                "(%d > %d). Running this sequence through the model will result in indexing errors",
                max(lengths), self.model_max_length,
            )
        if not is_batched:
            return self._finish_single(rows[0], type_rows, special_rows, want_types, return_special_tokens_mask,
                                       want_mask, return_length, pad, max_length, pad_to_multiple_of,
                                       padding_side, tensor_kind)
        return self._finish_batch(rows, type_rows, special_rows, lengths, want_types, return_special_tokens_mask,
                                  want_mask, return_length, pad, max_length, pad_to_multiple_of, padding_side,
                                  tensor_kind)

    def _truncate(self, ids: list[int], pair_ids: list[int] | None, remove: int, trunc: str):
        """transformers' truncate_sequences (without overflow bookkeeping)."""
        left = self.truncation_side == "left"
        if trunc == "only_first" or (trunc == "longest_first" and pair_ids is None):
            ids = ids[remove:] if left else ids[:-remove]
        elif trunc == "longest_first":
            len_ids, len_pair = len(ids), len(pair_ids)
            first_remove = min(abs(len_pair - len_ids), remove)
            second_remove = remove - first_remove
            if len_ids > len_pair:
                ids_move = first_remove + second_remove // 2
                pair_move = second_remove - second_remove // 2
            else:
                ids_move = second_remove // 2
                pair_move = first_remove + second_remove - second_remove // 2
            if left:
                ids = ids[ids_move:]
                pair_ids = pair_ids[pair_move:]
            else:
                ids = ids[:-ids_move] if ids_move > 0 else ids
                pair_ids = pair_ids[:-pair_move] if pair_ids and pair_move > 0 else pair_ids
        elif trunc == "only_second" and pair_ids:
            pair_ids = pair_ids[remove:] if left else pair_ids[:-remove]
        return ids, pair_ids

    @staticmethod
    def _target_length(pad: str, longest: int, max_length: int | None, multiple: int | None) -> int | None:
        if pad == "do_not_pad":
            return None
        length = longest if pad == "longest" else max_length
        if length is not None and multiple is not None and length % multiple != 0:
            length = (length // multiple + 1) * multiple
        return length

    def _pad_list(self, row: list[int], value: int, length: int | None, side: str) -> list[int]:
        if length is None or len(row) >= length:
            return row
        filler = [value] * (length - len(row))
        return row + filler if side == "right" else filler + row

    def _finish_single(self, row, type_rows, special_rows, want_types, want_special, want_mask, want_length, pad,
                       max_length, multiple, side, tensor_kind) -> BatchEncoding:
        data: dict[str, Any] = {"input_ids": row}
        if want_types:
            data["token_type_ids"] = type_rows[0]
        if want_special:
            data["special_tokens_mask"] = special_rows[0]
        length = self._target_length(pad, len(row), max_length, multiple)
        if want_mask:
            data["attention_mask"] = [1] * len(row)
        if length is not None and len(row) != length:
            data = self._pad_fields(data, length, side)
        if want_length:
            data["length"] = len(data["input_ids"])
        return BatchEncoding(data, tensor_type=tensor_kind, prepend_batch_axis=True)

    def _pad_fields(self, data: dict[str, Any], length: int, side: str) -> dict[str, Any]:
        fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                 "special_tokens_mask": 1}
        return {key: self._pad_list(value, fills[key], length, side) if key in fills else value
                for key, value in data.items()}

    def _finish_batch(self, rows, type_rows, special_rows, lengths, want_types, want_special, want_mask,
                      want_length, pad, max_length, multiple, side, tensor_kind) -> BatchEncoding:
        data: dict[str, Any] = {"input_ids": rows}
        if want_types:
            data["token_type_ids"] = type_rows
        if want_special:
            data["special_tokens_mask"] = special_rows
        if want_length:
            data["length"] = list(lengths)
        if not rows:
            if want_mask:
                data["attention_mask"] = []
            if tensor_kind is not None:
                return BatchEncoding({k: np.zeros((0, 0) if k != "length" else (0,), dtype=np.int64)
                                      for k in data}, tensor_type=tensor_kind)
            return BatchEncoding(data)
        length = self._target_length(pad, max(lengths), max_length, multiple)
        uniform = length is not None and all(n <= length for n in lengths)
        if tensor_kind is not None and (uniform or len(set(lengths)) == 1):
            # Rectangular result: fill numpy arrays directly, no per-token python work.
            width = length if uniform else lengths[0]
            lens = np.asarray(lengths, dtype=np.int64)
            out: dict[str, Any] = {}
            for key, value, fill in (("input_ids", rows, self.pad_token_id),
                                     ("token_type_ids", type_rows, self.pad_token_type_id),
                                     ("special_tokens_mask", special_rows, 1)):
                if key in data:
                    out[key] = _fill_rows(value, lens, width, fill, side)
            if want_length:
                out["length"] = lens
            if want_mask:
                cols = np.arange(width)
                if side == "right":
                    out["attention_mask"] = (cols[None, :] < lens[:, None]).astype(np.int64)
                else:
                    out["attention_mask"] = (cols[None, :] >= (width - lens)[:, None]).astype(np.int64)
            ordered = {key: out[key] for key in ("input_ids", "token_type_ids", "special_tokens_mask", "length",
                                                 "attention_mask") if key in out}
            return BatchEncoding(ordered, tensor_type=tensor_kind)
        if want_mask:
            data["attention_mask"] = [[1] * n for n in lengths]
        if length is not None:
            fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                     "special_tokens_mask": 1}
            for key, fill in fills.items():
                if key in data:
                    data[key] = [self._pad_list(row, fill, length, side) for row in data[key]]
        return BatchEncoding(data, tensor_type=tensor_kind)

    def pad(self, encoded_inputs, padding: bool | str = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, padding_side: str | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None,
            verbose: bool = True) -> BatchEncoding:
        """Pad already-encoded inputs (a dict of lists, or a list of dicts, as a DataCollator passes)."""
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0].keys()}
        if not isinstance(encoded_inputs, Mapping) or "input_ids" not in encoded_inputs:
            raise ValueError("pad() needs encodings that include input_ids")
        kind = _tensor_kind(return_tensors)
        data = {}
        for key, value in encoded_inputs.items():
            if hasattr(value, "tolist") and not isinstance(value, list):
                if kind is None:
                    kind = "pt" if type(value).__module__.startswith("torch") else "np"
                value = value.tolist()
            data[key] = _to_py(value)
        pad, _, max_length = self._strategies(padding, None, max_length, pad_to_multiple_of, verbose)
        side = padding_side or self.padding_side
        want_mask = return_attention_mask is None or bool(return_attention_mask)
        ids = data["input_ids"]
        batched = bool(ids) and isinstance(ids[0], list)
        rows = {key: (value if batched else [value]) for key, value in data.items()}
        if want_mask and "attention_mask" not in rows:
            rows["attention_mask"] = [[1] * len(r) for r in rows["input_ids"]]
        longest = max((len(r) for r in rows["input_ids"]), default=0)
        length = self._target_length(pad, longest, max_length, pad_to_multiple_of)
        fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                 "special_tokens_mask": 1}
        if length is not None:
            for key, fill in fills.items():
                if key in rows:
                    rows[key] = [self._pad_list(list(r), fill, length, side) for r in rows[key]]
        out = rows if batched else {key: value[0] for key, value in rows.items()}
        return BatchEncoding(out, tensor_type=kind)

    # ---------------------------------------------------------------------------------------------------------
    # ids -> text
    # ---------------------------------------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join tokens: runs of pieces decoded by sentencepiece, special tokens verbatim, outer spaces stripped."""
        specials = self._added_encoder
        out: list[str] = []
        run: list[str] = []
        for token in tokens:
            if token in specials:
                out.append(self.sp_model.decode(run) if run else "")
                out.append(token)
                run = []
            else:
                run.append(token)
        out.append(self.sp_model.decode(run) if run else "")
        return "".join(out).strip()

    @staticmethod
    def clean_up_tokenization(text: str) -> str:
        """Remove spaces before punctuation and English contractions (only when asked)."""
        for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                              (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            text = text.replace(before, after)
        return text

    def _decode_one(self, ids: list[int], skip_special_tokens: bool, clean_up: bool | None) -> str:
        tokens = self.convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        text = self.convert_tokens_to_string(tokens)
        if clean_up if clean_up is not None else self.clean_up_tokenization_spaces:
            text = self.clean_up_tokenization(text)
        return text

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               **kwargs) -> str | list[str]:
        """Text of a sequence of ids (a list, array or tensor); a batch (2-d) gives a list of texts."""
        token_ids = _to_py(token_ids)
        if isinstance(token_ids, list) and token_ids and isinstance(token_ids[0], list):
            return [self._decode_one(row, skip_special_tokens, clean_up_tokenization_spaces) for row in token_ids]
        return self._decode_one(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        """Texts of a batch of id sequences (list of lists, 2-d array or tensor)."""
        sequences = _to_py(sequences)
        if isinstance(sequences, list) and not sequences:
            return []
        result = self.decode(sequences, skip_special_tokens=skip_special_tokens,
                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result


def _fill_rows(rows: list[list[int]], lens: np.ndarray, width: int, fill: int, side: str) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64)
    if not len(rows) or width == 0:
        return out
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lens.sum()))
    row_index = np.repeat(np.arange(len(rows)), lens)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    col = np.arange(flat.size) - np.repeat(starts, lens)
    if side == "left":
        col = col + np.repeat(width - lens, lens)
    out[row_index, col] = flat
    return out


__all__ = ["VOCAB_FILES_NAMES", "BatchEncoding", "M2M100Tokenizer"]
