"""The resume state of a file job, one format for the local job and the Ray job (`--resume`).

Next to the output, the directory `.NAME.m2m100-resume/` holds

    job.json              {"version": 2, "job": {...}}: the settings and the input's SHA-256 (`job_fingerprint`)
    block-00000007.json   {"block": 7, "translations": [...]}: block 7's translations, one per text to translate

A block is `--chunk-lines` input lines (Parquet: rows). Each block file is written atomically as soon as the
block is translated; `--resume` translates only the blocks without a file (and refuses when the input or the
settings changed). Once every block is there the output is written from the input and the blocks, complete
or not at all, and the directory is removed. A local job can resume a Ray job's state and the other way round:
both translate one block with one `Translator.translate` call.

The states of earlier versions (the local job's `.NAME.m2m100-state.json` with its partial output, the Ray
job's `.NAME.m2m100-ray/`) are read by m2m100.cli.legacy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..hub import atomic_write_text
from .base import CommandError, note

STATE_VERSION = 2
_INPUT_KEYS = ("input_sha256", "blocks")


def state_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.m2m100-resume"


def read_json(path: Path) -> dict | None:
    """A JSON object from a file, or None (missing, unreadable, not an object)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def job_fingerprint(*, input: Path, model: str, source: str, target: str, line_format: dict[str, Any],
                    options: dict[str, Any], sentence_split: bool, chunk_lines: int, input_sha256: str,
                    blocks: int) -> dict[str, Any]:
    """What the output of a file job depends on: resuming with anything else would mix two jobs' outputs."""
    return {"input": str(Path(input).resolve()), "model": model, "source": source, "target": target,
            **line_format, "options": options, "sentence_split": sentence_split, "chunk_lines": chunk_lines,
            "input_sha256": input_sha256, "blocks": blocks}


def refusal(output: Path, old: dict[str, Any] | None, new: dict[str, Any]) -> CommandError:
    """The error for a --resume whose interrupted run had another job (`old`: its fingerprint)."""
    old = old or {}
    changed = sorted(k for k in new if old.get(k) != new[k])
    if changed and set(changed) <= set(_INPUT_KEYS):
        return CommandError(f"cannot resume {output}: {new['input']} changed since the interrupted run; "
                            "run again without --resume to start over")
    shown = [k for k in changed if k != "blocks"] or ["version"]
    return CommandError(f"cannot resume {output}: the interrupted run used different settings "
                        f"({', '.join(shown)}); run again without --resume to start over")


class ResumeState:
    """The resume state of one output (see the module docstring)."""

    def __init__(self, output: Path, quiet: bool = False):
        self.output = output
        self.dir = state_dir(output)
        self.quiet = quiet

    def exists(self) -> bool:
        return (self.dir / "job.json").is_file()

    def start(self, job: dict[str, Any], sizes: list[int], block_lines: list[int], resume: bool) -> set[int]:
        """The blocks already translated: with `resume`, those of the interrupted run of the same `job`
        (CommandError when its job differs), else none (any earlier state is dropped). Writes job.json.
        sizes: texts per block (a block without texts counts as done); block_lines: lines (rows) per block."""
        saved = read_json(self.dir / "job.json") if self.dir.is_dir() else None
        if resume and saved is not None:
            if saved.get("version") != STATE_VERSION or saved.get("job") != job:
                raise refusal(self.output, saved.get("job"), job)
            done = {i for i in range(len(sizes)) if sizes[i] == 0 or self._is_whole(i, sizes[i])}
            self._report(done, sizes, block_lines)
            return done
        if resume:
            note("nothing to resume; starting from the beginning", self.quiet)
        elif saved is not None:
            note("starting over (an interrupted run of this job could have been continued with --resume)",
                 self.quiet)
        self.remove()
        self.dir.mkdir()
        atomic_write_text(self.dir / "job.json", json.dumps({"version": STATE_VERSION, "job": job}))
        return {i for i, size in enumerate(sizes) if size == 0}

    def _is_whole(self, i: int, size: int) -> bool:
        """A block counts only if it is whole: the right block, one translation per text."""
        saved = read_json(self.block_path(i))
        return (saved is not None and saved.get("block") == i and isinstance(saved.get("translations"), list)
                and len(saved["translations"]) == size)

    def _report(self, done: set[int], sizes: list[int], block_lines: list[int]) -> None:
        translated = sum(1 for i in done if sizes[i])
        if not translated:
            note("nothing to resume; starting from the beginning", self.quiet)
            return
        prefix = 0
        while prefix < len(sizes) and prefix in done:
            prefix += 1
        if all(i < prefix for i in done):
            note(f"resuming after line {sum(block_lines[:prefix])}", self.quiet)
        else:
            note(f"resuming: {translated} of {sum(1 for s in sizes if s)} block(s) already translated", self.quiet)

    def block_path(self, i: int) -> Path:
        return self.dir / f"block-{i:08d}.json"

    def save(self, i: int, translations: list[str]) -> None:
        """Block i's translations, atomically."""
        atomic_write_text(self.block_path(i), json.dumps({"block": i, "translations": translations},
                                                         ensure_ascii=False))

    def translations(self, i: int) -> list[str]:
        """Block i's saved translations ([] for a block without texts)."""
        saved = read_json(self.block_path(i))
        return saved["translations"] if saved else []

    def saved_blocks(self) -> list[int]:
        return sorted(int(p.stem.split("-", 1)[1]) for p in self.dir.glob("block-*.json")
                      if p.stem.split("-", 1)[1].isdigit())

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
