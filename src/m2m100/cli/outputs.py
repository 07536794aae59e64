"""Writing outputs: UTF-8 encoding, standard output, files that appear complete or not at all (`AtomicFile`),
FIFOs and devices written through (`ThroughFile`), and the one-job-per-output lock (`OutputLock`)."""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from .base import CommandError

_LONE_SURROGATES = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")


def encode_out(text: str) -> bytes:
    """UTF-8; the undecodable input bytes that `--errors` let through (surrogateescape) go out as they came."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape" if not _LONE_SURROGATES.search(text) else "replace")


def write_stdout(text: str) -> None:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        sys.stdout.flush()
        buffer.write(encode_out(text))
        buffer.flush()
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def open_input(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


class AtomicFile:
    """An output file written through a temporary sibling and renamed into place only when complete."""

    def __init__(self, path: Path):
        self.path = path
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self.tmp = Path(name)
        self.handle = os.fdopen(fd, "wb")
        self.done = False

    def append(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        self.done = True

    def discard(self) -> None:
        """Remove the temporary file unless committed (call it in a `finally`)."""
        if not self.done:
            self.handle.close()
            self.tmp.unlink(missing_ok=True)


class ThroughFile:
    """An --output that is a FIFO or a device (/dev/stdout, /dev/null): written in place as the job goes,
    never replaced by a regular file."""

    def __init__(self, path: Path):
        self.handle = open_special(path)

    def append(self, data: bytes) -> None:
        self.handle.write(data)
        self.handle.flush()

    def commit(self) -> None:
        self.handle.close()

    def discard(self) -> None:
        if not self.handle.closed:
            self.handle.close()


def open_special(path: Path) -> BinaryIO:
    try:
        # no O_TRUNC/O_CREAT: a device or FIFO is opened as it is, never created or truncated
        return os.fdopen(os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0)), "wb")
    except OSError as exc:
        raise CommandError(f"cannot write to {path}: {exc.strerror or exc}") from None


def output_target(value: str | None) -> tuple[Path | None, bool]:
    """(the path to write, whether it is a special file). A symlink is followed: the file it points to is the
    one written (and replaced atomically when regular); the link itself stays. FIFOs and devices are special."""
    if value is None:
        return None, False
    path = Path(value)
    try:
        mode = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise CommandError(f"--output {value}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise CommandError(f"--output {value} is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        return path, True
    if path.is_symlink():
        return Path(os.path.realpath(path)), False
    return path, False


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class OutputLock:
    """An exclusive lock on an output file: `.NAME.m2m100-lock` next to it, held (flock) for the whole job and
    naming its holder, so a second job on the same --output fails at once instead of mixing the outputs.
    Also a context manager."""

    def __init__(self, output: Path):
        self.output = output
        self.path = output.parent / f".{output.name}.m2m100-lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise CommandError(f"cannot lock {self.output} ({self.path}): {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise CommandError(
                    f"{self.output} is being written by another m2m100 job ({holder}); wait for it to finish "
                    f"or choose another --output"
                ) from None
            # A finishing job unlinks its lock file: make sure the one locked is still the one at the path.
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        os.write(fd, f"pid {os.getpid()}, started {started}: {' '.join(sys.argv)[:300]}\n".encode("utf-8", "replace"))
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still locked, so no other job holds this inode
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
