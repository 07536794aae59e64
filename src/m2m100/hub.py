"""Finding checkpoint files: local directories first, then the Hugging Face hub cache (through huggingface_hub)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import CheckpointError


def is_local(name_or_path: str | os.PathLike) -> bool:
    return Path(name_or_path).exists()


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    required: bool = True,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    subfolder: str | None = None,
) -> Path | None:
    """Path of `filename` inside a local checkpoint directory or a hub repository (in its `subfolder`).

    A missing optional file gives None; a missing required one raises CheckpointError naming it.
    """
    if subfolder:
        if Path(subfolder).is_absolute() or ".." in Path(subfolder).parts:
            raise CheckpointError(f"refusing subfolder outside the model directory: {subfolder!r}")
        filename = f"{subfolder.strip('/')}/{filename}"
    if Path(filename).is_absolute() or ".." in Path(filename).parts:
        raise CheckpointError(f"refusing checkpoint file name outside the model directory: {filename!r}")
    root = Path(name_or_path)
    if root.is_file():
        # A direct path to a file is accepted when that file is what was asked for (config.json, say).
        if root.name == filename:
            return root
        root = root.parent
    if root.is_dir():
        path = root / filename
        if path.is_file():
            return path
        if required:
            raise CheckpointError(f"{filename} not found in checkpoint directory {root}")
        return None
    return _hub_download(str(name_or_path), filename, required, revision, cache_dir, token, local_files_only)


def _hub_download(repo_id, filename, required, revision, cache_dir, token, local_files_only) -> Path | None:
    name = str(repo_id)
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or not name.strip():
        raise CheckpointError(f"checkpoint directory not found: {name}")
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a hard dependency
        raise CheckpointError(f"{name} is not a local directory and huggingface_hub is not installed") from exc
    offline = local_files_only or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        return Path(
            hf_hub_download(
                name, filename, revision=revision, cache_dir=cache_dir, token=token, local_files_only=offline
            )
        )
    except LocalEntryNotFoundError as exc:
        if not required and _is_cached_repo(name, cache_dir):
            return None
        raise CheckpointError(
            f"could not fetch {filename} of {name!r} from the Hugging Face hub ({type(exc).__name__}). "
            "If you are offline, download the model elsewhere and pass its local directory instead "
            "(a folder with config.json, model.safetensors, sentencepiece.bpe.model and vocab.json)."
        ) from None
    except EntryNotFoundError:
        if required:
            raise CheckpointError(f"{filename} not found in hub repository {name}") from None
        return None
    except RepositoryNotFoundError:
        raise CheckpointError(f"{name} is neither a local directory nor a hub repository") from None
    except Exception as exc:  # network stacks raise many types; the user needs one clear message
        raise CheckpointError(f"could not fetch {filename} of {name!r} from the Hugging Face hub: {exc}") from None


def read_json_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object; CheckpointError names `what` and the path otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} {path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def _is_cached_repo(repo_id: str, cache_dir) -> bool:
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True)
        return True
    except Exception:
        return False


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same directory and rename: never a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; saved models are meant to be shared like any file the user writes.
        os.chmod(tmp, _default_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def push_to_hub(
    save: Any,
    repo_id: str,
    *,
    commit_message: str | None = None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    safe_serialization: bool = True,
    **save_kwargs: Any,
) -> Any:
    """Create `repo_id` if needed and upload what `save(directory, **save_kwargs)` writes, in one commit.

    Goes through huggingface_hub (its token and endpoint settings); returns its CommitInfo.
    """
    from huggingface_hub import HfApi

    save_kwargs.pop("use_temp_dir", None)
    save_kwargs.pop("max_shard_size", None)
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True, token=token).repo_id
    with tempfile.TemporaryDirectory() as directory:
        save(directory, safe_serialization=safe_serialization, **save_kwargs)
        return api.upload_folder(
            repo_id=repo_id, folder_path=directory, commit_message=commit_message or "Upload model",
            revision=revision, create_pr=create_pr, token=token,
        )
