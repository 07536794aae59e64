"""The local line job of `m2m100 translate`: TEXT arguments, standard input, or an --input file of text, JSONL
or TSV lines, translated `--chunk-lines` lines at a time. A file job to a regular --output file is resumable
(m2m100.cli.resume): each block's translations are saved as it is translated, and the output is written
from the input and the saved blocks, complete or not at all."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ..progress import progress_bar
from .base import CommandError, UsageError, note
from .legacy import adopt
from .outputs import AtomicFile, ThroughFile, encode_out, open_input, open_special, write_stdout
from .records import LineFormat, Scan, one_line_text
from .resume import ResumeState


class LineJob:
    """Translate texts and lines with one Translator (source, target and generation options fixed)."""

    def __init__(self, line_format: LineFormat, source: str, target: str, generation: dict[str, Any], *,
                 chunk_lines: int, quiet: bool, details_path: str | None = None):
        self.format = line_format
        self.source = source
        self.target = target
        self.generation = generation
        self.chunk_lines = chunk_lines
        self.quiet = quiet
        self.translator: Any = None
        self.details_path = details_path
        self.details_count = 0  # texts whose details were written (the JSONL `item` numbers them from 1)
        if details_path is not None:
            Path(details_path).write_text("", encoding="utf-8")  # a new job starts a new file

    def translate(self, texts: list[str], progress: bool = False) -> list[str]:
        """Translations of `texts`; with --details-jsonl, their guard details are appended to that file, one
        JSON object per text: item (1-based over the job's translated texts), flags, retries, changed, score."""
        if not texts:
            return []
        if self.details_path is None:
            return self.translator.translate(texts, self.source, self.target, progress=progress, **self.generation)
        details = self.translator.translate(texts, self.source, self.target, progress=progress,
                                            return_details=True, **self.generation)
        lines = []
        for d in details:
            self.details_count += 1
            row = {"item": self.details_count, **d.to_dict()}
            row.pop("translation")
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        with open(self.details_path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
        return [d.translation for d in details]

    # ---- the three inputs --------------------------------------------------------------------------
    def run_texts(self, texts: list[str], output: Path | None, special: bool, show_progress: bool) -> int:
        """TEXT arguments: one output line each."""
        data = "".join(one_line_text(r) + "\n" for r in self.translate(texts, show_progress))
        if output is None:
            write_stdout(data)
        elif special:
            with open_special(output) as handle:
                handle.write(encode_out(data))
        else:
            from ..hub import atomic_write_bytes

            atomic_write_bytes(output, encode_out(data))
        return 0

    def run_stream(self, handle: BinaryIO, output: Path | None, special: bool, show_progress: bool,
                   total: int | None = None) -> int:
        """Standard input (or a file to standard output or a special file): translate block by block; to stdout
        as it goes, through a special file, or atomically to --output."""
        bar = progress_bar(total, show_progress, unit="line", desc="translating", leave=True)
        out = None if output is None else ThroughFile(output) if special else AtomicFile(output)
        try:
            for records, _ in self.format.chunks(handle, self.chunk_lines):
                text = self.format.render_block(records, self.translate([r.text for r in records
                                                                         if r.text is not None]))
                if out is None:
                    write_stdout(text)
                else:
                    out.append(encode_out(text))
                bar.update(len(records))
            if out is not None:
                out.commit()
        finally:
            bar.close()
            if out is not None:
                out.discard()
        return 0

    def run_file(self, path: Path, output: Path, scan: Scan, job: dict[str, Any], resume: bool,
                 show_progress: bool) -> int:
        """An --input file to a regular --output file, resumable by blocks."""
        state = ResumeState(output, self.quiet)
        adopt(state, job, self.format, path, self.chunk_lines, resume)
        done = state.start(job, scan.sizes, scan.block_lines, resume)
        bar = progress_bar(scan.lines, show_progress, unit="line", desc="translating", leave=True)
        bar.update(sum(scan.block_lines[i] for i in done))

        def translate_block(i: int, texts: list[str]) -> list[str]:
            translations = self.translate(texts)
            state.save(i, translations)
            bar.update(scan.block_lines[i])
            return translations

        try:
            write_output(self.format, path, self.chunk_lines, state, done, scan.sha256, translate_block)
        except BaseException as exc:
            bar.close()
            prefix = 0
            while prefix < len(scan.sizes) and prefix in done:
                prefix += 1
            lines = sum(scan.block_lines[:prefix])
            if lines and not isinstance(exc, UsageError):
                note(f"stopped after {lines} line(s); run the same command with --resume to continue", self.quiet)
            raise
        bar.close()
        state.remove()
        return 0


def write_output(line_format: LineFormat, path: Path, chunk_lines: int, state: ResumeState, done: set[int],
                 sha256: str, translate_block: Callable[[int, list[str]], list[str]] | None = None) -> None:
    """Write `state.output`, atomically, from the input and the blocks saved in `state`. A block not in `done`
    is translated first by `translate_block(i, texts)` (which saves it) and added to `done`. CommandError when
    the input no longer has the SHA-256 it was scanned with."""
    out = AtomicFile(state.output)
    hasher = hashlib.sha256()
    try:
        with open_input(path) as handle:
            for i, (records, raw) in enumerate(line_format.chunks(handle, chunk_lines, f"{path}: ")):
                hasher.update(raw)
                if i in done:
                    translations = state.translations(i)
                elif translate_block is not None:
                    translations = translate_block(i, [r.text for r in records if r.text is not None])
                    done.add(i)
                else:
                    raise CommandError(f"block {i} of {path} is not translated")
                out.append(encode_out(line_format.render_block(records, translations)))
        if hasher.hexdigest() != sha256:
            raise CommandError(f"{path} changed while it was being translated; run again")
        out.commit()
    finally:
        out.discard()
