"""SIGTERM: in-flight requests finish, new ones are refused (503), /health says 503, the process exits 0 within
the drain timeout; work that outlives --drain-timeout is cut off and the process still exits in bounded time."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from .conftest import post_json


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_sigterm_drains_in_flight_requests(start_server, translator):
    server = start_server(["--threads", "1", "--no-warmup", "--drain-timeout", "20"], slow=True,
                          env={"M2M100_TEST_BATCH_DELAY": "1.5"}).wait_ready()
    result: dict[str, httpx.Response] = {}
    payload = {"q": "Hello world.", "source": "en", "target": "fr"}
    in_flight = threading.Thread(target=lambda: result.setdefault("r", post_json(server, "/translate", payload)))
    in_flight.start()
    _wait_until(lambda: server.stats()["running_pieces"] >= 1)
    with httpx.Client(base_url=server.url, timeout=10) as keepalive:
        assert keepalive.get("/health").status_code == 200
        server.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _wait_until(lambda: httpx.get(server.url + "/health", timeout=5).status_code == 503, timeout=5)
        health = httpx.get(server.url + "/health", timeout=5)
        assert health.json()["status"] == "draining"
        refused = post_json(server, "/translate", payload, timeout=5)
        assert refused.status_code == 503 and "shutting down" in refused.json()["error"]
        assert time.monotonic() - sent < 1.5  # refused at once, while the in-flight request is still running
    in_flight.join()
    assert result["r"].status_code == 200
    assert result["r"].json()["translatedText"] == translator.translate("Hello world.", "en", "fr")
    server.proc.wait(timeout=15)
    assert server.proc.returncode == 0
    assert time.monotonic() - sent < 10
    log = server.log()
    assert "draining" in log and "Traceback" not in log
    try:
        httpx.get(server.url + "/health", timeout=2)
        raise AssertionError("still listening after exit")
    except httpx.TransportError:
        pass


def test_sigterm_exits_within_drain_timeout_when_work_is_stuck(start_server):
    server = start_server(["--threads", "1", "--no-warmup", "--drain-timeout", "1"], slow=True,
                          env={"M2M100_TEST_BATCH_DELAY": "30"})
    server.wait_ready()
    outcome: dict[str, object] = {}

    def stuck() -> None:
        try:
            outcome["response"] = post_json(server, "/translate", {"q": "Hello", "source": "en", "target": "fr"},
                                            timeout=60)
        except httpx.TransportError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=stuck)
    thread.start()
    _wait_until(lambda: server.stats()["running_pieces"] >= 1)
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=20)
    elapsed = time.monotonic() - sent
    assert elapsed < 6, f"exited after {elapsed:.1f} s with --drain-timeout 1"
    thread.join(timeout=10)
    response = outcome.get("response")
    # The cut-off client gets a 503 naming the drain timeout, never a hang or a 500.
    assert isinstance(response, httpx.Response), outcome
    assert response.status_code == 503 and "drain_timeout" in response.json()["error"]
    assert server.proc.returncode == 0
    assert "Traceback" not in server.log()


def test_second_signal_cuts_the_drain_short(start_server):
    server = start_server(["--threads", "1", "--no-warmup", "--drain-timeout", "60"], slow=True,
                          env={"M2M100_TEST_BATCH_DELAY": "30"}).wait_ready()
    outcome: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("r", post_json(
        server, "/translate", {"q": "Hello", "source": "en", "target": "fr"}, timeout=60)))
    thread.start()
    _wait_until(lambda: server.stats()["running_pieces"] >= 1)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None  # draining, waiting for the stuck request
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    server.proc.wait(timeout=15)
    assert time.monotonic() - sent < 5
    thread.join(timeout=10)
    assert outcome["r"].status_code == 503
    assert "Traceback" not in server.log()
