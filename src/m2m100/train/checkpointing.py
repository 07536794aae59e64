"""Training checkpoints that survive crashes: written whole into a temporary directory, then renamed into place.

Layout: `<output>/checkpoints/step-00001000/` holds a complete hub-layout model (config.json, model.safetensors,
tokenizer files; loadable by transformers and our Translator) plus `optimizer.pt`, `rng_state.pt` and, written
last, `trainer_state.json` (step, data position, schedule). A checkpoint exists only once the rename is done, so a
crash or a full disk during a save leaves a `.tmp-*` directory that is never picked up (and is removed on the next
start) while the previous checkpoint stays intact; older ones are pruned only after the new one is in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..hub import atomic_write_text

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng_state.pt"
_NAME = re.compile(r"step-(\d{8,})\Z")


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def checkpoint_step(path: Path) -> int | None:
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints (renamed into place, state file present), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None and (p / STATE_FILE).is_file()]
    return sorted(found, key=checkpoint_step)


def verify(path: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint after checking that its files are readable; CheckpointError if not."""
    from ..checkpoint import read_tensors

    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has an unreadable {STATE_FILE}: {exc}") from None
    for name in ("config.json", "model.safetensors", OPTIMIZER_FILE, RNG_FILE):
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint {path} is missing {name}")
    read_tensors(path / "model.safetensors")  # header and size checks: catches truncation
    return state


def find_latest(root: Path) -> Path | None:
    """The newest checkpoint that verifies; a damaged newer one is reported and skipped."""
    for path in reversed(list_checkpoints(root)):
        try:
            verify(path)
            return path
        except CheckpointError as exc:
            print(f"warning: skipping damaged checkpoint: {exc}", file=sys.stderr)
    return None


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_torch(obj: Any, path: Path) -> None:
    """torch.save straight to disk (optimizer states can be larger than spare memory), then fsync."""
    with open(path, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())


def load_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle and zip errors come in many types
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def recover(root: Path) -> None:
    """Clean up after a crash: drop half-written `.tmp-*` directories; put back a `.old-*` one whose replacement
    never arrived (a crash between the two renames of an overwrite)."""
    root = Path(root)
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.name.startswith(".tmp-"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith(".old-"):
            final = root / path.name.removeprefix(".old-").rsplit("-", 1)[0]
            if final.exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.replace(path, final)


def write_checkpoint(root: Path, step: int, write_files: Callable[[Path], None], state: dict[str, Any]) -> Path:
    """Write a checkpoint atomically: `write_files(tmp)` fills a temporary directory, the state file goes in last,
    and one rename publishes it. On any failure the temporary directory is removed and the error propagates."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(step)
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    final = root / name
    try:
        write_files(tmp)
        atomic_write_text(tmp / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))
        fsync_dir(tmp)
        if final.exists():  # re-saving a step (a resumed run that finishes where it stopped)
            old = root / f".old-{name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def prune(root: Path, keep: int) -> None:
    """Remove all but the `keep` newest complete checkpoints."""
    for path in list_checkpoints(root)[: -max(1, keep)]:
        shutil.rmtree(path, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    import random

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
