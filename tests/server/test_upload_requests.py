"""Document uploads (POST /translate_file) are translation requests like /translate: the request timeout, a client
disconnect and the SIGTERM drain cut them off the same way (JSON 503 / cancelled, their queued pieces never reach
the model), and their texts share model batches with small requests instead of holding the model (issue: a 3-word
/translate waited 21 s behind an 88 KB upload). Also: alternatives that need more beams than --max-beams are a 400.

The servers are tests/server/slow_server.py (every model batch takes M2M100_TEST_BATCH_DELAY seconds more) with
one piece per batch or two, so that a document of a few dozen sentences takes many seconds on the model."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from .conftest import post_json

WORDS = ["red", "old", "small", "big", "new", "tall", "dark", "warm", "cold", "long", "blue", "green"]
THINGS = ["house", "car", "boat", "door", "wall", "tree", "river", "school"]


def sentences(n: int) -> list[str]:
    """n distinct sentences (the Translator's plan translates a repeated sentence once)."""
    return [f"The {WORDS[i % len(WORDS)]} {THINGS[(i // len(WORDS)) % len(THINGS)]} is near the road."
            for i in range(n)]


def text_file(n: int) -> bytes:
    return "\n".join(sentences(n)).encode()


def upload(server, name: str, data: bytes, timeout: float = 60.0) -> httpx.Response:
    return httpx.post(server.url + "/translate_file", data={"source": "en", "target": "fr"},
                      files={"file": (name, data)}, timeout=timeout)


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.02)


def wait_for_upload(server) -> None:
    """Until the upload is admitted and has been on the model for a while (`active` counts uploads whichever
    way they reach the model)."""
    wait_until(lambda: server.stats()["active"] >= 1, what="the upload admitted")
    time.sleep(0.8)


def assert_no_more_pieces_run(server, seconds: float = 1.5) -> dict:
    """Once idle, the model runs nothing more for `seconds`: the cut-off document's pieces were dropped."""
    stats = server.wait_idle(timeout=10)
    time.sleep(seconds)
    later = server.stats()
    assert later["pieces_run"] == stats["pieces_run"], (stats, later)
    return later


@pytest.fixture(scope="module")
def upload_server(start_server):
    """Model batches of 1 piece, each 0.5 s slower; 2.5 s request timeout; a single request at a time (so that
    an upload still counted after its client left would refuse the next request with 503)."""
    return start_server(["--threads", "1", "--no-warmup", "--max-batch-size", "1", "--batch-wait-ms", "5",
                         "--request-timeout", "2.5", "--max-queue", "1"], slow=True,
                        env={"M2M100_TEST_BATCH_DELAY": "0.5"}).wait_ready()


def test_upload_obeys_the_request_timeout(upload_server):
    before = upload_server.wait_idle()
    started = time.monotonic()
    response = upload(upload_server, "long.txt", text_file(30))  # 30 pieces x 0.5 s: 15 s on the model
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "request_timeout" in response.json()["error"] and response.headers["retry-after"]
    assert elapsed < 6, f"answered after {elapsed:.1f} s with a 2.5 s request timeout"
    after = assert_no_more_pieces_run(upload_server)
    assert after["pieces_run"] - before["pieces_run"] <= 8  # about 2.5 s worth of them, not 30
    assert after["pieces_cancelled"] - before["pieces_cancelled"] >= 20
    # The server is free again: a small upload and a /translate are answered.
    assert upload(upload_server, "short.txt", b"Hello world.").status_code == 200
    response = post_json(upload_server, "/translate", {"q": "Hello", "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text


def test_abandoned_upload_is_cancelled_and_the_next_request_is_served(upload_server):
    before = upload_server.wait_idle()
    with pytest.raises(httpx.ReadTimeout):
        upload(upload_server, "long.txt", text_file(30), timeout=1.0)  # the client gives up after 1 s
    wait_until(lambda: upload_server.stats().get("disconnected", 0) > before.get("disconnected", 0), 5,
               "the disconnect noticed")
    # max_queue 1: were the abandoned upload still running, this would be a 503 "at capacity"
    response = post_json(upload_server, "/translate", {"q": "Hello", "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text
    after = assert_no_more_pieces_run(upload_server)
    assert after["pieces_run"] - before["pieces_run"] <= 6  # the 1 s it ran, and /translate's piece
    assert after["pieces_cancelled"] - before["pieces_cancelled"] >= 20
    assert "Traceback" not in upload_server.log()


def test_sigterm_during_an_upload_answers_json_503(start_server):
    server = start_server(["--threads", "1", "--no-warmup", "--max-batch-size", "1", "--batch-wait-ms", "5",
                           "--drain-timeout", "1"], slow=True, env={"M2M100_TEST_BATCH_DELAY": "0.5"}).wait_ready()
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            outcome["response"] = upload(server, "long.txt", text_file(30), timeout=30)
        except httpx.TransportError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=send)
    thread.start()
    wait_for_upload(server)
    server.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    server.proc.wait(timeout=20)
    assert time.monotonic() - sent < 8
    thread.join(timeout=10)
    response = outcome.get("response")
    assert isinstance(response, httpx.Response), outcome
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "drain_timeout" in response.json()["error"]
    log = server.log()
    assert server.proc.returncode == 0, log
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_a_slow_upload_does_not_hold_up_a_small_translate(start_server):
    """The small request's latency beside an upload, against its latency alone: a ratio, not seconds, so that
    it holds on a loaded machine (the extra batch time, 0.4 s, dominates both)."""
    server = start_server(["--threads", "1", "--no-warmup", "--max-batch-size", "2", "--batch-wait-ms", "5"],
                          slow=True, env={"M2M100_TEST_BATCH_DELAY": "0.4"}).wait_ready()
    small = {"q": "Good morning.", "source": "en", "target": "fr"}

    def timed_small() -> float:
        started = time.monotonic()
        response = post_json(server, "/translate", small)
        assert response.status_code == 200, response.text
        return time.monotonic() - started

    timed_small()  # first-call costs out of the way
    alone = min(timed_small() for _ in range(2))
    document = ("<html><body>" + "".join(f"<p>{s}</p>" for s in sentences(40)) + "</body></html>").encode()
    result: dict[str, object] = {}

    def send() -> None:
        started = time.monotonic()
        result["response"] = upload(server, "page.html", document, timeout=120)
        result["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=send)
    thread.start()
    wait_for_upload(server)
    beside = timed_small()
    upload_running = thread.is_alive()
    thread.join(timeout=120)
    response = result["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 200, response
    assert upload_running, "the upload was over before the small request: nothing was measured"
    # 40 pieces in batches of 2: about 20 batches (8 s) for the upload; the small request waits for the batch on
    # the model and rides in the next one, beside the upload's pieces (it waited for all of them before).
    assert beside < 4 * alone, f"small /translate took {beside:.2f} s beside the upload, {alone:.2f} s alone"
    assert beside < float(result["elapsed"]) / 3, (beside, result["elapsed"])
    translated = httpx.get(response.json()["translatedFileUrl"], timeout=30).text
    assert translated.count("<p>") == 40 and "is near the road" not in translated
    assert server.terminate() == 0


@pytest.fixture(scope="module")
def one_beam_server(start_server):
    return start_server(["--threads", "1", "--max-beams", "1"]).wait_ready()


@pytest.mark.parametrize("alternatives", [1, 3, "2"])
def test_alternatives_needing_more_beams_than_max_beams_are_refused(one_beam_server, alternatives):
    payload = {"q": "Hello world.", "source": "en", "target": "fr", "alternatives": alternatives}
    response = post_json(one_beam_server, "/translate", payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    needed = int(alternatives) + 1
    assert f"alternatives {int(alternatives)} needs {needed} beams" in error, error
    assert "at most 1 beams (max_beams)" in error, error
    # the same from a form (LibreTranslate clients send forms)
    response = httpx.post(one_beam_server.url + "/translate", data={**payload, "alternatives": str(alternatives)},
                          timeout=30)
    assert response.status_code == 400 and "(max_beams)" in response.json()["error"]


def test_alternatives_within_max_beams_still_work(one_beam_server, server):
    response = post_json(one_beam_server, "/translate", {"q": "Hello world.", "source": "en", "target": "fr"})
    assert response.status_code == 200, response.text  # no alternatives: max_beams 1 is no obstacle
    # --max-beams 4 (the shared server): 3 alternatives need 4 beams, allowed
    response = post_json(server, "/translate", {"q": "Hello world.", "source": "en", "target": "fr",
                                                "alternatives": 3})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["alternatives"], list)
