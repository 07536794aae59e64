"""GET /health: 503 until the model is loaded and warmed up, 200 then; exempt from keys and rate limits."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx


def test_health_ready(server):
    response = server.health()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["model"]
    assert {"batches", "pieces_run", "active", "queued_pieces"} <= set(body["stats"])


def test_health_503_until_loaded(slow_server):
    # slow_server's model takes 2 s more to load: the fixture polled /health from the start.
    seen = slow_server.health_seen
    assert seen[-1] == (200, "ok")
    assert (503, "loading") in seen, seen
    assert all(code == 503 for code, _ in seen[:-1])


def test_endpoints_answer_503_while_loading(start_server):
    server = start_server(["--threads", "1"], slow=True, env={"M2M100_TEST_LOAD_DELAY": "3"})
    deadline = time.monotonic() + 60
    while True:  # wait until the port is open
        try:
            health = httpx.get(server.url + "/health", timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
    assert health.status_code == 503 and health.json()["status"] == "loading"
    assert health.json()["error"] == "model is loading"
    assert health.headers["retry-after"]
    response = httpx.post(server.url + "/translate", json={"q": "Hello", "source": "en", "target": "fr"}, timeout=10)
    assert response.status_code == 503 and "loading" in response.json()["error"]
    assert response.headers["retry-after"]
    assert httpx.get(server.url + "/languages", timeout=10).status_code == 503
    page = httpx.get(server.url + "/", timeout=10)  # the page is served at once, it waits for the API itself
    assert page.status_code == 200
    server.wait_ready()
    assert httpx.post(server.url + "/translate", json={"q": "Hello", "source": "en", "target": "fr"},
                      timeout=30).status_code == 200
    assert server.terminate() == 0


def test_health_exempt_from_keys_and_rate_limit(strict_server):
    for _ in range(20):
        assert strict_server.health().status_code == 200


def test_model_that_fails_to_load_exits_nonzero(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "m2m100", "serve", "--model", str(tmp_path / "missing"), "--port", "0",
         "--threads", "1"],
        capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 1, proc.stderr
    assert "model failed to load" in proc.stderr
