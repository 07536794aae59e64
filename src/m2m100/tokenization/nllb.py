"""NllbTokenizer: the tokenizer of NLLB-200 checkpoints (facebook/nllb-200-*), a drop-in for transformers'
NllbTokenizer / NllbTokenizerFast.

Ids follow fairseq: `<s> <pad> </s> <unk>` are 0-3, a sentencepiece piece has its sentencepiece id + 1, the 202
FLORES-200 codes (`eng_Latn`, ...) follow the sentencepiece vocabulary (`size + 1 + i`) and `<mask>` comes after
them. Sequences are `[src_lang] tokens </s>`, or `tokens </s> [src_lang]` with `legacy_behaviour=True`
(the layout of the original release); targets (`text_target=`) use `tgt_lang` the same way.

Two backends, chosen by the files:
- `tokenizer.json` (what hub checkpoints ship, transformers' fast tokenizer): read and run with the `tokenizers`
  library, so ids are those of NllbTokenizerFast.
- `sentencepiece.bpe.model` alone: sentencepiece encodes, as fairseq and transformers 4.x's slow tokenizer did.
  It agrees with tokenizer.json on ordinary text; it differs where the fast tokenizer keeps whitespace that
  sentencepiece removes (leading, trailing or repeated spaces). When both files exist, tokenizer.json wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..languages_nllb import NLLB_LANGUAGE_CODES, NLLB_LANGUAGE_NAMES
from .core import TokenizerCore
from .files import load_spm_bytes, make_spm, safe_file_name
from .special import SPECIAL_TOKENS_ATTRIBUTES, added_token_entry

VOCAB_FILES_NAMES = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3 in every fairseq dictionary
FAIRSEQ_OFFSET = 1  # model id of a sentencepiece piece = its sentencepiece id + 1


class NllbTokenizer(TokenizerCore):
    """Tokenizer of NLLB-200 checkpoints, a drop-in for transformers' `NllbTokenizer`/`NllbTokenizerFast`.

    Arguments are those of transformers: `vocab_file` (sentencepiece model) and/or `tokenizer_file`
    (tokenizer.json), `src_lang` (default "eng_Latn"), `tgt_lang`, the special tokens (`mask_token="<mask>"`,
    `cls_token="<s>"`), `legacy_behaviour`, `additional_special_tokens`, `sp_model_kwargs`, `model_max_length`,
    `clean_up_tokenization_spaces`, `padding_side`, `truncation_side`.

    Deliberate differences from transformers 5.24:
    - An unknown language code raises LanguageError (a ValueError) naming it, instead of silently using `<unk>`.
    - A bare sentencepiece file gives the hub layout (codes right after the vocabulary, then `<mask>`);
      transformers 5.24 builds `<mask>` first and the codes one id later from such a file.
    - `return_overflowing_tokens` returns the python tokenizers' fields (`overflowing_tokens`,
      `num_truncated_tokens`), not the fast tokenizer's extra rows.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    # An added token shaped like a FLORES code (`xxx_Yyyy`) becomes a new language code.
    language_token_pattern = re.compile(r"([a-z]{2,3}_[A-Z][a-z]{3})")
    _saved_class_name = "NllbTokenizer"
    _saved_settings = ("src_lang", "tgt_lang", "legacy_behaviour", "sp_model_kwargs", "model_max_length",
                       "clean_up_tokenization_spaces", "padding_side", "truncation_side", "split_special_tokens")
    # no defaults: only the names the saved files give are kept out of additional_special_tokens
    _named_token_defaults = tuple((attr, None) for attr in SPECIAL_TOKENS_ATTRIBUTES)
    _default_src_lang = "eng_Latn"
    _language_name_table = NLLB_LANGUAGE_NAMES

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        tokenizer_file: str | os.PathLike | None = None,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        bos_token: str = "<s>",
        eos_token: str = "</s>",
        sep_token: str = "</s>",
        cls_token: str = "<s>",
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        mask_token: str = "<mask>",
        sp_model_kwargs: dict[str, Any] | None = None,
        additional_special_tokens: Iterable[str] | None = None,
        legacy_behaviour: bool = False,
        model_max_length: int | None = None,
        clean_up_tokenization_spaces: bool = False,
        padding_side: str = "right",
        truncation_side: str = "right",
        split_special_tokens: bool = False,
        name_or_path: str = "",
        added_tokens_decoder: Mapping[Any, Any] | None = None,
        **kwargs,
    ) -> None:
        if vocab_file is None and tokenizer_file is None:
            raise CheckpointError("NllbTokenizer needs vocab_file (sentencepiece.bpe.model) or tokenizer_file "
                                  "(tokenizer.json)")
        self._init_options(sp_model_kwargs=sp_model_kwargs, model_max_length=model_max_length,
                           clean_up_tokenization_spaces=clean_up_tokenization_spaces, padding_side=padding_side,
                           truncation_side=truncation_side, split_special_tokens=split_special_tokens,
                           name_or_path=name_or_path)
        additional_special_tokens = self._pop_extra_special_tokens(kwargs, additional_special_tokens)
        self.init_kwargs = dict(kwargs)  # unknown options (from configs written by other tools) are kept, unused
        self.vocab_file = str(vocab_file) if vocab_file is not None else None
        self.tokenizer_file = str(tokenizer_file) if tokenizer_file is not None else None
        self.spm_file = self.vocab_file or "sentencepiece.bpe.model"
        self.legacy_behaviour = bool(legacy_behaviour)
        self._special_tokens_map = self._named_special_map(bos_token, eos_token, unk_token, sep_token, pad_token,
                                                           cls_token, mask_token)
        self._new_tokens: dict[str, tuple[int, bool, bool, bool]] = {}
        self._extra_special_tokens: list[str] = []
        self.language_codes = "nllb"
        self.backend = None
        self._spm_bytes = b""
        if self.tokenizer_file is not None:
            self._init_from_tokenizer_json(self.tokenizer_file)
        else:
            self._init_from_sentencepiece(self.vocab_file)
        self.decoder = {index: token for token, index in self.encoder.items()}
        self.encoder_size = len(self.encoder)
        self._code_set_tokens = tuple(self.lang_token_to_id)
        self._finish_init(added_tokens_decoder, additional_special_tokens, src_lang, tgt_lang)

    def _uses_spm(self) -> bool:
        return self.backend is None  # tokenizer.json holds its own added tokens and their ids

    # ---------------------------------------------------------------------------------------------------------
    # The two backends
    # ---------------------------------------------------------------------------------------------------------

    def _init_from_sentencepiece(self, path: str) -> None:
        """fairseq's dictionary: the four specials, every sentencepiece piece at id + 1, then codes and mask."""
        self._spm_bytes = load_spm_bytes(path)
        sp = make_spm(self._spm_bytes, self.sp_model_kwargs, Path(path).name)
        size = sp.get_piece_size()
        encoder = {token: index for index, token in enumerate(FAIRSEQ_SPECIALS)}
        for index in range(size):
            if sp.is_control(index) or sp.is_unknown(index):
                continue  # `<unk>`, `<s>`, `</s>` of sentencepiece are fairseq's own ids 0-3
            encoder.setdefault(sp.id_to_piece(index), index + FAIRSEQ_OFFSET)
        self.encoder = encoder
        base = size + FAIRSEQ_OFFSET
        self._set_language_tables({code: base + i for i, code in enumerate(NLLB_LANGUAGE_CODES)})
        mask = self._special_tokens_map["mask_token"]
        if mask is not None and mask not in encoder:
            # transformers marks `<mask>` lstrip=True: it eats the space before it
            self._new_tokens[mask] = (base + len(NLLB_LANGUAGE_CODES), True, True, False)

    def _init_from_tokenizer_json(self, path: str) -> None:
        """Ids, codes and mask as tokenizer.json has them; encoding runs in the `tokenizers` library."""
        from tokenizers import Tokenizer

        try:
            backend = Tokenizer.from_file(str(path))
        except FileNotFoundError:
            raise CheckpointError(f"tokenizer file {Path(path).name} not found: {path}") from None
        except Exception as exc:  # tokenizers raises a plain Exception on a malformed file
            raise CheckpointError(f"tokenizer file {Path(path).name} is not a valid tokenizer.json ({path}): {exc}") \
                from None
        backend.no_padding()
        backend.no_truncation()
        self.backend = backend
        self.encoder = dict(backend.get_vocab(with_added_tokens=False))
        added = {int(index): token for index, token in backend.get_added_tokens_decoder().items()}
        by_content = {token.content: index for index, token in added.items()}
        codes = {code: by_content[code] for code in NLLB_LANGUAGE_CODES if code in by_content}
        if len(codes) != len(NLLB_LANGUAGE_CODES):
            missing = [code for code in NLLB_LANGUAGE_CODES if code not in by_content]
            raise CheckpointError(
                f"{Path(path).name} lacks {len(missing)} of the 202 NLLB language codes (e.g. {missing[:3]}); "
                "is this an NLLB tokenizer?"
            )
        self._set_language_tables(codes)
        for index, token in added.items():
            if token.content in self.encoder or token.content in codes:
                continue
            self._new_tokens[token.content] = (index, bool(token.special), bool(token.lstrip), bool(token.rstrip))
            self._register_language(token.content)

    def _set_language_tables(self, code_ids: Mapping[str, int]) -> None:
        self.lang_code_to_token = {code: code for code in code_ids}
        self.lang_token_to_id = dict(code_ids)
        self.lang_code_to_id = dict(code_ids)
        self.id_to_lang_token = {index: code for code, index in code_ids.items()}

    def _add_to_backend(self, token: str, special: bool, lstrip: bool = False, rstrip: bool = False) -> None:
        """Keep the tokenizers backend in step with a token added here (it must get the same id)."""
        if self.backend is None or self.backend.token_to_id(token) is not None:
            return
        from tokenizers import AddedToken

        added = AddedToken(token, special=special, lstrip=lstrip, rstrip=rstrip, normalized=not special)
        if special:
            self.backend.add_special_tokens([added])
        else:
            self.backend.add_tokens([added])

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """As `TokenizerCore.add_tokens`; with tokenizer.json the `tokenizers` backend learns the tokens too
        (and must give them the same ids: a mismatch raises CheckpointError instead of diverging)."""
        if self.backend is None or not new_tokens:
            return super().add_tokens(new_tokens, special_tokens=special_tokens)
        items = new_tokens if isinstance(new_tokens, (list, tuple)) else [new_tokens]
        entries = [added_token_entry(item, special_tokens) for item in items]
        fresh = [e for e in entries if e["content"] and self._known_id(e["content"]) is None]
        start = self._next_id()
        added = super().add_tokens(new_tokens, special_tokens=special_tokens)
        seen: set[str] = set()
        for entry in fresh:
            token = entry["content"]
            if token in seen:
                continue
            seen.add(token)
            self._add_to_backend(token, entry["special"] or token in self._special_token_set,
                                 entry["lstrip"], entry["rstrip"])
            ours, theirs = self._known_id(token), self.backend.token_to_id(token)
            if ours != theirs or not start <= ours:
                raise CheckpointError(f"tokenizer.json gave the added token {token!r} id {theirs}, expected {ours}")
        return added

    def _encode_texts(self, texts: list[str], split_special_tokens: bool) -> list[list[int]]:
        if self.backend is None:
            return super()._encode_texts(texts, split_special_tokens)
        if not texts:
            return []
        self.backend.encode_special_tokens = bool(split_special_tokens)
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        return [encoding.ids for encoding in encodings]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False,
                 split_special_tokens: bool | None = None, **kwargs) -> list[str]:
        """Tokens of `text` (special tokens in it kept whole; no language/eos added)."""
        if self.backend is None:
            return super().tokenize(text, pair, add_special_tokens, split_special_tokens, **kwargs)
        if not isinstance(text, str):
            raise TypeError(f"tokenize() takes a string, not {type(text).__name__}")
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        self.backend.encode_special_tokens = bool(split)
        return self.backend.encode(text, add_special_tokens=False).tokens

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["sp_model"] = None
        if self.backend is not None:
            state["backend"] = None
            state["_backend_json"] = self.backend.to_str()
        return state

    def __reduce_ex__(self, protocol):  # rebuild the tokenizers backend from its JSON after unpickling
        return (_rebuild, (self.__class__, self.__getstate__()))

    # ---------------------------------------------------------------------------------------------------------
    # ids -> text: the Metaspace rule of tokenizer.json (`▁` is a space; the first token loses it)
    # ---------------------------------------------------------------------------------------------------------

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Join tokens as the fast tokenizer's Metaspace decoder does: `▁` becomes a space, except at the
        start of the first token."""
        out = []
        for i, token in enumerate(tokens):
            out.append(token.replace("▁", "") if i == 0 else token.replace("▁", " "))
        return "".join(out)

    # ---------------------------------------------------------------------------------------------------------
    # Languages
    # ---------------------------------------------------------------------------------------------------------

    def _language_choices(self) -> list[str]:
        return list(self.lang_code_to_token)

    def _language_tokens(self, lang_id: int) -> None:
        """`[lang] tokens </s>`, or `tokens </s> [lang]` with legacy_behaviour (transformers' cur_lang_code)."""
        self.cur_lang_code = lang_id
        if self.legacy_behaviour:
            self.prefix_tokens = []
            self.suffix_tokens = [self.eos_token_id, lang_id]
        else:
            self.prefix_tokens = [lang_id]
            self.suffix_tokens = [self.eos_token_id]

    def _check_target_language(self) -> None:
        if self.tgt_lang is None:  # as transformers: the source language doubles as target
            self.tgt_lang = self.src_lang

    # ---------------------------------------------------------------------------------------------------------
    # Loading and saving
    # ---------------------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *init_inputs,
                        use_fast: bool | None = None, **kwargs) -> NllbTokenizer:
        """Load from a directory or hub id: tokenizer.json when present (unless use_fast=False), else
        sentencepiece.bpe.model; tokenizer_config.json and special_tokens_map.json give the settings.
        Keyword arguments (revision, cache_dir, token, local_files_only, subfolder and __init__'s) override the
        saved settings. Raises CheckpointError when neither file exists."""
        return super().from_pretrained(pretrained_model_name_or_path, *init_inputs, use_fast=use_fast, **kwargs)

    @classmethod
    def _vocabulary_files(cls, name, fetch, config: Mapping[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """tokenizer.json (unless use_fast=False or a vocab_file is given), else sentencepiece.bpe.model."""
        use_fast = kwargs.pop("use_fast", None)
        json_path = None
        if use_fast is not False and "vocab_file" not in kwargs:
            json_path = fetch(safe_file_name(kwargs.pop("tokenizer_file", None) or VOCAB_FILES_NAMES["tokenizer_file"],
                                             "tokenizer_file"), required=False)
        spm_path = None
        if json_path is None:
            spm_name = safe_file_name(kwargs.pop("vocab_file", None) or VOCAB_FILES_NAMES["vocab_file"], "vocab_file")
            spm_path = fetch(spm_name, required=False)
            if spm_path is None:
                raise CheckpointError(f"{name} has neither tokenizer.json nor sentencepiece.bpe.model")
        return {"vocab_file": spm_path, "tokenizer_file": json_path}

    def save_vocabulary(self, save_directory: str | os.PathLike, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Write sentencepiece.bpe.model (when loaded from one) and/or tokenizer.json; return their paths."""
        from ..hub import atomic_write_bytes, atomic_write_text

        directory, prefix = self._vocabulary_target(save_directory, filename_prefix)
        out = []
        if self._spm_bytes:
            path = directory / (prefix + VOCAB_FILES_NAMES["vocab_file"])
            atomic_write_bytes(path, self._spm_bytes)
            out.append(str(path))
        if self.backend is not None:
            path = directory / (prefix + VOCAB_FILES_NAMES["tokenizer_file"])
            atomic_write_text(path, self.backend.to_str(pretty=True))
            out.append(str(path))
        return tuple(out)

    def _family_settings(self) -> dict[str, Any]:
        return {"legacy_behaviour": self.legacy_behaviour}

    def _repr_fields(self) -> dict[str, Any]:
        return {"backend": "tokenizer.json" if self.backend is not None else "sentencepiece",
                "vocab_size": self.vocab_size, "src_lang": repr(self.src_lang), "tgt_lang": repr(self.tgt_lang),
                "legacy_behaviour": self.legacy_behaviour}


def _rebuild(cls, state: dict) -> NllbTokenizer:
    obj = cls.__new__(cls)
    backend_json = state.pop("_backend_json", None)
    obj.__setstate__(state)
    if backend_json is not None:
        from tokenizers import Tokenizer

        obj.backend = Tokenizer.from_str(backend_json)
    return obj


__all__ = ["NllbTokenizer", "VOCAB_FILES_NAMES"]
