"""The shared core of the tokenizers: BatchEncoding, tensors, file loading and added-token helpers.

Family tokenizers (m2m100.py, nllb.py) build on these; nothing here knows a language code set.
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
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..hub import read_json_object
from ..languages import unsupported_language_error

logger = logging.getLogger("m2m100.tokenization")


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
# transformers' full list of named special tokens; M2M100 has no cls or mask token (they are None).
SPECIAL_TOKENS_ATTRIBUTES = (*_NAMED_SPECIALS, "cls_token", "mask_token")
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


def _strip_flags(token) -> tuple[bool, bool]:
    """(lstrip, rstrip) of an AddedToken-like object (transformers' or tokenizers'); a str has neither."""
    if isinstance(token, str):
        return False, False
    if isinstance(token, Mapping):
        get = token.get
    else:
        def get(name, default=False):
            return getattr(token, name, default)
    if get("single_word", False):
        raise NotImplementedError("added tokens with single_word=True are not supported by this tokenizer")
    return bool(get("lstrip", False)), bool(get("rstrip", False))


def _added_token_entry(token, special: bool) -> dict[str, Any]:
    """A token given to add_tokens (str, AddedToken or its dict) as a saved added_tokens_decoder entry."""
    if isinstance(token, str):
        return {"content": token, "lstrip": False, "rstrip": False, "special": special}
    content = _token_str(token) if isinstance(token, Mapping) else getattr(token, "content", None)
    if not isinstance(content, str):
        raise TypeError(f"Token {token!r} is not a string but a {type(token).__name__}.")
    lstrip, rstrip = _strip_flags(token)
    flag = token.get("special", False) if isinstance(token, Mapping) else getattr(token, "special", False)
    return {"content": content, "lstrip": lstrip, "rstrip": rstrip, "special": bool(flag) or special}


def _decoder_entries(value) -> list[tuple[int, dict[str, Any]]]:
    """(id, entry dict) pairs of an added_tokens_decoder (JSON dict of id -> entry, or id -> AddedToken)."""
    if not value:
        return []
    if not isinstance(value, Mapping):
        raise CheckpointError(f"added_tokens_decoder must map ids to tokens, got {type(value).__name__}")
    out = []
    for key, entry in value.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise CheckpointError(f"added_tokens_decoder has a non-integer id {key!r}") from None
        if index < 0:
            raise CheckpointError(f"added_tokens_decoder has a negative id {index}")
        if not isinstance(entry, Mapping):
            entry = _added_token_entry(entry, False)
        if not isinstance(entry.get("content"), str):
            raise CheckpointError(f"added_tokens_decoder entry {key} has no token text (content)")
        out.append((index, dict(entry)))
    return sorted(out, key=lambda item: item[0])


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


def _is_token(value) -> bool:
    return isinstance(value, str) or isinstance(getattr(value, "content", None), str)


def _special_token_property(attr: str) -> property:
    """`tok.bos_token` (None when unset); assigning a string sets it, as in transformers (no id is added)."""

    def get(self):
        return self._special_tokens_map[attr]

    def set(self, value):
        if value is not None and not _is_token(value):
            raise ValueError(f"Cannot set a non-string value as the {attr}")
        self._special_tokens_map[attr] = _token_str(value) if value is not None else None
        self._build_special_tables()
        self._refresh_language_tokens()

    return property(get, set, doc=f"The {attr.replace('_', ' ')} (a string), or None.")


def _special_id_property(attr: str) -> property:
    """`tok.bos_token_id` (None when the token is unset); assigning an id sets the token of that id."""

    def get(self):
        token = self._special_tokens_map[attr]
        return None if token is None else self._token_to_id(token)

    def set(self, value):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
            raise ValueError(f"{attr}_id must be an integer id or None, not {value!r}")
        setattr(self, attr, None if value is None else self._id_to_token(int(value)))

    return property(get, set, doc=f"Id of the {attr.replace('_', ' ')}, or None.")



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





# --------------------------------------------------------------------------------------------------------------
# The shared tokenizer machinery
# --------------------------------------------------------------------------------------------------------------


class TokenizerCore:
    """What every family tokenizer shares: special and added tokens, languages as prefix/suffix tokens,
    text -> ids (batched sentencepiece), padding/truncation/overflow, BatchEncoding and tensors, decoding,
    pickling. The transformers tokenizer API (`__call__`, `encode`, `decode`, `pad`, `add_tokens`, ...).

    A family subclass (a small file: m2m100.py, nllb.py) does, in `__init__`: `_init_options(...)`, then sets
    `encoder`/`decoder` (token <-> id of the base vocabulary), `encoder_size`, `_spm_bytes`/`spm_file`, the
    language tables (`lang_code_to_token`, `lang_token_to_id`, `lang_code_to_id`, `id_to_lang_token`,
    `_code_set_tokens`), `_special_tokens_map` (`_named_special_map`), `_new_tokens`, `_extra_special_tokens`,
    `init_kwargs`, and ends with `_finish_init(...)`. It provides `_vocabulary_files` (which files
    `from_pretrained` fetches), `save_vocabulary`, and sets the class hooks below (`_saved_class_name`,
    `_saved_settings`, `_named_token_defaults`, `_default_src_lang`, `_language_name_table`, ...); it overrides
    `_family_settings`, `_repr_fields`, `_language_choices`, `_language_tokens`, `_uses_spm`, `_add_to_backend`
    or `_ignored_extra_tokens` where it differs.
    """

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"
    # Added tokens matching this become new language codes (group 1 is the code); None: never.
    language_token_pattern: re.Pattern | None = None

    def _check_target_language(self) -> None:
        """Called before encoding `text_target`; families without a default target raise here."""
        if self.tgt_lang is None:
            raise ValueError(
                "text_target needs a target language: set tokenizer.tgt_lang = '<code>' "
                "(or pass tgt_lang= to from_pretrained)"
            )

    def _switch_to_target_mode(self) -> None:
        self.set_tgt_lang_special_tokens(self.tgt_lang)

    # ---------------------------------------------------------------------------------------------------------
    # Construction, loading and saving: the steps every family takes, with hooks for what differs
    # ---------------------------------------------------------------------------------------------------------

    # Hooks a family sets (see M2M100Tokenizer and NllbTokenizer):
    _saved_class_name = ""  # "tokenizer_class" written to tokenizer_config.json
    _saved_settings: tuple[str, ...] = ()  # tokenizer_config.json keys passed to __init__ when present
    _named_token_defaults: tuple[tuple[str, str | None], ...] = ()  # (attr, default): never "additional" at load
    _decoder_specials_are_extras = False  # special added_tokens_decoder entries join additional_special_tokens
    _listed_tokens_become_special = False  # an added token listed as additional special is marked special
    _default_src_lang = ""
    _language_name_table: Mapping[str, str] = MappingProxyType({})  # code -> English name of the family's codes

    @staticmethod
    def _pop_extra_special_tokens(kwargs: dict[str, Any], given: Iterable[str] | None) -> Iterable[str] | None:
        """transformers 5 names the list `extra_special_tokens`; accept it when `additional_...` is not given."""
        if "extra_special_tokens" in kwargs and given is None:
            extra = kwargs.pop("extra_special_tokens")
            return extra if isinstance(extra, (list, tuple)) else None
        return given

    def _init_options(self, *, sp_model_kwargs, model_max_length, clean_up_tokenization_spaces, padding_side,
                      truncation_side, split_special_tokens, name_or_path) -> None:
        """Check and store the options every family takes. Raises ValueError for a side not 'left'/'right'."""
        for label, value in (("padding_side", padding_side), ("truncation_side", truncation_side)):
            if value not in ("left", "right"):
                raise ValueError(f"{label} must be 'left' or 'right', not {value!r}")
        self.sp_model_kwargs = dict(sp_model_kwargs or {})
        self.model_max_length = int(model_max_length) if model_max_length is not None else VERY_LARGE_INTEGER
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.split_special_tokens = bool(split_special_tokens)
        self.name_or_path = str(name_or_path)

    @staticmethod
    def _named_special_map(bos, eos, unk, sep, pad, cls, mask) -> dict[str, str | None]:
        return {
            "bos_token": _token_str(bos), "eos_token": _token_str(eos), "unk_token": _token_str(unk),
            "sep_token": _token_str(sep), "pad_token": _token_str(pad), "cls_token": _token_str(cls),
            "mask_token": _token_str(mask),
        }

    def _uses_spm(self) -> bool:
        """True when sentencepiece encodes (and saved added-token ids come from tokenizer_config.json); a family
        with another backend that owns its added tokens returns False."""
        return True

    def _add_to_backend(self, token: str, special: bool, lstrip: bool = False, rstrip: bool = False) -> None:
        """Hook: keep another encoding backend in step with a token added here (none by default)."""

    def _ignored_extra_tokens(self) -> Iterable[str]:
        """Hook: listed extra special tokens the vocabulary lacks that are skipped instead of added."""
        return ()

    def _finish_init(self, added_tokens_decoder, additional_special_tokens, src_lang, tgt_lang) -> None:
        """The end of every family's __init__, once the base vocabulary, language tables and special-token map
        are set: restore saved added tokens, add the listed extras and missing named specials after the
        vocabulary, build the lookup tables and sentencepiece, set the languages."""
        self._build_special_tables()
        if self._uses_spm():
            for index, entry in _decoder_entries(added_tokens_decoder):
                self._restore_added_token(index, entry)
        self._extra_special_tokens = self._choose_extra_specials(additional_special_tokens)
        for attr in _NAMED_SPECIALS:  # a named special token the vocabulary lacks (e.g. no `<s>`) is added after it
            token = self._special_tokens_map[attr]
            if token is not None and self._known_id(token) is None:
                self._add_to_backend(token, special=True)
                self._new_tokens[token] = (self._next_id(), True, False, False)
                self._build_special_tables()
        self._build_special_tables()
        if self._uses_spm():
            self._setup_spm()
        self._warned_too_long = False
        self._src_lang = self._default_src_lang
        self._tgt_lang = None
        self.src_lang = src_lang if src_lang is not None else self._default_src_lang
        self.tgt_lang = tgt_lang

    def _choose_extra_specials(self, given: Iterable[str] | None) -> list[str]:
        """The listed extra special tokens, then the language tokens. A listed token the vocabulary lacks is
        added after it (a token shaped like a language token becomes a language)."""
        extras: list[str] = []
        ignored = set(self._ignored_extra_tokens())
        for item in given or []:
            token = _token_str(item)
            if token is None or token in extras:
                continue
            if self._known_id(token) is None:
                if token in ignored:
                    continue
                lstrip, rstrip = _strip_flags(item)
                index = self._next_id()
                self._add_to_backend(token, True, lstrip, rstrip)
                self._new_tokens[token] = (index, True, lstrip, rstrip)
                self._register_language(token)
                self._build_special_tables()
            elif self._listed_tokens_become_special and token in self._new_tokens:
                index, _, lstrip, rstrip = self._new_tokens[token]
                self._new_tokens[token] = (index, True, lstrip, rstrip)
            extras.append(token)
        for token in self._code_set_tokens:
            if token not in extras:
                extras.append(token)
        return extras

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
    ):
        """Load from a local directory or a Hugging Face hub id: the family's vocabulary file(s),
        tokenizer_config.json and special_tokens_map.json. Keyword arguments override the saved settings.
        Raises CheckpointError for missing or malformed files, TypeError for positional arguments."""
        from ..hub import resolve_file

        if init_inputs:
            raise TypeError("from_pretrained takes the model directory or hub id and keyword arguments only")
        for ignored in ("trust_remote_code", "force_download", "resume_download", "proxies", "_from_auto",
                        "_commit_hash", "legacy", "from_slow", "use_auth_token"):
            value = kwargs.pop(ignored, None)
            if ignored == "use_auth_token" and value is not None and token is None:
                token = value
        hub = dict(revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only)

        def fetch(filename: str, required: bool) -> Path | None:
            full = f"{subfolder.strip('/')}/{filename}" if subfolder else filename
            return resolve_file(pretrained_model_name_or_path, full, required=required, **hub)

        config = _read_json_config(fetch(TOKENIZER_CONFIG_FILE, required=False))
        tokens_map = _read_json_config(fetch(SPECIAL_TOKENS_MAP_FILE, required=False))
        files = cls._vocabulary_files(pretrained_model_name_or_path, fetch, config, kwargs)
        init = cls._saved_init(config, tokens_map)
        init.update(kwargs)
        init.setdefault("name_or_path", str(pretrained_model_name_or_path))
        return cls(**files, **init)

    @classmethod
    def _vocabulary_files(cls, name, fetch, config: Mapping[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Hook: fetch the family's vocabulary file(s) (popping their options from kwargs); returns the
        __init__ arguments that name them."""
        raise NotImplementedError

    @classmethod
    def _saved_init(cls, config: Mapping[str, Any], tokens_map: Mapping[str, Any]) -> dict[str, Any]:
        """__init__ arguments from tokenizer_config.json and special_tokens_map.json (the config wins)."""
        init: dict[str, Any] = {}
        for key in (*cls._saved_settings, *SPECIAL_TOKENS_ATTRIBUTES):
            if config.get(key) is not None:
                init[key] = config[key]
        for key in SPECIAL_TOKENS_ATTRIBUTES:
            if tokens_map.get(key) is not None and key not in config:
                init[key] = tokens_map[key]
        extras: list[str] = []
        for source in (config, tokens_map):
            for key in ("additional_special_tokens", "extra_special_tokens"):
                value = source.get(key)
                if isinstance(value, (list, tuple)):
                    extras.extend(t for t in (_token_str(v) for v in value) if t and t not in extras)
        decoder_entries = config.get("added_tokens_decoder")
        if isinstance(decoder_entries, dict):
            init["added_tokens_decoder"] = decoder_entries  # tokens added after the vocabulary keep their ids
            if cls._decoder_specials_are_extras:
                for entry in decoder_entries.values():
                    if isinstance(entry, dict) and entry.get("special") and _token_str(entry) not in extras:
                        extras.append(_token_str(entry))
        named = {_token_str(init.get(key, default)) for key, default in cls._named_token_defaults}
        init["additional_special_tokens"] = [t for t in extras if t not in named]
        return init

    def _family_settings(self) -> dict[str, Any]:
        """Hook: the family's own entries of tokenizer_config.json (written after src_lang/tgt_lang)."""
        return {}

    def save_pretrained(self, save_directory: str | os.PathLike, filename_prefix: str | None = None,
                        **kwargs) -> tuple[str, ...]:
        """Write tokenizer_config.json, special_tokens_map.json and the vocabulary file(s) so that this class and
        transformers' tokenizer of the same name both load the same tokenizer back; return the paths written.
        Raises NotImplementedError for push_to_hub, TypeError for unknown options, OSError when the path is a
        file."""
        from ..hub import atomic_write_text

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
        config: dict[str, Any] = {
            "tokenizer_class": self._saved_class_name,
            "added_tokens_decoder": {str(index): entry for index, entry in self._decoder_json().items()},
            "additional_special_tokens": extras,
            **self.special_tokens_map,
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
            **self._family_settings(),
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
        return (str(config_path), str(map_path), *self.save_vocabulary(directory, filename_prefix=filename_prefix))

    @staticmethod
    def _vocabulary_target(save_directory: str | os.PathLike, filename_prefix: str | None) -> tuple[Path, str]:
        """The directory save_vocabulary writes into (it must exist: OSError otherwise) and the file prefix."""
        directory = Path(save_directory)
        if not directory.is_dir():
            raise OSError(f"{save_directory} should be a directory")
        return directory, (f"{filename_prefix}-" if filename_prefix else "")

    def _repr_fields(self) -> dict[str, Any]:
        """Hook: the fields __repr__ shows after name_or_path (values already formatted)."""
        return {}

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value}" for key, value in self._repr_fields().items())
        return f"{self._saved_class_name}(name_or_path={self.name_or_path!r}, {fields})"


    def _restore_added_token(self, index: int, entry: Mapping[str, Any]) -> None:
        """One entry of a saved added_tokens_decoder: tokens the vocabulary lacks keep their saved id."""
        token = _token_str(entry)
        if not token or self._known_id(token) is not None:
            return
        taken = self._id_to_known_token(index)
        if taken is not None and taken != token:
            raise CheckpointError(
                f"added_tokens_decoder gives id {index} to {token!r}, but that id already belongs to {taken!r}"
            )
        self._new_tokens[token] = (index, bool(entry.get("special")), bool(entry.get("lstrip")),
                                   bool(entry.get("rstrip")))
        self._register_language(token)
        self._build_special_tables()

    def _known_id(self, token: str) -> int | None:
        """Id of a token in vocab.json, the language tokens or the added tokens; None when it has none."""
        if token in self._new_tokens:
            return self._new_tokens[token][0]
        index = self.lang_token_to_id.get(token)
        return index if index is not None else self.encoder.get(token)

    def _id_to_known_token(self, index: int) -> str | None:
        token = self._added_decoder.get(index) if hasattr(self, "_added_decoder") else None
        if token is None:
            token = self.id_to_lang_token.get(index)
        return token if token is not None else self.decoder.get(index)

    def _next_id(self) -> int:
        """transformers gives a new token the id len(tokenizer); past every id in use if that one is taken."""
        base = self.__dict__.get("_base_max_id")
        if base is None:  # vocab.json and the code set do not change after construction
            base = self._base_max_id = max([*self.encoder.values(), *self.lang_token_to_id.values()], default=-1)
        used = max([base, *(entry[0] for entry in self._new_tokens.values())])
        return max(len(self._vocab()), used + 1)

    def _register_language(self, token: str) -> None:
        """An added token that looks like a language token (the family's `language_token_pattern`, e.g.
        `__xx__` for M2M100) becomes a new language code (for src_lang/tgt_lang and get_lang_id)."""
        pattern = self.language_token_pattern
        match = pattern.fullmatch(token) if pattern is not None else None
        if match is None or token in self.lang_token_to_id:
            return
        code, index = match.group(1), self._new_tokens[token][0]
        self.lang_code_to_token[code] = token
        self.lang_token_to_id[token] = index
        self.lang_code_to_id[code] = index
        self.id_to_lang_token[index] = token

    def _build_special_tables(self) -> None:
        """Rebuild the lookup tables after special or added tokens changed."""
        special: list[str] = []
        for token in [*(t for t in self._special_tokens_map.values() if t is not None),
                      *self._extra_special_tokens, *self._code_set_tokens,
                      *(t for t, entry in self._new_tokens.items() if entry[1])]:
            if token not in special:
                special.append(token)
        no_split: dict[str, int] = {}
        for token in special:
            index = self._known_id(token)
            if index is not None:
                no_split[token] = index
        for token, entry in self._new_tokens.items():
            no_split.setdefault(token, entry[0])
        self._special_token_set = frozenset(special)
        self._added_encoder = no_split
        self._added_decoder = {index: token for token, index in no_split.items()}
        unk = self.encoder[self._special_tokens_map["unk_token"]] if self._special_tokens_map["unk_token"] in \
            self.encoder else None
        self._all_special_ids_set = frozenset(no_split.get(t, unk) for t in special) - {None}
        self._strip = {t: (entry[2], entry[3]) for t, entry in self._new_tokens.items() if entry[2] or entry[3]}
        # Text is split on added tokens before sentencepiece; the longest token wins where several match.
        ordered = sorted(no_split, key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(token) for token in ordered)) if ordered else None
        self._special_first_chars = tuple(sorted({token[0] for token in no_split if token}))
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

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["sp_model"] = None  # sentencepiece processors do not pickle; _spm_bytes rebuilds it
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        # no sentencepiece bytes: another backend encodes (NLLB's tokenizer.json)
        self.sp_model = _make_spm(self._spm_bytes, self.sp_model_kwargs, Path(self.spm_file).name) \
            if self._spm_bytes else None

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
        """Token -> id of the added tokens: special (language) tokens and tokens added after the vocabulary."""
        return dict(self._added_encoder)

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return dict(sorted(self._added_encoder.items(), key=lambda item: item[1]))

    def _decoder_json(self) -> dict[int, dict[str, Any]]:
        """Id -> added-token entry (content and flags), as tokenizer_config.json's added_tokens_decoder."""
        out: dict[int, dict[str, Any]] = {}
        for token, index in sorted(self._added_encoder.items(), key=lambda item: item[1]):
            special = token in self._special_token_set
            lstrip, rstrip = self._strip.get(token, (False, False))
            out[index] = {"content": token, "lstrip": lstrip, "normalized": not special, "rstrip": rstrip,
                          "single_word": False, "special": special}
        return out

    @property
    def added_tokens_decoder(self) -> dict[int, Any]:
        """Id -> AddedToken (from the `tokenizers` library) of every added token, sorted by id."""
        from tokenizers import AddedToken

        return {index: AddedToken(entry["content"], single_word=False, lstrip=entry["lstrip"],
                                  rstrip=entry["rstrip"], normalized=entry["normalized"], special=entry["special"])
                for index, entry in self._decoder_json().items()}

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens (str or AddedToken, one or a list) the vocabulary lacks; return how many were new.

        New tokens get ids from `len(tokenizer)` upward (as transformers), are never split by sentencepiece, and
        are saved by save_pretrained. A token `__xx__` also becomes the language code `xx` (src_lang, tgt_lang,
        get_lang_id). Resize the model with `model.resize_token_embeddings(len(tokenizer))` when the ids pass
        its embedding size. Raises TypeError for non-string tokens.
        """
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        added = 0
        start = self._next_id()  # computed once, as transformers does: new tokens count up from here
        changed: list[str] = []
        for item in new_tokens:
            entry = _added_token_entry(item, special_tokens)
            token = entry["content"]
            if token == "":
                continue
            if isinstance(item, str) and (token in self._added_encoder or token in changed):
                continue  # already an added token: transformers keeps its flags
            special = entry["special"] or token in self._special_token_set
            if token in self._new_tokens:
                index = self._new_tokens[token][0]
            else:
                index = self._known_id(token)
                if index is None:
                    index = start + added
                    added += 1
            if token not in self.encoder and token not in self.lang_token_to_id or token in self._new_tokens:
                self._new_tokens[token] = (index, special, entry["lstrip"], entry["rstrip"])
                self._register_language(token)
            if special and token not in self._extra_special_tokens and token not in self.special_tokens_map.values():
                self._extra_special_tokens.append(token)
            changed.append(token)
        if changed:
            self._build_special_tables()  # once per call: the split pattern is compiled once
            for token in changed:
                self._remap_piece(token)
        return added

    def add_special_tokens(self, special_tokens_dict: Mapping[str, Any],
                           replace_extra_special_tokens: bool = True,
                           replace_additional_special_tokens: bool | None = None) -> int:
        """Set named special tokens (`bos_token`, ..., `mask_token`) and/or `additional_special_tokens`
        (alias `extra_special_tokens`), adding those the vocabulary lacks; return how many were new.

        As in transformers, the additional list replaces the previous one unless
        `replace_extra_special_tokens=False`; the language tokens stay special either way (see the class
        docstring). Raises ValueError for an unknown key or a value that is not a token.
        """
        if not special_tokens_dict:
            return 0
        if replace_additional_special_tokens is not None:
            replace_extra_special_tokens = replace_additional_special_tokens
        tokens = dict(special_tokens_dict)
        if "additional_special_tokens" in tokens and not tokens.get("extra_special_tokens"):
            tokens["extra_special_tokens"] = tokens.pop("additional_special_tokens")
        to_add: list[Any] = []
        for key, value in tokens.items():
            if key == "extra_special_tokens":
                if not isinstance(value, (list, tuple)) or not all(_is_token(t) for t in value):
                    raise ValueError(f"Tokens {value} for key {key} should all be str or AddedToken instances")
                new = [t for t in value
                       if replace_extra_special_tokens or _token_str(t) not in self._extra_special_tokens]
                names = [_token_str(t) for t in new]
                if replace_extra_special_tokens and new:
                    self._extra_special_tokens = names
                else:
                    self._extra_special_tokens.extend(names)
                to_add.extend(new)
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                if not _is_token(value):
                    raise ValueError(f"Token {value!r} for key {key} should be a str or an AddedToken instance")
                self._special_tokens_map[key] = _token_str(value)
                to_add.append(value)
            else:
                raise ValueError(
                    f"Key {key} is not a valid special token. Valid keys are: "
                    f"{sorted([*SPECIAL_TOKENS_ATTRIBUTES, 'extra_special_tokens'])}"
                )
        self._build_special_tables()
        added = self.add_tokens(to_add, special_tokens=True)
        self._refresh_language_tokens()
        return added

    def _remap_piece(self, token: str) -> None:
        """A sentencepiece piece that vocab.json lacks maps to the added token of the same text, as in
        transformers (which looks pieces up in its added tokens first)."""
        sp = getattr(self, "sp_model", None)
        if sp is None or token in self.encoder:
            return
        index = sp.piece_to_id(token)
        if 0 <= index < len(self._spm_to_model) and sp.id_to_piece(index) == token and index != sp.unk_id():
            self._spm_to_model[index] = self._token_to_id(token)

    def _refresh_language_tokens(self) -> None:
        """Re-apply the current source language (its eos suffix follows a changed eos token)."""
        if getattr(self, "_src_lang", None) is not None and hasattr(self, "prefix_tokens"):
            self.set_src_lang_special_tokens(self._src_lang)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return {attr: token for attr, token in self._special_tokens_map.items() if token is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        out: list[str] = []
        for token in [*self.special_tokens_map.values(), *self._extra_special_tokens,
                      *(t for t in self._special_token_set)]:
            if token not in out:
                out.append(token)
        return out

    @property
    def all_special_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self.all_special_tokens]

    @property
    def additional_special_tokens(self) -> list[str]:
        return list(self._extra_special_tokens)

    @additional_special_tokens.setter
    def additional_special_tokens(self, value) -> None:
        if value is not None and not isinstance(value, (list, tuple)):
            raise ValueError(f"extra_special_tokens must be a list or tuple, got {type(value).__name__}")
        self._extra_special_tokens = [_token_str(t) for t in value or []]
        for token in self._code_set_tokens:  # language tokens stay special (see the class docstring)
            if token not in self._extra_special_tokens:
                self._extra_special_tokens.append(token)
        self._build_special_tables()

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return [self._token_to_id(token) for token in self._extra_special_tokens]

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, value) -> None:
        self.additional_special_tokens = None if value is None else [self._id_to_token(int(i)) for i in value]

    extra_special_tokens = additional_special_tokens
    extra_special_tokens_ids = additional_special_tokens_ids

    bos_token = _special_token_property("bos_token")
    eos_token = _special_token_property("eos_token")
    unk_token = _special_token_property("unk_token")
    sep_token = _special_token_property("sep_token")
    pad_token = _special_token_property("pad_token")
    cls_token = _special_token_property("cls_token")
    mask_token = _special_token_property("mask_token")
    bos_token_id = _special_id_property("bos_token")
    eos_token_id = _special_id_property("eos_token")
    unk_token_id = _special_id_property("unk_token")
    sep_token_id = _special_id_property("sep_token")
    pad_token_id = _special_id_property("pad_token")
    cls_token_id = _special_id_property("cls_token")
    mask_token_id = _special_id_property("mask_token")
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

    def get_lang_id(self, lang: str) -> int:
        return self.lang_token_to_id[self.get_lang_token(lang)]

    def _switch_to_input_mode(self) -> None:
        self.set_src_lang_special_tokens(self.src_lang)

    @property
    def language_names(self) -> dict[str, str]:
        """Code -> English name of every language code of this tokenizer (the code itself where none is known)."""
        return {code: self._language_name_table.get(code, code) for code in self.lang_code_to_id}

    def _language_choices(self) -> str | list[str]:
        """Hook: what an unknown-language error suggests from (a code-set name or the codes)."""
        return list(self.lang_code_to_token)

    def get_lang_token(self, lang: str) -> str:
        """The token of language code `lang`. Raises LanguageError (a ValueError) naming it, with close codes."""
        try:
            return self.lang_code_to_token[lang]
        except (KeyError, TypeError):
            raise unsupported_language_error(lang, self._language_choices()) from None

    def _language_tokens(self, lang_id: int) -> None:
        """Hook: the current mode's tokens around a sequence; by default `[lang_id] tokens </s>`."""
        self.cur_lang_id = lang_id
        self.prefix_tokens = [lang_id]
        self.suffix_tokens = [self.eos_token_id]

    def set_src_lang_special_tokens(self, src_lang: str) -> None:
        """Source mode: sequences carry `src_lang`'s token. Raises LanguageError for an unknown code."""
        self._language_tokens(self.get_lang_id(src_lang))

    def set_tgt_lang_special_tokens(self, tgt_lang: str) -> None:
        """Target mode (labels): sequences carry `tgt_lang`'s token. Raises LanguageError for an unknown code."""
        self._language_tokens(self.get_lang_id(tgt_lang))

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
        if self._strip:
            # Added tokens with lstrip/rstrip eat the whitespace beside them (transformers' AddedToken flags).
            for i, part in enumerate(out):
                if isinstance(part, int):
                    lstrip, rstrip = self._strip.get(self._added_decoder[part], (False, False))
                    if lstrip and i > 0 and isinstance(out[i - 1], str):
                        out[i - 1] = out[i - 1].rstrip()
                    if rstrip and i + 1 < len(out) and isinstance(out[i + 1], str):
                        out[i + 1] = out[i + 1].lstrip()
            out = [part for part in out if part != ""]
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
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 0:
            raise ValueError(f"stride must be a non-negative integer, not {stride!r}")
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
            return_length=return_length, split_special_tokens=split_special_tokens, stride=int(stride),
            # as transformers' python tokenizers: overflow is returned with python lists only
            return_overflowing_tokens=bool(return_overflowing_tokens) and tensor_kind is None,
            check_overflow_pairs=bool(return_overflowing_tokens),
        )
        if text_target is not None:
            self._check_target_language()
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
                     return_special_tokens_mask, return_length, split_special_tokens, stride=0,
                     return_overflowing_tokens=False, check_overflow_pairs=False) -> BatchEncoding:
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
        # Per sequence (removed tokens + stride context, how many were removed); None where nothing was cut.
        # transformers returns the fields only when something was cut and fails on a batch where some
        # sequences overflowed and others not; here those get [] and 0 so the batch stays aligned.
        cuts: list[tuple[list[int], int] | None] = []
        for first_spec, second_spec in examples:
            ids, pair_ids = ids_of(first_spec), ids_of(second_spec)
            if check_overflow_pairs and trunc == "longest_first" and pair_ids is not None:
                raise ValueError(
                    "return_overflowing_tokens=True cannot return the overflow of a pair of sequences truncated "
                    "with 'longest_first'; use truncation='only_first' or 'only_second'."
                )
            total = len(ids) + (len(pair_ids) if pair_ids is not None else 0) + n_special
            if trunc != "do_not_truncate" and max_length and total > max_length:
                ids, pair_ids, cut = self._truncate(ids, pair_ids, total - max_length, trunc, stride)
                cuts.append((cut, total - max_length) if cut else None)
            else:
                cuts.append(None)
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
        overflow: dict[str, list] = {}
        if return_overflowing_tokens and any(cut is not None for cut in cuts):
            overflow["overflowing_tokens"] = [cut[0] if cut else [] for cut in cuts]
            overflow["num_truncated_tokens"] = [cut[1] if cut else 0 for cut in cuts]
        if not is_batched:
            return self._finish_single(rows[0], type_rows, special_rows, want_types, return_special_tokens_mask,
                                       want_mask, return_length, pad, max_length, pad_to_multiple_of,
                                       padding_side, tensor_kind, {k: v[0] for k, v in overflow.items()})
        return self._finish_batch(rows, type_rows, special_rows, lengths, want_types, return_special_tokens_mask,
                                  want_mask, return_length, pad, max_length, pad_to_multiple_of, padding_side,
                                  tensor_kind, overflow)

    def _truncate(self, ids: list[int], pair_ids: list[int] | None, remove: int, trunc: str, stride: int = 0):
        """transformers' truncate_sequences: (ids, pair_ids, overflow), where overflow is the removed tokens
        plus `stride` tokens of context next to them (empty for a pair truncated 'longest_first')."""
        left = self.truncation_side == "left"
        cut: list[int] = []
        if trunc == "only_first" or (trunc == "longest_first" and pair_ids is None):
            window = min(len(ids), stride + remove)
            cut = ids[:window] if left else ids[-window:] if window else []
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
            window = min(len(pair_ids), stride + remove)
            cut = pair_ids[:window] if left else pair_ids[-window:] if window else []
            pair_ids = pair_ids[remove:] if left else pair_ids[:-remove]
        return ids, pair_ids, cut

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
                       max_length, multiple, side, tensor_kind, overflow=None) -> BatchEncoding:
        data: dict[str, Any] = {"input_ids": row}
        if want_types:
            data["token_type_ids"] = type_rows[0]
        if want_special:
            data["special_tokens_mask"] = special_rows[0]
        data.update(overflow or {})
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
                      want_length, pad, max_length, multiple, side, tensor_kind, overflow=None) -> BatchEncoding:
        data: dict[str, Any] = {"input_ids": rows}
        if want_types:
            data["token_type_ids"] = type_rows
        if want_special:
            data["special_tokens_mask"] = special_rows
        data.update(overflow or {})
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
        specials = self._special_token_set
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


__all__ = ["BatchEncoding", "LARGE_INTEGER", "SPECIAL_TOKENS_ATTRIBUTES", "TokenizerCore", "VERY_LARGE_INTEGER"]
