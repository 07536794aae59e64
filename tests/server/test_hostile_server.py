"""Hostile clients against the server (issue #17): the --max-new-tokens cap, idle and slow connections,
spoofed X-Forwarded-For, guessed API keys, SIGTERM with a busy worker, and a flood of maximal requests."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import post_json

pytestmark = pytest.mark.hostile

HERE = Path(__file__).resolve().parent
SPIN_LAUNCHER = HERE / "hostile_launcher.py"
KEYS = ["k-cap", "k-ok", "k-flood"]


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile_keys") / "keys.txt"
    path.write_text("\n".join(KEYS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def guarded(start_server, keys_file):
    """API keys, 4 requests per minute per client, 6 new tokens at most, 1 s header and keep-alive timeouts."""
    return start_server(["--api-keys", str(keys_file), "--req-limit", "4", "--max-new-tokens", "6",
                         "--header-timeout", "1", "--keep-alive-timeout", "1", "--threads", "1"]).wait_ready()


# ---- --max-new-tokens caps every request ------------------------------------------------------------------------
def test_max_new_tokens_caps_requests_that_do_not_give_one(guarded, translator):
    text = "the house is green and we walk to school every morning while birds sing"
    capped = translator.translate(text, "en", "fr", max_new_tokens=6)
    assert capped != translator.translate(text, "en", "fr")  # the cap changes this output: the test can fail
    response = post_json(guarded, "/translate", {"q": text, "source": "en", "target": "fr", "api_key": "k-cap"})
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == capped


# ---- API keys and forwarded addresses ------------------------------------------------------------------------------
def test_failed_key_attempts_are_rate_limited_and_forwarded_for_is_not_trusted(guarded):
    payload = {"q": "hello", "source": "en", "target": "fr"}
    codes = []
    for i in range(7):
        # A different spoofed address each time: the server must still count them against 127.0.0.1.
        headers = {"X-Forwarded-For": f"203.0.113.{i + 1}"}
        response = post_json(guarded, "/translate", {**payload, "api_key": f"guess-{i}"}, headers=headers)
        codes.append(response.status_code)
    assert codes[:4] == [403] * 4
    assert codes[4:] == [429] * 3
    limited = post_json(guarded, "/translate", {**payload, "api_key": "nope"})
    assert limited.status_code == 429 and "failed API key attempts" in limited.json()["error"]
    assert int(limited.headers["Retry-After"]) >= 1
    # A valid key has its own budget: guessing from this address does not lock legitimate users out.
    assert post_json(guarded, "/translate", {**payload, "api_key": "k-ok"}).status_code == 200


# ---- connections that never finish a request ----------------------------------------------------------------------
def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection within `seconds` (data still arriving is read and ignored)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def test_idle_connection_is_closed(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        started = time.monotonic()
        assert _closed_within(sock, 5.0)
        assert time.monotonic() - started < 4.0


def test_slow_headers_are_cut_off(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for i in range(20):  # one header line every 0.3 s: never complete
            try:
                sock.sendall(f"X-Slow-{i}: y\r\n".encode())
            except OSError:
                closed = True
                break
            if _closed_within(sock, 0.3):
                closed = True
                break
        assert closed and time.monotonic() - started < 4.0


def test_keep_alive_connection_is_closed_when_idle(guarded):
    with socket.create_connection(("127.0.0.1", guarded.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(12) == b"HTTP/1.1 200"
        started = time.monotonic()
        assert _closed_within(sock, 5.0)
        assert time.monotonic() - started < 4.0


# ---- SIGTERM with a worker busy inside torch -----------------------------------------------------------------------
def test_sigterm_with_a_busy_worker_past_the_drain_timeout_exits_cleanly(start_server):
    server = start_server(["--threads", "1", "--no-warmup", "--drain-timeout", "1"], launcher=SPIN_LAUNCHER,
                          env={"M2M100_TEST_BATCH_SPIN": "8"}).wait_ready()
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(
        post_json(server, "/translate", {"q": "Hello world.", "source": "en", "target": "fr"}, timeout=30)))
    thread.start()
    deadline = time.monotonic() + 10
    while server.stats().get("running_pieces", 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    server.proc.wait(timeout=20)
    thread.join(timeout=10)
    log = server.log()
    assert server.proc.returncode == 0, log
    assert "terminate called" not in log and "Traceback" not in log
    assert time.monotonic() - sent < 6  # did not wait for the 8 s batch
    assert answers and answers[0].status_code == 503


# ---- a flood of maximal requests ----------------------------------------------------------------------------------
def test_flood_of_maximal_requests_leaves_a_normal_request_answered(start_server):
    server = start_server(["--threads", "1", "--no-warmup", "--max-chars", "20000", "--max-texts", "2",
                           "--max-body-bytes", "200000", "--request-timeout", "10", "--max-queue", "16",
                           "--max-batch-size", "16"], launcher=SPIN_LAUNCHER,
                          env={"M2M100_TEST_BATCH_SPIN": "0.2"}).wait_ready()
    # distinct sentences (the Translator's plan translates a repeated sentence once): thousands of pieces
    big = " ".join(f"The house {i} is green. We walk to school {i} every morning!" for i in range(400))[:19990]
    flood_answers: list[int] = []

    def flood():
        response = post_json(server, "/translate", {"q": [big, big.replace("house", "car")], "source": "en",
                                                    "target": "fr"}, timeout=60)
        flood_answers.append(response.status_code)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while server.stats().get("queued_pieces", 0) < 1000:  # the flood is queued: thousands of pieces
        assert time.monotonic() < deadline, (server.stats(), flood_answers)
        time.sleep(0.1)
    started = time.monotonic()
    normal = post_json(server, "/translate", {"q": "Hello world.", "source": "en", "target": "fr"}, timeout=10)
    assert normal.status_code == 200, normal.text
    # (Not compared with Translator.translate: sharing a batch with longer pieces raises the batch's length
    # budget, so a random model's output may run longer than alone.)
    assert isinstance(normal.json()["translatedText"], str) and normal.json()["translatedText"]
    assert time.monotonic() - started < 8  # inside its 10 s timeout; first come, first served would take minutes
    # /health tells a load balancer that this instance is overloaded while the flood's work waits.
    deadline = time.monotonic() + 15
    while server.health().json()["status"] != "overloaded":
        assert time.monotonic() < deadline, server.health().json()
        time.sleep(0.2)
    assert server.health().status_code == 503
    # The flood times out (503) and its queued work is dropped, not run for nobody.
    for thread in threads:
        thread.join(timeout=60)
    assert flood_answers == [503] * 4
    stats = server.wait_idle(timeout=10)
    run_after = stats["pieces_run"]
    time.sleep(1.0)
    assert server.stats()["pieces_run"] == run_after
    assert stats["pieces_cancelled"] > 1000
    assert server.terminate() == 0


# ---- work of a cancelled request stops --------------------------------------------------------------------------
def test_splitting_for_a_cancelled_request_stops():
    import asyncio

    from m2m100.server.batching import Worker
    from m2m100.server.engine import Engine
    from m2m100.translate import SplitText

    calls: list[str] = []

    class SlowSplitter:
        def split(self, text, language):
            calls.append(text)
            time.sleep(0.05)
            return SplitText(source=text, parts=[0], pieces=[text])

    class FakeTranslator:
        splitter = SlowSplitter()
        max_new_tokens_cap = None

        def languages(self):
            return [("en", "English"), ("fr", "French")]

        def count_tokens(self, piece):
            return 3

        def plan(self, request, check=None):  # the shape of Translator.plan: check() between texts
            for text in request.texts:
                if check is not None:
                    check()
                self.splitter.split(text, "en")

    engine = Engine(FakeTranslator())
    texts = [f"text number {i}" for i in range(200)]  # 200 x 0.05 s = 10 s if nothing stopped it

    async def main():
        worker = Worker("test-prep")
        task = asyncio.ensure_future(worker.run(engine.plan, engine.request(texts, "en", "fr")))
        await asyncio.sleep(0.3)
        task.cancel()  # the request timed out
        await asyncio.sleep(0.5)
        worker.close()
        return worker

    started = time.monotonic()
    worker = asyncio.run(main())
    assert 0 < len(calls) < 40, len(calls)  # stopped within a text or two of the cancellation
    assert worker.busy == 0
    assert time.monotonic() - started < 5
