"""Real server processes for the API tests.

Each server is `python -m m2m100 serve` (or tests/server/slow_server.py, the same server whose model batches
take a fixed extra time) on a free 127.0.0.1 port, serving a tiny checkpoint built with the root conftest's
build_checkpoint; fixtures wait for /health 200 and stop the process at the end. Server logs go to a file
that tests can read.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the server tests need httpx (pip install -e '.[dev]')")
pytest.importorskip("fastapi", reason="the server needs fastapi (pip install -e .)")
pytest.importorskip("uvicorn", reason="the server needs uvicorn (pip install -e .)")

HERE = Path(__file__).resolve().parent
SLOW_LAUNCHER = HERE / "slow_server.py"

# Small limits so that limit tests stay small; --threads 1 keeps the shared CI machine responsive.
MAIN_ARGS = [
    "--max-chars", "2000", "--max-texts", "16", "--max-body-bytes", "65536", "--max-beams", "4",
    "--max-new-tokens", "200", "--threads", "1", "--batch-wait-ms", "20",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One server subprocess; `url`, `client()`, `health()`, `stats()`, `log()`, `terminate()`."""

    def __init__(self, checkpoint: Path, args: list[str], log_path: Path, *, slow: bool = False,
                 env: dict[str, str] | None = None, launcher: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        launcher = [str(launcher)] if launcher else [str(SLOW_LAUNCHER)] if slow else ["-m", "m2m100", "serve"]
        self.cmd = [sys.executable, *launcher, "--model", str(checkpoint), "--host", "127.0.0.1",
                    "--port", str(self.port), *args]
        # M2M100_GUARDS passes (the root conftest turns the guards off for the parity tests; servers follow)
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("M2M100_") or k in ("M2M100_DATA", "M2M100_GUARDS")}
        full_env.update({"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})})
        self._log_file = open(log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log_file, stderr=subprocess.STDOUT, env=full_env)
        self.health_seen: list[tuple[int, str]] = []

    def client(self, **kwargs) -> "httpx.Client":
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 60.0), **kwargs)

    def wait_ready(self, timeout: float = 90.0) -> "ServerProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                response = httpx.get(self.url + "/health", timeout=2.0)
                self.health_seen.append((response.status_code, response.json().get("status", "")))
                if response.status_code == 200:
                    return self
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log()}")

    def health(self) -> "httpx.Response":
        return httpx.get(self.url + "/health", timeout=10.0)

    def stats(self) -> dict:
        return self.health().json().get("stats", {})

    def wait_idle(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.stats()
            if not (stats.get("active") or stats.get("queued_pieces") or stats.get("running_pieces")):
                return stats
            time.sleep(0.05)
        raise AssertionError(f"server still busy after {timeout} s: {self.stats()}")

    def log(self) -> str:
        self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server_checkpoint(spm_bpe, tmp_path_factory) -> Path:
    """A tiny checkpoint (root conftest's build_checkpoint) whose default length is 24 tokens, to keep tests fast."""
    from conftest import build_checkpoint  # the root tests/conftest.py

    return build_checkpoint(tmp_path_factory.mktemp("server_ckpt"), spm_bpe, seed=1, max_length=24)


@pytest.fixture(scope="session")
def start_server(server_checkpoint, tmp_path_factory):
    """Factory: start_server(args, slow=False, env=None) -> a ServerProcess (not yet waited for)."""
    started: list[ServerProcess] = []
    logs = tmp_path_factory.mktemp("server_logs")

    def start(args: list[str] | None = None, *, slow: bool = False, env: dict[str, str] | None = None,
              launcher: Path | None = None) -> ServerProcess:
        log = logs / f"server{len(started)}.log"
        server = ServerProcess(server_checkpoint, list(args or []), log, slow=slow, env=env, launcher=launcher)
        started.append(server)
        return server

    yield start
    for server in started:
        server.terminate()


@pytest.fixture(scope="session")
def server(start_server) -> ServerProcess:
    """The shared server: default settings except small limits (MAIN_ARGS)."""
    return start_server(MAIN_ARGS).wait_ready()


@pytest.fixture(scope="session")
def api_keys_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.txt"
    path.write_text("# test keys\nkey-a\nkey-b  # rate-limit test\n\nkey-c\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def strict_server(start_server, api_keys_file) -> ServerProcess:
    """API keys required (key-a, key-b, key-c) and at most 5 translation requests per minute per key."""
    return start_server(["--api-keys", str(api_keys_file), "--req-limit", "5", "--threads", "1"]).wait_ready()


@pytest.fixture(scope="session")
def slow_server(start_server) -> ServerProcess:
    """Model batches take 1 s more; the model takes 2 s more to load; 3 requests at most; 1.8 s request timeout."""
    server = start_server(
        ["--max-queue", "3", "--request-timeout", "1.8", "--batch-wait-ms", "200", "--threads", "1", "--no-warmup"],
        slow=True, env={"M2M100_TEST_BATCH_DELAY": "1.0", "M2M100_TEST_LOAD_DELAY": "2.0"},
    )
    return server.wait_ready()


@pytest.fixture(scope="session")
def translator(server_checkpoint):
    """The Translator the server wraps, in this process: the reference for every answer."""
    from m2m100 import Translator

    return _OneThread(Translator.from_pretrained(server_checkpoint, device="cpu"))


class _OneThread:
    """Translator calls with one torch thread (like the servers' --threads 1): on a busy shared machine, two
    spinning threads make the tiny model many times slower. The process setting is restored afterwards."""

    def __init__(self, translator):
        self._translator = translator

    def translate(self, *args, **kwargs):
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._translator.translate(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    def __getattr__(self, name):
        return getattr(self._translator, name)


def post_json(server: ServerProcess, path: str, payload, **kwargs) -> "httpx.Response":
    """POST `payload` as JSON (ASCII-escaped, so that lone surrogates can be sent)."""
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(server.url + path, content=json.dumps(payload).encode(), headers=headers,
                      timeout=kwargs.pop("timeout", 60.0), **kwargs)
