"""Input records: the lines of a text, JSONL or TSV input, what to translate in each, and how the output line is
rebuilt around the translation. `LineFormat` parses and renders; `chunks` cuts an input into the
`--chunk-lines` blocks that the local job and the Ray job translate and save one at a time."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any, BinaryIO

from .base import CommandError, UsageError
from .outputs import open_input

FORMATS = ("text", "jsonl", "tsv")


@dataclass
class Record:
    """One input line: `text` to translate (None: copy `raw` unchanged) and how to rebuild the output line."""

    raw: str
    ending: str
    text: str | None = None
    obj: Any = None  # text: the BOM before it; JSONL: the object; TSV: the cells


@dataclass
class Scan:
    """One pass over an input file: every line parsed, the file's SHA-256, and per block the number of lines and
    the texts to translate (`texts` holds them only when asked for)."""

    lines: int = 0
    sha256: str = ""
    block_lines: list[int] = dataclass_field(default_factory=list)
    sizes: list[int] = dataclass_field(default_factory=list)  # texts per block
    texts: list[list[str]] | None = None


class LineFormat:
    """Text (every line is a text), JSONL (`field` of each object; the translation goes to `output_field`) or
    TSV (`column`, as --column gives it: a 1-based number, or a header name: the first non-blank line is then
    the header). UsageError for a bad column."""

    def __init__(self, fmt: str, *, field: str | None = None, output_field: str | None = None,
                 column: str | None = None, errors: str = "strict"):
        self.fmt = fmt
        self.field = field or "text"
        self.output_field = output_field or self.field
        self.column_arg = column
        self.column = parse_column(column) if fmt == "tsv" else None  # a 0-based index or a header name
        self.errors = errors
        self.header_index: int | None = self.column if isinstance(self.column, int) else None

    def fingerprint(self) -> dict[str, Any]:
        """The settings that decide the output lines, for the resume state."""
        return {"format": self.fmt, "field": self.field, "output_field": self.output_field,
                "column": self.column_arg, "errors": self.errors}

    # ---- parsing ----------------------------------------------------------------------------------
    def parse(self, raw_bytes: bytes, number: int, where: str) -> Record:
        """One input line (with its line ending); CommandError names the line of bad input."""
        line_bytes, ending_bytes = split_ending(raw_bytes)
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.errors == "strict":
                raise CommandError(
                    f"{where}line {number}: invalid UTF-8 (byte 0x{line_bytes[exc.start]:02x} at column "
                    f"{exc.start + 1}); use --errors replace to substitute U+FFFD"
                ) from None
            line = line_bytes.decode("utf-8", "replace")
        ending = ending_bytes.decode("ascii")
        bom = ""
        if number == 1 and line.startswith("\ufeff"):
            bom, line = "\ufeff", line[1:]
        if self.fmt == "text":
            return Record(raw=bom + line, ending=ending, text=line, obj=bom)
        if not line.strip():
            return Record(raw=bom + line, ending=ending)
        if self.fmt == "jsonl":
            return self._parse_jsonl(line, bom, ending, number, where)
        cells = line.split("\t")
        if self.header_index is None:  # a column name: this first non-blank line is the header
            if self.column not in cells:
                raise CommandError(f"{where}line {number}: no column named {self.column!r} in the header")
            self.header_index = cells.index(self.column)
            return Record(raw=bom + line, ending=ending)
        if self.header_index >= len(cells):
            raise CommandError(
                f"{where}line {number}: {len(cells)} column(s), but --column needs column {self.header_index + 1}"
            )
        return Record(raw=bom + line, ending=ending, text=cells[self.header_index], obj=cells)

    def _parse_jsonl(self, line: str, bom: str, ending: str, number: int, where: str) -> Record:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise CommandError(f"{where}line {number}: invalid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise CommandError(f"{where}line {number}: expected a JSON object, got {type(obj).__name__}")
        if self.field not in obj:
            raise CommandError(f"{where}line {number}: no field {self.field!r} (choose one with --field)")
        value = obj[self.field]
        if value is None:
            return Record(raw=bom + line, ending=ending, obj=obj)
        if not isinstance(value, str):
            raise CommandError(f"{where}line {number}: field {self.field!r} is {type(value).__name__}, not a string")
        return Record(raw=bom + line, ending=ending, text=value, obj=obj)

    # ---- rendering --------------------------------------------------------------------------------
    def render(self, record: Record, translation: str | None) -> str:
        """The output line of `record` (with its line ending) carrying `translation`."""
        if record.text is None or translation is None:
            return record.raw + record.ending
        if self.fmt == "text":
            if translation == record.text:
                return record.raw + record.ending
            return record.obj + one_line_text(translation) + record.ending
        prefix = record.raw[:1] if record.raw.startswith("\ufeff") else ""
        if self.fmt == "jsonl":
            obj = dict(record.obj)
            obj[self.output_field] = translation
            return prefix + json.dumps(obj, ensure_ascii=False) + record.ending
        cells = list(record.obj)
        cells[self.header_index] = re.sub(r"[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", " ", translation)
        return prefix + "\t".join(cells) + record.ending

    def render_block(self, records: list[Record], translations: list[str]) -> str:
        """The output lines of a block: `translations` go, in order, to the records that have a text."""
        results = iter(translations)
        return "".join(self.render(r, next(results) if r.text is not None else None) for r in records)

    # ---- reading ----------------------------------------------------------------------------------
    def chunks(self, handle: BinaryIO, chunk_lines: int, where: str = "") -> Iterator[tuple[list[Record], bytes]]:
        """(records, the raw input bytes they came from) per block of `chunk_lines` lines, from line 1."""
        self.header_index = self.column if isinstance(self.column, int) else None
        records: list[Record] = []
        raws: list[bytes] = []
        for number, raw in enumerate(handle, 1):
            records.append(self.parse(raw, number, where))
            raws.append(raw)
            if len(records) >= chunk_lines:
                yield records, b"".join(raws)
                records, raws = [], []
        if records:
            yield records, b"".join(raws)

    def scan(self, path: Path, chunk_lines: int, keep_texts: bool = False) -> Scan:
        """Parse every line of `path` once (UTF-8, JSON, columns), so that bad input fails before any model
        time; its blocks, and its SHA-256."""
        scan = Scan(texts=[] if keep_texts else None)
        hasher = hashlib.sha256()
        with open_input(path) as handle:
            for records, raw in self.chunks(handle, chunk_lines, f"{path}: "):
                hasher.update(raw)
                texts = [r.text for r in records if r.text is not None]
                scan.lines += len(records)
                scan.block_lines.append(len(records))
                scan.sizes.append(len(texts))
                if scan.texts is not None:
                    scan.texts.append(texts)
        scan.sha256 = hasher.hexdigest()
        return scan


def parse_column(value: str | None) -> int | str:
    """--column: a 0-based index (given 1-based) or a header name."""
    if value is None:
        return 0
    value = value.strip()
    if value.isdigit():
        if int(value) < 1:
            raise UsageError(f"--column numbers start at 1, got {value}")
        return int(value) - 1
    if not value:
        raise UsageError("--column must be a number or a header name")
    return value


def check_argument(text: str, index: int, errors: str) -> str:
    """A TEXT argument; undecodable bytes in argv arrive as lone surrogates (surrogateescape)."""
    if re.search(r"[\udc80-\udcff]", text):
        if errors == "strict":
            raise CommandError(f"argument {index}: invalid UTF-8 (use --errors replace to substitute U+FFFD)")
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


_BREAKS = re.compile(r"\r\n|[\n\r]")


def one_line_text(text: str) -> str:
    """A translation as exactly one output line (other separators such as U+2028 were in the input, and stay)."""
    return _BREAKS.sub(" ", text)


def split_ending(raw: bytes) -> tuple[bytes, bytes]:
    if raw.endswith(b"\r\n"):
        return raw[:-2], b"\r\n"
    if raw.endswith(b"\n"):
        return raw[:-1], b"\n"
    return raw, b""
