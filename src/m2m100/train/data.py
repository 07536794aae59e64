"""Training data: streamed parallel-text readers, token-budget batching and a replayable batch order.

Files are read in chunks of `shuffle_buffer` pairs, never whole, so memory stays bounded whatever the file size.
Each chunk is shuffled, sorted by length, cut into token-budget batches, and the batches are shuffled, all with
an RNG seeded by (seed, epoch, chunk index). The batch order is therefore a pure function of the file and the
seed: a `DataPosition` (epoch, chunk index, the chunk's byte offset and line, batches already taken from it) is
all a checkpoint needs to continue exactly where it stopped, without re-reading what came before.

Formats (chosen by file name, `.gz` allowed, or explicitly):
- TSV: `source<TAB>target`, or `source<TAB>target<TAB>source_lang<TAB>target_lang` for several pairs in one file.
- JSONL: one object per line; the texts under `source_field`/`target_field`, and optionally the languages
  under `source_lang_field`/`target_lang_field`.
Rows without their own languages use the run's `source_lang`/`target_lang`.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..errors import DataFormatError, LanguageError
from ..languages import normalize_language

FORMATS = ("tsv", "jsonl")
_SUFFIXES = {".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class DataSpec:
    """Where the pairs are and how to read them."""

    path: Path
    format: str = "auto"
    source_lang: str | None = None
    target_lang: str | None = None
    source_field: str = "source"
    target_field: str = "target"
    source_lang_field: str = "source_lang"
    target_lang_field: str = "target_lang"

    def resolved(self) -> "DataSpec":
        """A copy with the format decided and the file checked (readable errors before any training starts)."""
        path = Path(self.path)
        if not path.is_file():
            raise DataFormatError(f"data file not found: {path}")
        return DataSpec(**{**asdict(self), "path": path, "format": detect_format(path, self.format)})


@dataclass(frozen=True)
class Pair:
    source: str
    target: str
    source_lang: str
    target_lang: str


@dataclass(frozen=True)
class DataPosition:
    """The next batch to take: epoch, chunk index, the chunk's first byte and line, batches of it already taken."""

    epoch: int = 0
    chunk: int = 0
    offset: int = 0
    line: int = 0
    batch: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DataPosition":
        return cls(**{key: int(data[key]) for key in ("epoch", "chunk", "offset", "line", "batch")})


@dataclass
class Chunk:
    index: int
    offset: int
    line: int
    end_offset: int
    end_line: int
    pairs: list[Pair]


@dataclass
class Batch:
    input_ids: torch.Tensor       # (n, src_len), padded with pad_token_id
    attention_mask: torch.Tensor  # (n, src_len)
    labels: torch.Tensor          # (n, tgt_len) = [tgt_lang] tokens </s>, padded with -100
    n_tokens: int                 # target tokens that count in the loss

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device), self.n_tokens)


@dataclass
class DataStats:
    """What the reader dropped, reported in the training log."""

    pairs: int = 0
    empty: int = 0
    too_long: int = 0
    counted_chunks: set = field(default_factory=set)

    def to_dict(self) -> dict[str, int]:
        return {"pairs": self.pairs, "skipped_empty": self.empty, "skipped_too_long": self.too_long}


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------
def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise DataFormatError(f"unknown data format {fmt!r}: use one of {', '.join(FORMATS)} or 'auto'")
        return fmt
    name = Path(path).name.lower().removesuffix(".gz")
    found = _SUFFIXES.get(Path(name).suffix)
    if found is None:
        raise DataFormatError(
            f"cannot tell the format of {path} from its name: name it .tsv or .jsonl, or pass --format tsv|jsonl"
        )
    return found


def open_binary(path: Path):
    """A seekable binary handle; gzip files are decompressed on the fly (seeking re-reads them, still correct)."""
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def iter_lines(path: Path, offset: int = 0, line: int = 0) -> Iterator[tuple[int, int, str]]:
    """(line number, byte offset after the line, text without the line break) from `offset` on."""
    with open_binary(path) as handle:
        if offset:
            handle.seek(offset)
        while True:
            raw = handle.readline()
            if not raw:
                return
            line += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"{path}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            yield line, handle.tell(), text.rstrip("\r\n")


class PairParser:
    """Turns one line of a resolved DataSpec into a Pair (or None for a blank line); errors name file and line."""

    def __init__(self, spec: DataSpec, language_codes: Sequence[str]):
        self.spec = spec
        self.codes = list(language_codes)
        self._langs: dict[str, str] = {}
        self.default_source = self._language(spec.source_lang, "source language", None) if spec.source_lang else None
        self.default_target = self._language(spec.target_lang, "target language", None) if spec.target_lang else None

    def _language(self, value: object, what: str, line: int | None) -> str:
        key = str(value)
        if key not in self._langs:
            try:
                if not isinstance(value, str):
                    raise LanguageError(f"expected a language code string, got {value!r}")
                self._langs[key] = normalize_language(value, self.codes)
            except LanguageError as exc:
                where = f"{self.spec.path}:{line}: " if line is not None else ""
                raise LanguageError(f"{where}{what}: {exc}") from None
        return self._langs[key]

    def _languages(self, source_lang, target_lang, line: int) -> tuple[str, str]:
        if source_lang is None and self.default_source is None or target_lang is None and self.default_target is None:
            raise DataFormatError(
                f"{self.spec.path}:{line}: the row names no language and no default was given "
                "(pass --source and --target, or give each row its languages)"
            )
        src = self._language(source_lang, "source language", line) if source_lang is not None else self.default_source
        tgt = self._language(target_lang, "target language", line) if target_lang is not None else self.default_target
        return src, tgt

    def parse(self, text: str, line: int) -> Pair | None:
        if not text.strip():
            return None
        if self.spec.format == "tsv":
            columns = text.split("\t")
            if len(columns) == 2:
                src_lang = tgt_lang = None
            elif len(columns) == 4:
                src_lang, tgt_lang = columns[2].strip(), columns[3].strip()
            else:
                raise DataFormatError(
                    f"{self.spec.path}:{line}: expected 2 tab-separated columns (source, target) or 4 "
                    f"(source, target, source language, target language), found {len(columns)}"
                )
            src_lang, tgt_lang = self._languages(src_lang, tgt_lang, line)
            return Pair(columns[0].strip(), columns[1].strip(), src_lang, tgt_lang)
        try:
            row = json.loads(text)
        except ValueError as exc:
            raise DataFormatError(f"{self.spec.path}:{line}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DataFormatError(f"{self.spec.path}:{line}: expected a JSON object, found {type(row).__name__}")
        texts = []
        for name in (self.spec.source_field, self.spec.target_field):
            value = row.get(name)
            if not isinstance(value, str):
                found = "missing" if value is None else f"a {type(value).__name__}"
                raise DataFormatError(f"{self.spec.path}:{line}: field {name!r} should be a string, it is {found}")
            texts.append(value.strip())
        src_lang, tgt_lang = self._languages(
            row.get(self.spec.source_lang_field), row.get(self.spec.target_lang_field), line
        )
        return Pair(texts[0], texts[1], src_lang, tgt_lang)


def read_chunks(
    spec: DataSpec, size: int, language_codes: Sequence[str], start: DataPosition = DataPosition()
) -> Iterator[Chunk]:
    """Consecutive chunks of up to `size` pairs, the first one beginning at `start` (offset, line, chunk index)."""
    parser = PairParser(spec, language_codes)
    index, offset, line = start.chunk, start.offset, start.line
    pairs: list[Pair] = []
    end_offset, end_line = offset, line
    for line_no, after, text in iter_lines(spec.path, offset, line):
        pair = parser.parse(text, line_no)
        end_offset, end_line = after, line_no
        if pair is not None:
            pairs.append(pair)
        if len(pairs) >= size:
            yield Chunk(index, offset, line, end_offset, end_line, pairs)
            index, offset, line, pairs = index + 1, end_offset, end_line, []
    if pairs:
        yield Chunk(index, offset, line, end_offset, end_line, pairs)


# ---------------------------------------------------------------------------------------------------------------
# Tokenising and batching
# ---------------------------------------------------------------------------------------------------------------
def encode_pairs(
    tokenizer, pairs: Sequence[Pair], max_source_length: int, max_target_length: int, stats: DataStats | None = None
) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per usable pair, in order. Empty and over-long pairs are dropped (and counted), not cut:
    a truncated target would teach the model to stop mid-sentence."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault((pair.source_lang, pair.target_lang), []).append(i)
    encoded: dict[int, tuple[list[int], list[int]]] = {}
    empty = too_long = 0
    for (src_lang, tgt_lang), indices in groups.items():
        tokenizer.src_lang, tokenizer.tgt_lang = src_lang, tgt_lang
        keep = [i for i in indices if pairs[i].source and pairs[i].target]
        empty += len(indices) - len(keep)
        if not keep:
            continue
        enc = tokenizer([pairs[i].source for i in keep], text_target=[pairs[i].target for i in keep])
        for i, ids, labels in zip(keep, enc["input_ids"], enc["labels"]):
            if len(ids) > max_source_length or len(labels) > max_target_length:
                too_long += 1
                continue
            encoded[i] = (list(ids), list(labels))
    if stats is not None:
        stats.empty += empty
        stats.too_long += too_long
        stats.pairs += len(encoded)
    return [encoded[i] for i in sorted(encoded)]


def make_batches(
    lengths: Sequence[int], max_tokens: int, max_sentences: int | None = None, rng: random.Random | None = None
) -> list[list[int]]:
    """Index batches whose padded size (sentences x longest side) stays within `max_tokens`.

    Sorting by length keeps padding low; with `rng`, ties are broken randomly and the batch order is shuffled.
    A single example longer than the budget gets a batch of its own rather than being dropped.
    """
    order = list(range(len(lengths)))
    if rng is not None:
        rng.shuffle(order)
    order.sort(key=lambda i: lengths[i])  # stable: shuffled ties stay shuffled
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        grown = max(longest, lengths[i])
        if current and ((len(current) + 1) * grown > max_tokens or (max_sentences and len(current) >= max_sentences)):
            batches.append(current)
            current, grown = [], lengths[i]
        current.append(i)
        longest = grown
    if current:
        batches.append(current)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_token_id: int) -> Batch:
    n = len(examples)
    src_len = max(len(src) for src, _ in examples)
    tgt_len = max(len(tgt) for _, tgt in examples)
    input_ids = torch.full((n, src_len), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, src_len), dtype=torch.long)
    labels = torch.full((n, tgt_len), -100, dtype=torch.long)
    for row, (src, tgt) in enumerate(examples):
        input_ids[row, : len(src)] = torch.tensor(src)
        attention_mask[row, : len(src)] = 1
        labels[row, : len(tgt)] = torch.tensor(tgt)
    return Batch(input_ids, attention_mask, labels, sum(len(tgt) for _, tgt in examples))


@dataclass
class BatchOptions:
    max_tokens: int = 4096
    max_sentences: int | None = None
    max_source_length: int = 256
    max_target_length: int = 256
    shuffle_buffer: int = 100_000
    seed: int = 1


class BatchStream:
    """Training batches in a deterministic order, each with the DataPosition just after it.

    Iterates until `epochs` epochs are done (forever when None). Every process of a distributed run iterates the
    same stream (so the batches do not depend on the number of processes) and trains on its share of each step.
    """

    def __init__(self, spec: DataSpec, tokenizer, options: BatchOptions, epochs: int | None = None,
                 start: DataPosition = DataPosition()):
        self.spec = spec.resolved()
        self.tokenizer = tokenizer
        self.options = options
        self.epochs = epochs
        self.start = start
        self.stats = DataStats()
        self.codes = language_codes_of(tokenizer)

    def chunk_batches(self, epoch: int, chunk: Chunk) -> tuple[list[tuple[list[int], list[int]]], list[list[int]]]:
        o = self.options
        first_visit = chunk.index not in self.stats.counted_chunks  # count each chunk's pairs once, not per epoch
        examples = encode_pairs(self.tokenizer, chunk.pairs, o.max_source_length, o.max_target_length,
                                self.stats if first_visit else None)
        self.stats.counted_chunks.add(chunk.index)
        rng = random.Random(f"{o.seed}:{epoch}:{chunk.index}")
        batches = make_batches([max(len(s), len(t)) for s, t in examples], o.max_tokens, o.max_sentences, rng)
        return examples, batches

    def __iter__(self) -> Iterator[tuple[Batch, DataPosition]]:
        pad = self.tokenizer.pad_token_id
        position = self.start
        while self.epochs is None or position.epoch < self.epochs:
            epoch, produced = position.epoch, position.offset > 0 or position.batch > 0
            for chunk in read_chunks(self.spec, self.options.shuffle_buffer, self.codes, position):
                examples, batches = self.chunk_batches(epoch, chunk)
                first = position.batch if chunk.index == position.chunk else 0
                for b in range(first, len(batches)):
                    produced = True
                    if b + 1 < len(batches):
                        after = DataPosition(epoch, chunk.index, chunk.offset, chunk.line, b + 1)
                    else:
                        after = DataPosition(epoch, chunk.index + 1, chunk.end_offset, chunk.end_line, 0)
                    yield collate([examples[i] for i in batches[b]], pad), after
            if not produced:
                raise DataFormatError(f"{self.spec.path}: no usable sentence pairs (all rows empty or too long?)")
            position = DataPosition(epoch + 1)


def iter_eval_batches(spec: DataSpec, tokenizer, options: BatchOptions) -> Iterator[Batch]:
    """Validation batches: the whole file once, sorted by length, nothing shuffled."""
    spec = spec.resolved()
    codes = language_codes_of(tokenizer)
    for chunk in read_chunks(spec, options.shuffle_buffer, codes):
        examples = encode_pairs(tokenizer, chunk.pairs, options.max_source_length, options.max_target_length)
        for batch in make_batches([max(len(s), len(t)) for s, t in examples], options.max_tokens, options.max_sentences):
            yield collate([examples[i] for i in batch], tokenizer.pad_token_id)


def count_batches(spec: DataSpec, tokenizer, options: BatchOptions) -> int:
    """Batches in one epoch (the same in every epoch: chunks hold the same pairs, only their order changes)."""
    stream = BatchStream(spec, tokenizer, options, epochs=1)
    return sum(len(stream.chunk_batches(0, chunk)[1]) for chunk in read_chunks(stream.spec, options.shuffle_buffer, stream.codes))


def language_codes_of(tokenizer) -> list[str]:
    codes = getattr(tokenizer, "lang_code_to_id", None)
    if not codes:
        raise DataFormatError("the tokenizer has no language codes; is this an M2M100 tokenizer?")
    return list(codes)


__all__: Iterable[str] = [
    "DataSpec", "Pair", "DataPosition", "Batch", "BatchOptions", "BatchStream", "DataStats", "detect_format",
    "read_chunks", "encode_pairs", "make_batches", "collate", "iter_eval_batches", "count_batches",
]
