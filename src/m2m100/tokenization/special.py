"""Special and added tokens: the named special tokens (`bos_token`, ...), the extra special tokens, tokens
added after the vocabulary, and the token <-> id lookups that see all of them.

Added tokens are kept in one table (`_new_tokens`: token -> (id, special, lstrip, rstrip)) from which every
lookup table is rebuilt after a change, rather than patched in place: changes are rare (construction,
add_tokens) and the rebuilt tables (one compiled split pattern, id sets) make encoding cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import CheckpointError
from .encoding import to_python

# The named special tokens every family has; one its vocabulary lacks is added after the vocabulary.
NAMED_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token")
# transformers' full list of named special tokens; M2M100 has no cls or mask token (they are None).
SPECIAL_TOKENS_ATTRIBUTES = (*NAMED_SPECIAL_TOKENS, "cls_token", "mask_token")


def token_str(value) -> str | None:
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


def added_token_entry(token, special: bool) -> dict[str, Any]:
    """A token given to add_tokens (str, AddedToken or its dict) as a saved added_tokens_decoder entry."""
    if isinstance(token, str):
        return {"content": token, "lstrip": False, "rstrip": False, "special": special}
    content = token_str(token) if isinstance(token, Mapping) else getattr(token, "content", None)
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
            entry = added_token_entry(entry, False)
        if not isinstance(entry.get("content"), str):
            raise CheckpointError(f"added_tokens_decoder entry {key} has no token text (content)")
        out.append((index, dict(entry)))
    return sorted(out, key=lambda item: item[0])


def _is_token(value) -> bool:
    return isinstance(value, str) or isinstance(getattr(value, "content", None), str)


def _special_token_property(attr: str) -> property:
    """`tok.bos_token` (None when unset); assigning a string sets it, as in transformers (no id is added)."""

    def get(self):
        return self._special_tokens_map[attr]

    def set(self, value):
        if value is not None and not _is_token(value):
            raise ValueError(f"Cannot set a non-string value as the {attr}")
        self._special_tokens_map[attr] = token_str(value) if value is not None else None
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



class SpecialTokensMixin:
    """The special- and added-token vocabulary of TokenizerCore. It reads the base vocabulary and language
    tables a family sets (`encoder`, `decoder`, `lang_token_to_id`, ...) and the hooks `_uses_spm`,
    `_add_to_backend`, `_ignored_extra_tokens`; only usable as part of TokenizerCore."""

    @staticmethod
    def _named_special_map(bos, eos, unk, sep, pad, cls, mask) -> dict[str, str | None]:
        return {
            "bos_token": token_str(bos), "eos_token": token_str(eos), "unk_token": token_str(unk),
            "sep_token": token_str(sep), "pad_token": token_str(pad), "cls_token": token_str(cls),
            "mask_token": token_str(mask),
        }

    def _init_added_tokens(self, added_tokens_decoder, additional_special_tokens) -> None:
        """The added-token part of construction, once the base vocabulary, language tables and special-token map
        are set: restore saved added tokens (with their saved ids), add the listed extras and the named specials
        the vocabulary lacks after it, and build the lookup tables."""
        self._build_special_tables()
        if self._uses_spm():
            for index, entry in _decoder_entries(added_tokens_decoder):
                self._restore_added_token(index, entry)
        self._extra_special_tokens = self._choose_extra_specials(additional_special_tokens)
        # a named special token the vocabulary lacks (e.g. no `<s>`) is added after it
        for attr in NAMED_SPECIAL_TOKENS:
            token = self._special_tokens_map[attr]
            if token is not None and self._known_id(token) is None:
                self._add_to_backend(token, special=True)
                self._new_tokens[token] = (self._next_id(), True, False, False)
                self._build_special_tables()
        self._build_special_tables()

    def _choose_extra_specials(self, given: Iterable[str] | None) -> list[str]:
        """The listed extra special tokens, then the language tokens. A listed token the vocabulary lacks is
        added after it (a token shaped like a language token becomes a language)."""
        extras: list[str] = []
        ignored = set(self._ignored_extra_tokens())
        for item in given or []:
            token = token_str(item)
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

    def _restore_added_token(self, index: int, entry: Mapping[str, Any]) -> None:
        """One entry of a saved added_tokens_decoder: tokens the vocabulary lacks keep their saved id."""
        token = token_str(entry)
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
            entry = added_token_entry(item, special_tokens)
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
                       if replace_extra_special_tokens or token_str(t) not in self._extra_special_tokens]
                names = [token_str(t) for t in new]
                if replace_extra_special_tokens and new:
                    self._extra_special_tokens = names
                else:
                    self._extra_special_tokens.extend(names)
                to_add.extend(new)
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                if not _is_token(value):
                    raise ValueError(f"Token {value!r} for key {key} should be a str or an AddedToken instance")
                self._special_tokens_map[key] = token_str(value)
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
        self._extra_special_tokens = [token_str(t) for t in value or []]
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
        ids = to_python(ids)
        if isinstance(ids, int):
            return self._id_to_token(ids)
        skip = self._all_special_ids_set if skip_special_tokens else ()
        return [self._id_to_token(int(index)) for index in ids if int(index) not in skip]


__all__ = [
    "NAMED_SPECIAL_TOKENS", "SPECIAL_TOKENS_ATTRIBUTES", "SpecialTokensMixin", "added_token_entry", "token_str",
]
